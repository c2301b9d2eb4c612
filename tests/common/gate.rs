//! Holding blocking jobs and releasing them deterministically: gates,
//! counters, a concurrency gauge, and pools kept busy on a gate. Every wait
//! has a deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use threadbridge::{Pool, Run};

use super::{wait_stats, DEADLINE};

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

    /// A job that opens the gate: it shows that the job ran.
    pub fn opener(self: &Arc<Self>) -> impl FnOnce() + Send + 'static {
        opens_then(self, || ())
    }

    /// A job that blocks until the gate opens (see [`Gate::wait`]).
    pub fn waiter(self: &Arc<Self>) -> impl FnOnce() + Send + 'static {
        self.then(|| ())
    }

    /// A job that blocks until the gate opens, then returns `f()`.
    pub fn then<T>(
        self: &Arc<Self>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl FnOnce() -> T + Send + 'static {
        step_then(self, Gate::wait, f)
    }
}

/// A job that does `step` (wait or open) on `gate`, then returns `f()`.
fn step_then<T>(
    gate: &Arc<Gate>,
    step: fn(&Gate),
    f: impl FnOnce() -> T + Send + 'static,
) -> impl FnOnce() -> T + Send + 'static {
    let gate = gate.clone();
    move || {
        step(&gate);
        f()
    }
}

/// The order jobs ran in: [`job`](Order::job)`(i)` records `i` when it runs.
#[derive(Clone, Default)]
pub struct Order(Arc<Mutex<Vec<usize>>>);

impl Order {
    pub fn new() -> Self {
        Self::default()
    }

    /// A job that records `i`.
    pub fn job(&self, i: usize) -> impl FnOnce() + Send + 'static {
        let order = self.clone();
        move || order.0.lock().unwrap().push(i)
    }

    /// Asserts that jobs `0..n` ran, in that order.
    pub fn assert_fifo(&self, n: usize) {
        let ran = self.0.lock().unwrap();
        assert_eq!(*ran, (0..n).collect::<Vec<_>>(), "not in submission order");
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

    /// A hook (or job) that adds one each time it is called.
    pub fn hook(self: &Arc<Self>) -> impl Fn() + Send + Sync + 'static {
        let counter = self.clone();
        move || {
            counter.incr();
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

    /// A job that counts itself in, holds until `gate` opens and counts
    /// itself out.
    pub fn hold(self: &Arc<Self>, gate: &Arc<Gate>) -> impl FnOnce() + Send + 'static {
        self.tracked(gate, || ())
    }

    /// A job that counts itself in, holds until `gate` opens, counts itself
    /// out, then returns `f()`.
    pub fn tracked<T>(
        self: &Arc<Self>,
        gate: &Arc<Gate>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl FnOnce() -> T + Send + 'static {
        let (conc, gate) = (self.clone(), gate.clone());
        move || {
            conc.enter();
            gate.wait();
            conc.exit();
            f()
        }
    }
}

/// A job that opens `gate`, then returns `f()`: the test knows it ran.
pub fn opens_then<T>(
    gate: &Arc<Gate>,
    f: impl FnOnce() -> T + Send + 'static,
) -> impl FnOnce() -> T + Send + 'static {
    step_then(gate, Gate::open, f)
}

/// A job that opens `started`, holds until `gate` opens, then returns
/// `f()`: the test knows it runs, and decides when it ends.
pub fn started_then_held<T>(
    started: &Arc<Gate>,
    gate: &Arc<Gate>,
    f: impl FnOnce() -> T + Send + 'static,
) -> impl FnOnce() -> T + Send + 'static {
    opens_then(started, gate.then(f))
}

/// Submits `n` jobs to `pool` that each hold their thread until `gate` opens.
pub fn held(pool: &Pool, n: usize, gate: &Arc<Gate>) -> Vec<Run<()>> {
    (0..n).map(|_| pool.run(gate.waiter())).collect()
}

/// The only thread of a one-thread pool, taken by a job that holds it on a
/// gate of its own until [`release`](HeldThread::release): whatever the
/// test submits meanwhile waits behind it.
pub struct HeldThread {
    gate: Arc<Gate>,
    holder: Run<()>,
}

impl HeldThread {
    /// Occupies the only thread of a one-thread `pool`; returns once the
    /// holding job runs.
    pub fn new(pool: &Pool) -> Self {
        let gate = Gate::new();
        let holder = held(pool, 1, &gate).remove(0);
        wait_stats(pool, "the only thread busy", |s| s.running == 1);
        Self { gate, holder }
    }

    /// Opens the gate and awaits the holding job: the thread is free again.
    pub async fn release(self) {
        self.gate.open();
        self.holder.await;
    }
}

/// Opens `gate` and awaits every one of `runs` (jobs it held): their
/// results, in order.
pub fn release<T>(gate: &Gate, runs: Vec<Run<T>>) -> Vec<T> {
    gate.open();
    futures::executor::block_on(futures::future::join_all(runs))
}

/// Submits `n` jobs that hold their thread until `gate` opens ([`held`]);
/// returns once all `n` run, each on a thread of its own.
pub fn occupy(pool: &Pool, n: usize, gate: &Arc<Gate>) -> Vec<Run<()>> {
    let runs = held(pool, n, gate);
    wait_stats(pool, &format!("{n} threads running"), |s| {
        s.threads == n && s.running == n
    });
    runs
}
