//! The one module through which every synchronization primitive passes.
//!
//! Three backends, picked at compile time, behind one API so call sites read
//! the same in every build:
//!
//! | build                     | locks          | [`Event`]     | `Arc`, atomics, threads |
//! |---------------------------|----------------|---------------|-------------------------|
//! | default                   | `parking_lot`  | `std::sync`   | `std`                   |
//! | `cfg(miri)`               | `std::sync`    | `std::sync`   | `std`                   |
//! | `cfg(threadbridge_loom)`  | `loom`         | `loom`        | `loom`                  |
//!
//! parking_lot trips Miri's strict provenance checks, so Miri gets std's
//! locks (as tokio does). loom needs its own types for everything it models.
//! Idle workers park on an [`Event`] built on std's futex-based primitives,
//! not on a parking_lot condvar: parking_lot gives every thread that ever
//! parks through it an entry in a global table that grows with them (and
//! never shrinks) — about 256 KiB for a 512-thread pool. Its mutex stays
//! for the pool lock, where it is measurably cheaper under a burst.
//!
//! Here too are the hand-offs built on them: a waker's ([`store_waker`],
//! and the guards [`wake`] and [`drop_quietly`], which keep a panicking
//! waker or `Drop` out of the pool), and an idle worker's
//! ([`IdleWorker`]: one word of news, watched while it spins, an
//! [`Event`] while it parks).
//!
//! The `Condvar` here waits on a `&mut MutexGuard` in every build (as
//! parking_lot does); std's and loom's guard-by-value API is wrapped once,
//! in `guarded`, for Miri, loom and [`Event`].

#![allow(dead_code)]

pub(crate) use imp::*;

use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;
use std::time::Instant;

/// The global pool's cell (never used inside a loom model: loom has no
/// statics).
pub(crate) use std::sync::OnceLock;

/// Stores `waker` in `slot` unless the one there already wakes the same
/// task: a waiter keeps only its latest waker, without a clone per poll.
/// Call it under the lock that guards the condition being waited for, and
/// have the side that changes the condition `take()` the slot under that
/// same lock (then wake it unlocked): no wake-up can fall between.
///
/// The clone (and the drop of a replaced waker) runs executor code under
/// that lock; the adapters' locks are their own, so this is theirs. Under
/// the pool's and a job's locks, use [`store_waker`] instead.
pub(crate) fn register_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// What [`store_waker`] did.
pub(crate) enum Store {
    /// The task's waker is in the slot. Drop this (a replaced waker, or a
    /// clone that was not needed) once the lock is released.
    Done(Option<Waker>),
    /// A clone of the waker is needed: make it with the lock released
    /// (cloning runs executor code), re-take the lock, re-check the
    /// condition, and call again with the clone in `fresh`.
    Clone,
}

/// [`register_waker`]'s rule without running executor code under the lock:
/// a waker's `clone` and `drop` are user code, which may panic, block or
/// call back into the pool, so they happen outside it (`fresh` is the
/// clone, made outside; the waker replaced goes out in [`Store::Done`]).
pub(crate) fn store_waker(
    slot: &mut Option<Waker>,
    waker: &Waker,
    fresh: &mut Option<Waker>,
) -> Store {
    if slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
        return Store::Done(fresh.take());
    }
    match fresh.take() {
        Some(new) => Store::Done(slot.replace(new)),
        None => Store::Clone,
    }
}

/// Wakes a task for the pool. A waker is the executor's code; if it
/// panics (an executor that is gone, say), the panic must not unwind into
/// the pool — a worker between two jobs, a submit, a shutdown — nor stop
/// the wake-ups after it. std's panic hook has already printed it.
/// (`fault.rs` lists every place the pool calls user code.)
pub(crate) fn wake(waker: Waker) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || waker.wake())) {
        drop_quietly(payload);
    }
}

/// Drops user data; a panicking `Drop` must not take a worker down.
pub(crate) fn drop_quietly<V>(value: V) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        // The panic's payload (a `&str` or `String`, almost always) is
        // dropped too; only one whose own `Drop` panics as well is leaked,
        // since dropping it again would panic again.
        if let Err(worse) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(worse);
        }
    }
}

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

/// Where an idle worker parks: a wake-up for one waiting thread, with a
/// sticky permit like [`std::thread::park`]'s token (but its own, so a job
/// that parks its thread cannot consume it, nor a stray `unpark` fake it).
///
/// [`wait`](Event::wait) releases the caller's pool lock before it parks,
/// so a [`notify`](Event::notify) may come between the release and the
/// park: the permit keeps it. A permit may also outlive the condition it
/// announced (a notify to a thread that was about to park anyway), so a
/// waiter re-checks its condition under the pool lock after every wake-up.
///
/// Built on std's locks (loom's under loom) through [`guarded`], whatever
/// backs the pool lock.
pub(crate) struct Event {
    permit: guarded::Mutex<bool>,
    cv: guarded::Condvar,
}

impl Event {
    pub(crate) fn new() -> Self {
        Self {
            permit: guarded::Mutex::new(false),
            cv: guarded::Condvar::new(),
        }
    }

