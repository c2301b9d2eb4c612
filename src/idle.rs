//! [`IdleWorker`]: a worker thread as the idle stack sees it, and how it is
//! handed work or told to exit while it spins or sleeps.

use crate::sync::{AtomicBool, AtomicU8, Event, Ordering};

/// A worker thread's handle on the idle stack.
///
/// | `notified` | meaning                                   | set by                     |
/// |------------|-------------------------------------------|----------------------------|
/// | `NONE`     | on the idle stack, spinning or parked     | the thread, going idle     |
/// | `WORK`     | popped to take a queued job (counted in `waking`) | `State::dispatch`, `State::wake_next` |
/// | `WAKE`     | popped to exit if it can (close, resize)  | `Shared::close`, `State::resize` |
///
/// Whoever pops a thread off the stack sets `notified`, under the pool lock.
/// A thread that is `spinning` watches `notified` without the lock and needs
/// no [`Event`] notify; it clears `spinning` under the lock before it parks,
/// so a popper always knows whether a notify is needed. A parked thread
/// re-checks `notified` under the lock after every wake-up: a notify's
/// permit may outlive what it announced. `spinning` is set under
/// the lock too: by the thread going idle, or by a spinner handed work that
/// relays spinning to the parked thread on top of the stack, and then
/// notifies it: until it wakes, that notify stands in for a popper's.
///
/// The stack keeps the order in which threads went idle; a thread's
/// place in it never changes while it is idle, spinning or not.
pub(crate) struct IdleWorker {
    pub(crate) event: Event,
    // ORDERING: written under the pool lock with Release; read by the spinning
    // thread with Acquire outside it, and under the lock otherwise.
    pub(crate) notified: AtomicU8,
    // ORDERING: only accessed with the pool lock held; Relaxed suffices.
    pub(crate) spinning: AtomicBool,
}

pub(crate) const NONE: u8 = 0;
pub(crate) const WORK: u8 = 1;
pub(crate) const WAKE: u8 = 2;

impl IdleWorker {
    pub(crate) fn new() -> Self {
        Self {
            event: Event::new(),
            notified: AtomicU8::new(NONE),
            spinning: AtomicBool::new(false),
        }
    }

    /// Hands `why` over; returns whether the thread is parked and needs an
    /// [`Event`] notify (a spinning one sees `notified` by itself).
    pub(crate) fn hand(&self, why: u8) -> bool {
        self.notified.store(why, Ordering::Release);
        !self.is_spinning()
    }

    /// Hands `why` over and wakes the thread if it is parked.
    pub(crate) fn notify(&self, why: u8) {
        if self.hand(why) {
            self.event.notify();
        }
    }

    /// Whether it spins (under the pool lock).
    pub(crate) fn is_spinning(&self) -> bool {
        self.spinning.load(Ordering::Relaxed)
    }
}
