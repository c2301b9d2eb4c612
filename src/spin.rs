//! Idle threads that spin before they park: going idle on top of the
//! idle stack, the end of a spin, and the *relay* that keeps a core awake.
//!
//! The idle stack is kept in the order threads went idle, never
//! reordered: the next job always goes to the thread on top, the most
//! recently idle one, whether it spins or is parked (DESIGN semantic 9).
//! Up to [`MAX_SPINNERS`] idle threads spin, each for `Builder::idle_spin`,
//! before they park; a spinner handed a job while no other spins makes the
//! thread now on top spin in its place, so the core of the thread that
//! awaits the job is kept awake and its wake-up is cheap. The relayed
//! thread is below the one that took the job once that one is idle again,
//! so it never takes a job out of turn. All of it runs under the pool lock.

use std::time::Duration;

use crate::idle::{IdleWorker, NONE, WORK};
use crate::state::State;
use crate::sync::{Arc, Ordering};

/// How many idle threads of one pool may spin at once before parking. Two:
/// while one is handed a job and runs it, the other keeps a core awake for
/// the submitter's wake-up and catches the next job. On a virtual machine a
/// wake-up sent to a halted core costs ~15–20 µs; with two spinners a
/// one-at-a-time round trip stays near 5 µs (see README, Performance).
pub(crate) const MAX_SPINNERS: usize = 2;

/// How many idle threads may spin at once with a spin budget of `spin`:
/// none if it is zero.
pub(crate) fn max_spinners(spin: Duration) -> usize {
    if spin.is_zero() {
        0
    } else {
        MAX_SPINNERS
    }
}

impl State {
    /// Puts a worker on top of the idle stack: it is now the most recently
    /// idle thread, the next to take a job. It spins first if fewer than
    /// `max_spinners` do.
    pub(crate) fn go_idle(&mut self, worker: &Arc<IdleWorker>) {
        worker.notified.store(NONE, Ordering::Relaxed);
        let spin = self.spinners < self.max_spinners;
        worker.spinning.store(spin, Ordering::Relaxed);
        self.spinners += usize::from(spin);
        self.idle.push(Arc::clone(worker));
    }

    /// How many idle threads spin.
    pub(crate) fn spinning_idle(&self) -> usize {
        self.idle.iter().filter(|p| p.is_spinning()).count()
    }

    /// A thread's spin is over; still idle, it parks where it is in the
    /// stack. If it was handed work and no other thread spins, the thread
    /// now on top spins in its place, so the next hand-off (or the wake-up
    /// of whoever awaits this job) finds a core awake.
    pub(crate) fn stop_spinning(&mut self, worker: &Arc<IdleWorker>) {
        self.spinners -= 1;
        worker.spinning.store(false, Ordering::Relaxed);
        if worker.notified.load(Ordering::Relaxed) == WORK
            && self.spinners == 0
            && !self.closed
            && self.relays()
        {
            self.relay_spin();
        }
    }

    /// Whether a spinner handed work passes spinning on: with one core, a
    /// second spinner would only take turns with the first (loom's pools
    /// count one core but relay, so the models cover it).
    fn relays(&self) -> bool {
        cfg!(threadbridge_loom) || self.cores > 1
    }

    /// Makes the thread on top of the stack spin (it is parked: no other
    /// thread spins). It is notified at once, under
    /// the lock: unlike a hand-off of work, nothing waits for it, and this
    /// thread may park right after, which releases the lock without
    /// sending deferred notifies.
    fn relay_spin(&mut self) {
        if let Some(top) = self.idle.last() {
            top.spinning.store(true, Ordering::Relaxed);
            self.spinners += 1;
            top.event.notify();
        } else if self.threads == 1 && self.max_threads > 1 {
            // This is the pool's only thread: start the second spinner.
            self.reserve(1);
        }
    }
}
