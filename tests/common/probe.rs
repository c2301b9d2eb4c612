//! What a test sees of the value an adapter's job drives (`iter`'s
//! iterator, `Unblock`'s reader): how many calls it got, the gate a call
//! blocks on, and whether it was dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use threadbridge::Pool;

use super::{wait_stats, wait_until, Gate};

/// Shared between a test and the inner value it hands an adapter: the
/// value counts each call with [`call`](Probe::call), blocks on
/// [`gate`](Probe::gate) where its test says, and calls
/// [`mark_dropped`](Probe::mark_dropped) from its `Drop`.
#[derive(Clone, Default)]
pub struct Probe {
    calls: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
    /// What the inner value's blocking call waits on.
    pub gate: Arc<Gate>,
}

impl Probe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a call; returns its number (the first is 1).
    pub fn call(&self) -> usize {
        self.calls.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// How many calls the inner value got.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// For the inner value's `Drop`.
    pub fn mark_dropped(&self) {
        self.dropped.store(true, Ordering::SeqCst);
    }

    /// Whether the inner value was dropped.
    pub fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }

    /// For an adapter dropped while its job blocks in call number `n` on
    /// the gate: opens the gate, waits for that job to end and the inner
    /// value to be dropped, then asserts that no call followed (`msg` says
    /// what one would mean).
    pub fn assert_stops_after_call(&self, pool: &Pool, n: usize, msg: &str) {
        self.gate.open();
        wait_stats(pool, "the job ended", |s| s.running == 0);
        wait_until("the inner value dropped", || self.dropped());
        assert_eq!(self.calls(), n, "{msg}");
    }
}
