//! Shared helpers for the integration tests.
//!
//! - [`with_timeout`] / [`guard`]: every test body runs under a deadline so a
//!   bug fails the test instead of hanging CI.
//! - [`Executor`] and [`on_every_executor`]: the executor matrix (tokio
//!   current-thread and multi-thread, smol, async-executor, `futures`, and a
//!   hand-written [`block_on_counting`] that counts polls and wake-ups).
//! - [`Gate`], [`Counter`]: hold blocking jobs and release them
//!   deterministically; every wait has a deadline.
//! - [`wait_until`], [`wait_stats`], [`assert_stays`]: wait for an event
//!   (polling with a short sleep and a generous deadline), never assert timing.
//! - [`SLOWDOWN`], [`sized`]: under Miri every deadline stretches and job
//!   and loop counts shrink (`.ci/miri`).

#![allow(dead_code)]

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use threadbridge::{Pool, Run, Stats};

/// How many times slower than a native debug build the suite may run:
/// Miri interprets every step (100–1000x slower), so under `cfg(miri)`
/// every deadline stretches 20x. Sizes shrink separately, see [`sized`].
pub const SLOWDOWN: u64 = if cfg!(miri) { 20 } else { 1 };

/// How long any single wait may take before the test is declared hung.
/// Generous: the suite runs on 2 cores in debug mode, tests in parallel.
pub const DEADLINE: Duration = Duration::from_secs(20 * SLOWDOWN);

/// Default per-test deadline in seconds for [`with_timeout`].
pub const TEST_SECS: u64 = 40 * SLOWDOWN;

/// `full` natively, `miri` under Miri: job and loop counts shrink so Miri
/// walks the same code paths (every job stage, panics, limiters, shutdown,
/// nesting) in seconds instead of hours.
pub const fn sized<T: Copy>(full: T, miri: T) -> T {
    if cfg!(miri) {
        miri
    } else {
        full
    }
}

// ---------------------------------------------------------------------------
// Timeout guard
// ---------------------------------------------------------------------------

/// Runs `f` on its own thread and returns its result; panics with a clear
/// message if it does not finish within `secs` seconds. A panic inside `f`
/// is resumed in the caller with its original payload.
///
/// On a timeout the body's thread is leaked (it may be stuck for good); the
/// test fails instead of hanging.
pub fn with_timeout<R, F>(secs: u64, f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let name = thread::current().name().unwrap_or("test").to_owned();
    let body = thread::Builder::new()
        .name(format!("{name} (body)"))
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .expect("could not start the test body's thread");
    let result = rx.recv_timeout(Duration::from_secs(secs));
    if result.is_ok() {
        // The body has sent its result: let its thread end too, so no
        // thread of a finished test lingers (Miri fails a test binary
        // whose threads outlive `main`).
        let _ = body.join();
    }
    match result {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(RecvTimeoutError::Timeout) => panic!(
            "TIMEOUT: test `{name}` did not finish within {secs} s: \
             a hang (deadlock, lost wake-up or a job that never ran)"
        ),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("test body thread of `{name}` vanished without a result")
        }
    }
}

/// [`with_timeout`] with the default deadline.
pub fn guard<R, F>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    with_timeout(TEST_SECS, f)
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs `f`, expects it to panic, and returns the panic's message.
pub fn expect_panic<R>(what: &str, f: impl FnOnce() -> R) -> String {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic from {what}, but it returned normally"),
        Err(payload) => panic_message(&*payload),
    }
}

// ---------------------------------------------------------------------------
// Gates and counters
// ---------------------------------------------------------------------------

/// A one-shot latch: jobs `wait()` until the test `open()`s it.
/// `wait` gives up (panics) after [`DEADLINE`], so a job can never hold a
/// worker for ever.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    pub fn is_open(&self) -> bool {
        *self.open.lock().unwrap()
    }

    /// Blocks until the gate is open; panics after [`DEADLINE`].
    pub fn wait(&self) {
        assert!(
            self.wait_timeout(DEADLINE),
            "gate was never opened within {DEADLINE:?}"
        );
    }

    /// Blocks until the gate is open or `d` passes; `true` if open.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut open = self.open.lock().unwrap();
        while !*open {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            open = self.cv.wait_timeout(open, deadline - now).unwrap().0;
        }
        true
    }
}

/// A counter others can wait on.
#[derive(Default)]
pub struct Counter {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Counter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds one; returns the new value.
    pub fn incr(&self) -> usize {
        let mut n = self.n.lock().unwrap();
        *n += 1;
        self.cv.notify_all();
        *n
    }

    pub fn get(&self) -> usize {
        *self.n.lock().unwrap()
    }

    /// Blocks until the count is at least `target`; panics after [`DEADLINE`].
    pub fn wait_for(&self, target: usize) {
        let deadline = Instant::now() + DEADLINE;
        let mut n = self.n.lock().unwrap();
        while *n < target {
            let now = Instant::now();
            assert!(
                now < deadline,
                "counter stuck at {} waiting for {target} (after {DEADLINE:?})",
                *n
            );
            n = self.cv.wait_timeout(n, deadline - now).unwrap().0;
        }
    }
}

/// Tracks how many jobs run at once and the peak.
#[derive(Default)]
pub struct Concurrency {
    now: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicUsize,
}