    /// Releases `guard`'s lock, waits for the permit (until `deadline`, if
    /// one is given) and consumes it, then re-takes the lock. Returns
    /// `true` if the deadline passed first (no permit was consumed).
    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Option<Instant>) -> bool {
        unlocked(guard, || {
            let mut permit = self.permit.lock();
            let mut timed_out = false;
            loop {
                if std::mem::take(&mut *permit) {
                    return false;
                }
                if timed_out {
                    return true;
                }
                timed_out = match deadline {
                    None => {
                        self.cv.wait(&mut permit);
                        false
                    }
                    Some(deadline) => self.cv.wait_until(&mut permit, deadline),
                };
            }
        })
    }

    /// Grants the permit and wakes the waiter, if one waits.
    pub(crate) fn notify(&self) {
        *self.permit.lock() = true;
        self.cv.notify_one();
    }
}

#[cfg(not(threadbridge_loom))]
mod thread_imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread;
    pub(crate) use std::thread_local;
}

#[cfg(threadbridge_loom)]
mod thread_imp {
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    // loom's Arc cannot be coerced to `Arc<dyn Trait>`; reference counts
    // are not a protocol of ours, so std's Arc serves in every build.
    pub(crate) use loom::thread;
    pub(crate) use loom::thread_local;
    pub(crate) use std::sync::Arc;
}

#[cfg(not(any(miri, threadbridge_loom)))]
mod imp {
    pub(crate) use super::thread_imp::*;
    use std::time::Instant;

    pub(crate) use parking_lot::{Mutex, MutexGuard};

    /// Runs `f` with the guard's lock released, then re-takes it.
    pub(crate) fn unlocked<T, R>(guard: &mut MutexGuard<'_, T>, f: impl FnOnce() -> R) -> R {
        MutexGuard::unlocked(guard, f)
    }

    /// A condition variable used with [`Mutex`].
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }

        /// Waits until notified or `deadline`; returns `true` if it timed out.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: Instant,
        ) -> bool {
            self.0.wait_until(guard, deadline).timed_out()
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

/// The locks of Miri and loom builds, and [`Event`]'s in every build: std's
/// (loom's under loom), wrapped so that a [`Condvar`](guarded::Condvar)
/// waits on a `&mut MutexGuard` as parking_lot's does.
#[cfg(any(miri, threadbridge_loom))]
mod imp {
    pub(crate) use super::guarded::{unlocked, Condvar, Mutex, MutexGuard};
    pub(crate) use super::thread_imp::*;
}

/// std's locks (loom's under loom) with parking_lot's guard-in-place API.
mod guarded {
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    #[cfg(not(threadbridge_loom))]
    use std::sync as backend;

    #[cfg(threadbridge_loom)]
    use loom::sync as backend;

    /// A mutual-exclusion lock; poisoning is ignored (no user code runs
    /// while one of the crate's locks is held).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(backend::Mutex<T>);

    /// A guard that a [`Condvar`] can wait on in place.
    pub(crate) struct MutexGuard<'a, T>(Option<backend::MutexGuard<'a, T>>, &'a backend::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(backend::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(
                Some(self.0.lock().unwrap_or_else(|e| e.into_inner())),
                &self.0,
            )
        }

        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// Runs `f` with the guard's lock released, then re-takes it.
    pub(crate) fn unlocked<T, R>(guard: &mut MutexGuard<'_, T>, f: impl FnOnce() -> R) -> R {
        drop(guard.0.take());
        let result = f();
        guard.0 = Some(guard.1.lock().unwrap_or_else(|e| e.into_inner()));
        result
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard is present outside a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard is present outside a wait")
        }
    }

    /// A condition variable used with [`Mutex`].
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(backend::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(backend::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard is present");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
        }

        /// Waits until notified or `deadline`; returns `true` if it timed out.
        #[cfg(not(threadbridge_loom))]
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: Instant,
        ) -> bool {
            let inner = guard.0.take().expect("guard is present");
            let timeout = deadline.saturating_duration_since(Instant::now());
            let (inner, result) = self
                .0
                .wait_timeout(inner, timeout)
                .unwrap_or_else(|e| e.into_inner());
            guard.0 = Some(inner);
            result.timed_out()
        }

        /// loom has no clock, so time is the model's to control: a deadline
        /// already past (a zero keep-alive) releases the lock, re-takes it
        /// (a point where loom may run other threads) and reports a timeout;
        /// any other deadline is never reached (an untimed wait).
        #[cfg(threadbridge_loom)]
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: Instant,
        ) -> bool {
            if deadline > Instant::now() {
                self.wait(guard);
                return false;
            }
            drop(guard.0.take());
            guard.0 = Some(guard.1.lock().unwrap_or_else(|e| e.into_inner()));
            true
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(all(test, not(threadbridge_loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_notify_before_the_wait_is_kept_and_used_once() {
        let (lock, event) = (Mutex::new(()), Event::new());
        event.notify();
        event.notify(); // permits do not add up
        let mut guard = lock.lock();
        let far = Instant::now() + Duration::from_secs(60);
        assert!(!event.wait(&mut guard, Some(far)), "the permit was lost");
        let soon = Instant::now() + Duration::from_millis(10);
        assert!(event.wait(&mut guard, Some(soon)), "the permit was used up");
    }

    #[test]
    fn a_notify_from_another_thread_ends_the_wait() {
        let shared = Arc::new((Mutex::new(false), Event::new()));
        let notifier = thread::spawn({
            let shared = Arc::clone(&shared);
            move || {
                *shared.0.lock() = true;
                shared.1.notify();
            }
        });
        let mut guard = shared.0.lock();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !*guard {
            assert!(!shared.1.wait(&mut guard, Some(deadline)), "never notified");
        }
        drop(guard);
        notifier.join().unwrap();
    }
}
