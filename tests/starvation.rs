//! `Builder::on_starvation`: one call per episode, for the pool and for
//! each of its limiters, off the workers and outside every lock, with
//! `Stats::starved` counting; nothing when nothing starves; a hook that
//! panics stays installed; the detector never holds a pool open. Under
//! tokio and smol. Waits are on events, with deadlines.
//!
//! Not under Miri: episodes are defined in real time.
#![cfg(not(miri))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use threadbridge::{Pool, Starvation};

const AFTER: Duration = Duration::from_millis(30);

/// tokio (both flavours), smol and `futures`' executor.
const FOUR: &[Executor] = &[
    Executor::TokioCurrentThread,
    Executor::TokioMultiThread,
    Executor::SmolBlockOn,
    Executor::FuturesBlockOn,
];

type Seen = Arc<Mutex<Vec<(Starvation, Option<String>)>>>;

/// A pool of `threads` whose detector records every call (and the name of
/// the thread it ran on).
fn watched(threads: usize) -> (Pool, Seen) {
    watched_after(threads, AFTER)
}

fn watched_after(threads: usize, after: Duration) -> (Pool, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let pool = Pool::builder()
        .max_threads(threads)
        .thread_name(|i| format!("worker-{i}"))
        .on_starvation(after, move |starvation| {
            let thread = std::thread::current().name().map(str::to_owned);
            s.lock().unwrap().push((starvation.clone(), thread));
        })
        .build()
        .unwrap();
    (pool, seen)
}

fn calls(seen: &Seen) -> usize {
    seen.lock().unwrap().len()
}

#[test]
fn a_pool_whose_threads_are_all_held_starves_once_per_episode() {
    on_executors(FOUR, |_| async {
        let (pool, seen) = watched(2);
        let gate = Gate::new();
        let held = occupy(&pool, 2, &gate);
        let queued = pool.run(|| 5);
        wait_until("the starvation hook was called", || calls(&seen) == 1);
        // Still starving: the same episode, no second call.
        std::thread::sleep(AFTER * 3);
        assert_eq!(calls(&seen), 1, "one call per episode");
        let (first, thread) = seen.lock().unwrap()[0].clone();
        assert!(first.limiter.is_none());
        assert_eq!(
            first.stats.starved, 1,
            "the snapshot counts its own episode"
        );
        assert_eq!((first.stats.running, first.stats.queued), (2, 1));
        assert!(first.oldest_wait >= AFTER, "{:?}", first.oldest_wait);
        let thread = thread.unwrap_or_default();
        assert!(
            !thread.starts_with("worker-"),
            "never on a worker: {thread}"
        );
        gate.open();
        futures::future::join_all(held).await;
        assert_eq!(queued.await, 5);
        assert_eq!(pool.stats().starved, 1);
        // A new episode after the first ended.
        let gate = Gate::new();
        let held = occupy(&pool, 2, &gate);
        let queued = pool.run(|| 6);
        wait_until("a second episode", || calls(&seen) == 2);
        gate.open();
        futures::future::join_all(held).await;
        assert_eq!(queued.await, 6);
        assert_eq!(pool.stats().starved, 2);
        assert!(pool.shutdown_timeout(DEADLINE));
    });
}

#[test]
fn a_limiter_whose_tokens_are_all_held_starves_while_the_pool_does_not() {
    on_executors(TWO, |_| async {
        let (pool, seen) = watched(8);
        let limiter = pool.limiter(2);
        let gate = Gate::new();
        let held: Vec<_> = (0..2).map(|_| limiter.run(gate.waiter())).collect();
        let waiting = limiter.run(|| 7);
        wait_until("the limiter's starvation was reported", || {
            calls(&seen) == 1
        });
        let (starvation, _) = seen.lock().unwrap()[0].clone();
        let lim = starvation
            .limiter
            .expect("the limiter starves, not the pool");
        assert_eq!((lim.limit, lim.running, lim.waiting), (2, 2, 1));
        assert!(starvation.oldest_wait >= AFTER);
        assert!(starvation.stats.idle_threads + starvation.stats.threads <= 8);
        gate.open();
        futures::future::join_all(held).await;
        assert_eq!(waiting.await, 7);
        assert_eq!(pool.stats().starved, 1);
    });
}

#[test]
fn a_busy_pool_that_keeps_finishing_jobs_does_not_starve() {
    guard(|| {
        // A queue that drains steadily: a job finishes every 2 ms, a
        // hundred times within `after`.
        let after = Duration::from_millis(200);
        let (pool, seen) = watched_after(1, after);
        let runs: Vec<_> = (0..40)
            .map(|_| pool.run(|| std::thread::sleep(Duration::from_millis(2))))
            .collect();
        for run in runs {
            block_on(run);
        }
        std::thread::sleep(after);
        assert_eq!(calls(&seen), 0, "{:?}", seen.lock().unwrap());
        assert_eq!(pool.stats().starved, 0);
    });
}

#[test]
fn a_hook_that_panics_stays_installed() {
    guard(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let pool = Pool::builder()
            .max_threads(1)
            .on_starvation(AFTER, move |_| {
                c.fetch_add(1, SeqCst);
                panic!("a hostile starvation hook");
            })
            .build()
            .unwrap();
        for episode in 1..=2 {
            let held = HeldThread::new(&pool);
            let queued = pool.run(|| ());
            wait_until("the hook was called", || calls.load(SeqCst) == episode);
            block_on(held.release());
            block_on(queued);
        }
        assert_eq!(pool.stats().starved, 2);
        assert!(
            pool.shutdown_timeout(DEADLINE),
            "the detector never holds a pool open"
        );
    });
}

#[test]
fn a_dropped_pool_with_a_detector_shuts_down() {
    guard(|| {
        let (pool, _seen) = watched(1);
        let held = HeldThread::new(&pool);
        let queued = pool.run(|| ());
        std::thread::sleep(AFTER / 2);
        block_on(held.release());
        block_on(queued);
        assert!(pool.shutdown_timeout(DEADLINE));
        assert_eq!(pool.stats().threads, 0);
    });
}

#[test]
fn a_zero_after_panics_naming_it() {
    let msg = expect_panic("on_starvation(ZERO)", || {
        Pool::builder().on_starvation(Duration::ZERO, |_| {})
    });
    assert!(msg.contains("after"), "{msg}");
}
