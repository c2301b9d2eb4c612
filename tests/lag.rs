//! `lag_probe`: an executor blocked by a call that was never offloaded
//! shows as lag about the size of the block, and as `overdue` from another
//! thread while the block goes on; the probe ends once its last monitor is
//! dropped. Under tokio (current-thread and multi-thread), smol and
//! `futures`' executor. Lags are only bounded from below.
//!
//! Not under Miri: these are real-time measurements of blocked threads
//! (Miri runs ~100x slower); the probe's code has no unsafe of its own.
#![cfg(not(miri))]

mod common;

use std::time::{Duration, Instant};

use common::*;
use threadbridge::{lag_probe, LagMonitor};

const EVERY: Duration = Duration::from_millis(5);
const BLOCK: Duration = Duration::from_millis(200);

/// Lets the probe tick a few times, then blocks this executor thread for
/// `BLOCK` while another thread watches `overdue`, then lets it tick again.
/// Returns the largest `overdue` the watcher saw during the block.
async fn stall_while_watched(monitor: &LagMonitor) -> Duration {
    wait_for_ticks(monitor, 3).await;
    let watcher = {
        let monitor = monitor.clone();
        std::thread::spawn(move || {
            let until = Instant::now() + DEADLINE;
            let mut seen = Duration::ZERO;
            while Instant::now() < until && seen < BLOCK / 2 {
                seen = seen.max(monitor.overdue());
                std::thread::sleep(Duration::from_millis(1));
            }
            seen
        })
    };
    std::thread::sleep(BLOCK); // the stall: a blocking call on the executor thread
    let seen = watcher.join().unwrap();
    let ticks = monitor.lag().count();
    wait_for_ticks(monitor, ticks + 2).await;
    seen
}

/// Awaits (by yielding to the executor) until the probe has ticked `n` times.
async fn wait_for_ticks(monitor: &LagMonitor, n: u64) {
    let until = Instant::now() + DEADLINE;
    while monitor.lag().count() < n {
        assert!(Instant::now() < until, "the probe never ticked {n} times");
        yield_for(Duration::from_millis(1)).await;
    }
}

/// Yields to the executor for about `d`, without a runtime timer: a
/// blocking job on the global pool stands in for one.
async fn yield_for(d: Duration) {
    threadbridge::run(move || std::thread::sleep(d)).await;
}

fn check(ex: Executor) {
    let (probe, monitor) = lag_probe(EVERY);
    let (seen, lag) = ex.block_on(async move {
        let body = async move {
            let seen = stall_while_watched(&monitor).await;
            let lag = monitor.lag();
            // The last monitor: the probe ends, and so does the join.
            drop(monitor);
            (seen, lag)
        };
        let ((), read) = futures::join!(probe, body);
        read
    });
    assert!(
        lag.max() >= BLOCK * 3 / 4,
        "a {BLOCK:?} block shows as lag: {lag:?}"
    );
    assert!(seen >= BLOCK / 2, "overdue seen during the block: {seen:?}");
}

#[test]
fn a_blocked_executor_shows_as_lag_and_overdue_under_every_executor() {
    for ex in [
        Executor::TokioCurrentThread,
        Executor::SmolBlockOn,
        Executor::FuturesBlockOn,
    ] {
        guard(move || check(ex));
    }
}

#[test]
fn under_tokio_multi_thread_the_probe_watches_the_worker_it_runs_on() {
    guard(|| {
        let rt = tokio_multi_thread();
        let (probe, monitor) = lag_probe(EVERY);
        let probe = rt.spawn(probe);
        let m = monitor.clone();
        rt.block_on(async move {
            let until = Instant::now() + DEADLINE;
            while m.lag().count() < 3 {
                assert!(Instant::now() < until, "the probe never ticked");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        drop(monitor);
        rt.block_on(async {
            tokio::time::timeout(DEADLINE, probe)
                .await
                .expect("the probe ends once its last monitor is dropped")
                .unwrap();
        });
    });
}

#[test]
fn the_probe_ends_when_its_last_monitor_is_dropped() {
    on_executors(TWO, |_| async {
        let (probe, monitor) = lag_probe(Duration::from_secs(3600));
        let other = monitor.clone();
        let ended = async {
            probe.await;
            "ended"
        };
        let dropper = async move {
            yield_for(Duration::from_millis(5)).await;
            drop(monitor);
            yield_for(Duration::from_millis(5)).await;
            assert_eq!(
                other.overdue(),
                Duration::ZERO,
                "on time: an hour is not due"
            );
            drop(other);
        };
        let (ended, ()) = futures::join!(ended, dropper);
        assert_eq!(ended, "ended");
    });
}

#[test]
fn overdue_is_zero_before_the_first_poll() {
    let (probe, monitor) = lag_probe(EVERY);
    std::thread::sleep(EVERY * 2);
    assert_eq!(monitor.overdue(), Duration::ZERO);
    assert_eq!(monitor.lag().count(), 0);
    drop(probe);
    assert_eq!(monitor.overdue(), Duration::ZERO);
}

#[test]
fn a_zero_period_panics_naming_it() {
    let msg = expect_panic("lag_probe(ZERO)", || lag_probe(Duration::ZERO));
    assert!(msg.contains("every"), "{msg}");
}
