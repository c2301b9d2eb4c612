//! The live watches, and the polling threads' slots the scan reads.

use std::panic::Location;
#[cfg(not(threadbridge_loom))]
use std::sync::OnceLock;
use std::sync::Weak;
use std::time::Duration;

use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};

use super::slot::Slot;

/// A slow poll of a [`watch`](crate::watch)ed future, as
/// [`on_slow_poll`](crate::on_slow_poll)'s hook sees it.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct SlowPoll {
    /// The name given with [`Watched::name`](crate::Watched::name), if any.
    pub name: Option<&'static str>,
    /// Where [`watch`](crate::watch) was called.
    pub location: &'static Location<'static>,
    /// The name of the thread that polls (the executor's worker), if it
    /// has one.
    pub thread: Option<String>,
    /// How long the poll has run (`finished: false`), or ran.
    pub elapsed: Duration,
    /// `false` while the poll is still running, `true` once it returned.
    pub finished: bool,
}

pub(super) struct WatchInner {
    pub(super) threshold_ns: u64,
    pub(super) hook: Box<dyn Fn(&SlowPoll) + Send + Sync>,
    /// The hook's panic was reported.
    pub(super) reported: AtomicBool,
    pub(super) state: Mutex<WatchState>,
    /// Signalled when a call of the hook ends.
    pub(super) idle: Condvar,
}

pub(super) struct WatchState {
    pub(super) alive: bool,
    pub(super) calling: bool,
    /// Polls reported while running, as (slot, seq): not reported running
    /// again. Pruned as they end.
    pub(super) seen: Vec<(usize, u64)>,
}

impl WatchInner {
    /// Whether the running poll `(slot, seq)` is new to this watch (and
    /// marks it seen).
    pub(super) fn first_sight(&self, key: (usize, u64)) -> bool {
        let mut st = self.state.lock();
        if !st.alive || st.seen.contains(&key) {
            return false;
        }
        st.seen.push(key);
        true
    }

    /// The poll `key` ended: forget it.
    pub(super) fn forget(&self, key: (usize, u64)) {
        self.state.lock().seen.retain(|k| *k != key);
    }
}

pub(super) struct Registry {
    pub(super) watches: Mutex<Vec<Arc<WatchInner>>>,
    /// How many watches live: a poll reads no clock while it is 0.
    pub(super) live: AtomicUsize,
    /// The least threshold of the live watches (`u64::MAX` with none): a
    /// poll shorter than it takes no lock.
    pub(super) least: AtomicU64,
    /// The scanner is scheduled on the timer.
    pub(super) scanning: AtomicBool,
    pub(super) slots: Mutex<Vec<Weak<Slot>>>,
    pub(super) scanner: std::sync::Arc<Scanner>,
}

pub(super) fn new_registry() -> Registry {
    Registry {
        watches: Mutex::new(Vec::new()),
        live: AtomicUsize::new(0),
        least: AtomicU64::new(u64::MAX),
        scanning: AtomicBool::new(false),
        slots: Mutex::new(Vec::new()),
        scanner: std::sync::Arc::new(Scanner),
    }
}

#[cfg(not(threadbridge_loom))]
pub(super) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(new_registry)
}

// Under loom, one registry per execution of a model.
#[cfg(threadbridge_loom)]
loom::lazy_static! {
    static ref REGISTRY: Registry = new_registry();
}

#[cfg(threadbridge_loom)]
pub(super) fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    pub(super) fn set_least(&self, watches: &[Arc<WatchInner>]) {
        let least = watches
            .iter()
            .map(|w| w.threshold_ns)
            .min()
            .unwrap_or(u64::MAX);
        // ORDERING: a hint for the fast path; reports re-check under locks.
        self.least.store(least, Ordering::Relaxed);
    }
}

/// The timer's side of the watches (its `Due` is in `report.rs`).
pub(super) struct Scanner;
