//! Waiting for an event: polling with a short sleep and a generous
//! deadline, never asserting timing.

use std::thread;
use std::time::{Duration, Instant};

use threadbridge::{Pool, Stats};

use super::DEADLINE;

/// Polls `cond` every millisecond until it holds; panics naming `what`
/// after [`DEADLINE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for: {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Polls `pool.stats()` until `pred` holds and returns that snapshot; panics
/// with the last snapshot after [`DEADLINE`].
pub fn wait_stats(pool: &Pool, what: &str, mut pred: impl FnMut(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stats = pool.stats();
        if pred(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for stats: {what}; last: {stats:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Checks that `cond` keeps holding for `d` (a negative check: "nothing
/// else starts"). It can only miss a bug, never fail a correct library.
pub fn assert_stays(d: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + d;
    loop {
        assert!(cond(), "expected to stay true but did not: {what}");
        if Instant::now() >= end {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// A short settle period for [`assert_stays`].
pub const SETTLE: Duration = Duration::from_millis(100);