impl Concurrency {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Call at the start of a job. `now` counts it first, so a test that
    /// sees `started` reach n also sees the n-th job in `now` (the other
    /// order left a window, which Miri once hit in `limiter.rs`'s
    /// `set_limit_down_takes_effect_as_jobs_finish`).
    pub fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    /// Call at the end of a job.
    pub fn exit(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn now(&self) -> usize {
        self.now.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------
// Waiting on events
// ---------------------------------------------------------------------------

/// Polls `cond` every millisecond until it holds; panics naming `what`
/// after [`DEADLINE`].
/// Submits `n` jobs to `pool` that each hold their thread until `gate` opens.
pub fn held(pool: &Pool, n: usize, gate: &Arc<Gate>) -> Vec<Run<()>> {
    (0..n)
        .map(|_| {
            let gate = Arc::clone(gate);
            pool.run(move || gate.wait())
        })
        .collect()
}

/// Occupies the only thread of a one-thread `pool` until `gate` opens;
/// returns once the job runs.
pub fn hold_only_thread(pool: &Pool, gate: &Arc<Gate>) -> Run<()> {
    let holder = held(pool, 1, gate).remove(0);
    wait_stats(pool, "the only thread busy", |s| s.running == 1);
    holder
}

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

// ---------------------------------------------------------------------------
// Wakers and manual polling
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The counting executor
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// The executor matrix
// ---------------------------------------------------------------------------

/// smol's `block_on`, which also drives async-io's reactor. Miri cannot
/// create that reactor (its epoll set-up calls `timerfd_create`, which Miri
/// does not support), so under Miri this is futures-lite's `block_on`, the
/// same park-and-poll loop without the reactor (the suite does no I/O).
pub fn smol_block_on<F: Future>(fut: F) -> F::Output {
    if cfg!(miri) {
        smol::future::block_on(fut)
    } else {
        smol::block_on(fut)
    }
}

/// Every executor the suite runs async bodies under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// `tokio` current-thread runtime, body run by `block_on`.
    TokioCurrentThread,
    /// `tokio` multi-thread runtime with 2 workers, body spawned on it.
    TokioMultiThread,
    /// `smol::block_on`.
    SmolBlockOn,
    /// An `async_executor::Executor` run by two threads, body spawned on it.
    AsyncExecutorTwoThreads,
    /// `futures::executor::block_on`.
    FuturesBlockOn,
    /// [`block_on_counting`].
    Counting,
}

/// The matrix. Under Miri [`Executor::SmolBlockOn`] is left out: it is
/// the reactor-driving `smol::block_on` Miri cannot run (see
/// [`smol_block_on`]), and its stand-in would only repeat `FuturesBlockOn`.
pub const EXECUTORS: &[Executor] = if cfg!(miri) {
    &[
        Executor::TokioCurrentThread,
        Executor::TokioMultiThread,
        Executor::AsyncExecutorTwoThreads,
        Executor::FuturesBlockOn,
        Executor::Counting,
    ]
} else {
    &[
        Executor::TokioCurrentThread,
        Executor::TokioMultiThread,
        Executor::SmolBlockOn,
        Executor::AsyncExecutorTwoThreads,
        Executor::FuturesBlockOn,
        Executor::Counting,
    ]
};

impl Executor {
    /// Runs `fut` to completion on this executor, on the calling thread
    /// (plus the executor's own threads). Panics inside `fut` resume here.
    pub fn block_on<Fut>(self, fut: Fut) -> Fut::Output
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        match self {
            Executor::TokioCurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio current-thread runtime")
                .block_on(fut),
            Executor::TokioMultiThread => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio multi-thread runtime");
                let task = rt.spawn(fut);
                match rt.block_on(task) {
                    Ok(out) => out,
                    Err(err) if err.is_panic() => panic::resume_unwind(err.into_panic()),
                    Err(err) => panic!("tokio task failed: {err}"),
                }
            }
            Executor::SmolBlockOn => smol::block_on(fut),
            Executor::AsyncExecutorTwoThreads => {
                let ex = Arc::new(async_executor::Executor::new());
                let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
                let helper = {
                    let ex = ex.clone();
                    thread::spawn(move || {
                        smol_block_on(ex.run(async move {
                            let _ = stop_rx.recv().await;
                        }))
                    })
                };
                let task = ex.spawn(fut);
                let out = smol_block_on(ex.run(task));
                drop(stop_tx);
                helper.join().expect("async-executor helper thread");
                out
            }
            Executor::FuturesBlockOn => futures::executor::block_on(fut),
            Executor::Counting => block_on_counting(&Counts::new(), fut),
        }
    }
}

/// Runs the async test body produced by `body` under every executor in
/// [`EXECUTORS`], each under its own timeout guard; a failure names the
/// executor.
pub fn on_every_executor<F, Fut>(body: F)
where
    F: Fn(Executor) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let body = Arc::new(body);
    for &ex in EXECUTORS {
        let body = body.clone();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            with_timeout(TEST_SECS, move || ex.block_on(body(ex)))
        }));
        if let Err(payload) = result {
            panic!("under {ex:?}: {}", panic_message(&*payload));
        }
    }
}

// ---------------------------------------------------------------------------
// Small conveniences
// ---------------------------------------------------------------------------

/// `futures::executor::block_on`, for sync test bodies (already guarded).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    futures::executor::block_on(fut)
}

/// A pool with `max_threads(n)` and everything else default.
pub fn pool(max_threads: usize) -> Pool {
    Pool::builder()
        .max_threads(max_threads)
        .build()
        .expect("build a test pool")
}
