//! Wakers that count, manual polling, and the counting executor
//! [`block_on_counting`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use super::DEADLINE;

/// A waker that counts its wake-ups.
#[derive(Default)]
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(self.clone())
    }

    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` once with `waker`.
pub fn poll_with<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    let mut cx = Context::from_waker(waker);
    fut.poll(&mut cx)
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_noop<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    poll_with(fut, futures::task::noop_waker_ref())
}

/// Live counters of [`block_on_counting`]: readable from other threads while
/// the executor runs.
#[derive(Clone, Default)]
pub struct Counts {
    polls: Arc<AtomicUsize>,
    wakes: Arc<AtomicUsize>,
}

impl Counts {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times the future was polled.
    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    /// How many times its waker was woken.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Counts {{ polls: {}, wakes: {} }}",
            self.polls(),
            self.wakes()
        )
    }
}

struct ParkWaker {
    thread: Thread,
    notified: AtomicBool,
    wakes: Arc<AtomicUsize>,
}

impl Wake for ParkWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.notified.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A minimal `block_on` that polls only after a wake-up and counts both.
/// Because it never polls without a wake, `polls <= wakes + 1` always: a
/// future that spins (wakes itself while pending) shows up as many wakes.
/// Panics if the future stays pending without a wake for [`DEADLINE`]
/// (a lost wake-up).
pub fn block_on_counting<F: Future>(counts: &Counts, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let park = Arc::new(ParkWaker {
        thread: thread::current(),
        notified: AtomicBool::new(false),
        wakes: counts.wakes.clone(),
    });
    let waker = Waker::from(park.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        counts.polls.fetch_add(1, Ordering::SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let deadline = Instant::now() + DEADLINE;
        while !park.notified.swap(false, Ordering::SeqCst) {
            let now = Instant::now();
            assert!(
                now < deadline,
                "counting executor: future pending with no wake-up for {DEADLINE:?} \
                 (lost wake-up); {counts:?}"
            );
            thread::park_timeout(deadline - now);
        }
    }
}
