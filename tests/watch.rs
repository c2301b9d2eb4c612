//! `watch` and `on_slow_poll`: a poll that blocks its thread past the
//! threshold is reported while it blocks and again when it returns, named
//! by its `watch` call site, its name and its thread; fast polls, the outer
//! poll around a reported inner one, and watches already dropped report
//! nothing. Under tokio (multi-thread: the worker is named), smol and
//! `futures`' executor.
//!
//! Watches are process-wide, so each test names its futures and its hook
//! keeps only the reports of its own names.
#![cfg(not(miri))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use threadbridge::{on_slow_poll, watch, SlowPoll, SlowPollWatch};

const THRESHOLD: Duration = Duration::from_millis(40);
const BLOCK: Duration = Duration::from_millis(150);

/// What a hook saw: each report, and whether the blocking poll had
/// finished when it came.
type Seen = Arc<Mutex<Vec<(SlowPoll, bool)>>>;

fn watching(prefix: &'static str, done: Arc<AtomicBool>) -> (SlowPollWatch, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let watch = on_slow_poll(THRESHOLD, move |report| {
        if report.name.is_some_and(|n| n.starts_with(prefix)) {
            s.lock().unwrap().push((report.clone(), done.load(SeqCst)));
        }
    });
    (watch, seen)
}

/// A future that blocks its thread for `BLOCK` in one poll, then sets `done`.
async fn blocks(done: Arc<AtomicBool>) -> &'static str {
    std::thread::sleep(BLOCK);
    done.store(true, SeqCst);
    "blocked"
}

fn check_on(ex: Executor, expect_thread: Option<&'static str>) {
    let done = Arc::new(AtomicBool::new(false));
    let (watch_handle, seen) = watching("culprit", done.clone());
    let d = done.clone();
    let line = line!() + 1;
    let culprit = watch(blocks(d)).name("culprit");
    assert_eq!(ex.block_on(culprit), "blocked");
    wait_until("the finished report", || seen.lock().unwrap().len() >= 2);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one report running, one finished: {seen:?}");
    // Made while the poll still blocked: its elapsed is short of the
    // block. (When the hook runs is the hook thread's business: a busy one,
    // say printing another test's panics, may run it after the poll ends.)
    let (running, _) = &seen[0];
    assert!(
        !running.finished && running.elapsed < BLOCK,
        "reported while it still blocked: {seen:?}"
    );
    assert!(running.elapsed >= THRESHOLD);
    let (finished, _) = &seen[1];
    assert!(
        finished.finished && finished.elapsed >= BLOCK,
        "{finished:?}"
    );
    for (report, _) in &seen {
        assert_eq!(report.name, Some("culprit"));
        assert!(
            report.location.file().ends_with("watch.rs"),
            "{}",
            report.location
        );
        assert_eq!(report.location.line(), line, "the watch call's line");
        if let Some(thread) = expect_thread {
            let name = report.thread.as_deref().unwrap_or_default();
            assert!(name.starts_with(thread), "polled on {name:?}");
        }
    }
    drop(watch_handle);
}

#[test]
fn a_blocking_poll_is_named_while_it_blocks_and_when_it_returns() {
    guard(|| check_on(Executor::FuturesBlockOn, None));
    guard(|| check_on(Executor::SmolBlockOn, None));
    guard(|| check_on(Executor::TokioMultiThread, Some("tokio-rt-worker")));
}

#[test]
fn fast_polls_and_dropped_watches_report_nothing() {
    guard(|| {
        let done = Arc::new(AtomicBool::new(false));
        let (watch_handle, seen) = watching("fast", done.clone());
        for _ in 0..100 {
            block_on(watch(async { 1 }).name("fast"));
        }
        drop(watch_handle);
        // Dropped: this one blocks, and nobody hears of it.
        block_on(watch(blocks(done)).name("fast-after-drop"));
        std::thread::sleep(THRESHOLD);
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
    });
}

#[test]
fn only_the_inner_of_nested_watched_polls_is_reported() {
    guard(|| {
        let done = Arc::new(AtomicBool::new(false));
        let (watch_handle, seen) = watching("nest", done.clone());
        let inner = watch(blocks(done)).name("nest-inner");
        // The outer's poll polls the inner, on the same thread.
        let outer = watch(inner).name("nest-outer");
        assert_eq!(block_on(outer), "blocked");
        wait_until("the inner's finished report", || {
            seen.lock().unwrap().iter().any(|(r, _)| r.finished)
        });
        std::thread::sleep(THRESHOLD);
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.iter().all(|(r, _)| r.name == Some("nest-inner")),
            "the outer poll is not reported again: {seen:?}"
        );
        assert_eq!(seen.len(), 2, "{seen:?}");
        drop(watch_handle);
    });
}

#[test]
fn a_hook_that_panics_stays_installed() {
    guard(|| {
        let calls = Arc::new(Mutex::new(0));
        let c = calls.clone();
        let watch_handle = on_slow_poll(THRESHOLD, move |report| {
            if report.name == Some("hostile") && report.finished {
                *c.lock().unwrap() += 1;
                panic!("a hostile slow-poll hook");
            }
        });
        for round in 1..=2 {
            let done = Arc::new(AtomicBool::new(false));
            block_on(watch(blocks(done)).name("hostile"));
            wait_until("the hook was called", || *calls.lock().unwrap() == round);
        }
        drop(watch_handle);
    });
}

#[test]
fn a_zero_threshold_panics_naming_it() {
    let msg = expect_panic("on_slow_poll(ZERO)", || {
        on_slow_poll(Duration::ZERO, |_| {})
    });
    assert!(msg.contains("threshold"), "{msg}");
}
