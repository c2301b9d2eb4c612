//! Fault injection: every place the pool calls user code (see the table in
//! `src/fault.rs`), driven with an implementation that panics. After each,
//! under two executors, with and without a limiter, the pool must still
//! serve a single job and a burst, its stats must be exact, no job may run
//! twice or be lost, and `shutdown_timeout` must return true.

mod adapters;
#[path = "../common/mod.rs"]
mod common;

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{
    expect_panic, panic_message, sized, wait_stats, wait_until, Executor, Gate, DEADLINE,
};
use futures::{AsyncReadExt, StreamExt};
use threadbridge::{Builder, Limiter, Pool, Stats, Unblock};

/// The two executors each scenario runs under: smol's `block_on` drives a
/// reactor Miri cannot run, so Miri gets `futures`' instead.
const TWO_EXECUTORS: [Executor; 2] = [
    Executor::TokioCurrentThread,
    if cfg!(miri) {
        Executor::FuturesBlockOn
    } else {
        Executor::SmolBlockOn
    },
];

/// The burst each pool must still serve (smaller under Miri).
const BURST: u64 = sized(100, 8);

/// How many jobs of each outcome a scenario added to the pool's totals.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Outcomes {
    completed: u64,
    panicked: u64,
    cancelled: u64,
}

/// The totals a scenario expects it added.
fn outcomes(completed: u64, panicked: u64, cancelled: u64) -> Outcomes {
    Outcomes {
        completed,
        panicked,
        cancelled,
    }
}

/// The pool (2 threads, a quiet `on_panic`), and a limiter of 1 on it or
/// none: where a scenario submits its jobs.
#[derive(Clone)]
struct Site {
    pool: Pool,
    limiter: Option<Limiter>,
}

impl Site {
    fn new(limited: bool) -> Self {
        let pool = Pool::builder()
            .max_threads(2)
            .on_panic(|_| {})
            .build()
            .unwrap();
        let limiter = limited.then(|| pool.limiter(1));
        Self { pool, limiter }
    }

    /// A site on a pool built by `builder`, with a limiter of 1 or none.
    fn from_builder(builder: Builder, limited: bool) -> Self {
        let pool = builder.build().unwrap();
        let limiter = limited.then(|| pool.limiter(1));
        Self { pool, limiter }
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> threadbridge::Run<T> {
        match &self.limiter {
            Some(limiter) => limiter.run(f),
            None => self.pool.run(f),
        }
    }
}

/// A waker that panics when woken, as the Rust async book's executor does
/// once it is gone (`expect("too many tasks queued")` on a closed channel).
#[derive(Default)]
struct PanicsOnWake {
    wakes: AtomicUsize,
}

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        panic!("a hostile waker");
    }
}

/// A waker whose last drop panics.
struct PanicsOnDrop(Arc<AtomicBool>);

impl Wake for PanicsOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
        panic!("a hostile waker's drop");
    }
}

/// A value whose `Drop` panics.
struct PanicsInDrop;

impl Drop for PanicsInDrop {
    fn drop(&mut self) {
        panic!("a hostile Drop");
    }
}

/// Polls `fut` once with `waker`.
fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// Waits until every job has ended (nothing running, queued or waiting for
/// a token) and every thread is idle; returns the stats.
fn settled(site: &Site) -> Stats {
    if let Some(limiter) = &site.limiter {
        wait_until("the limiter has nothing running or waiting", || {
            let s = limiter.stats();
            s.running == 0 && s.waiting == 0
        });
    }
    wait_stats(&site.pool, "every job ended and every thread idle", |s| {
        s.running == 0 && s.queued == 0 && s.waiting == 0 && s.idle_threads == s.threads
    })
}

/// What every scenario is followed by: the pool serves a single job and a
/// burst under `ex`, with exact totals, and then shuts down.
fn assert_still_serves(ex: Executor, site: &Site, before: Stats, outcomes: Outcomes) {
    let after = settled(site);
    assert_eq!(
        Outcomes {
            completed: after.completed - before.completed,
            panicked: after.panicked - before.panicked,
            cancelled: after.cancelled - before.cancelled,
        },
        outcomes,
        "each job counted once, in the outcome it had"
    );
    assert!(
        after.threads <= 2,
        "never more threads than the cap: {after:?}"
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let served = {
        let (site, runs) = (site.clone(), runs.clone());
        ex.block_on(async move {
            let single = site.run(|| 7).await;
            let burst: Vec<_> = (0..BURST)
                .map(|i| {
                    let runs = runs.clone();
                    site.run(move || {
                        runs.fetch_add(1, SeqCst);
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for run in burst {
                sum += run.await;
            }
            (single, sum)
        })
    };
    assert_eq!(
        served,
        (7, BURST * (BURST - 1) / 2),
        "a single job and a burst are served"
    );
    assert_eq!(
        runs.load(SeqCst) as u64,
        BURST,
        "no job of the burst ran twice or was lost"
    );
    let last = settled(site);
    assert_eq!(last.completed, after.completed + 1 + BURST);
    assert_eq!(
        (last.panicked, last.cancelled),
        (after.panicked, after.cancelled)
    );
    if let Some(limiter) = &site.limiter {
        let s = limiter.stats();
        assert_eq!(
            (s.limit, s.running, s.waiting),
            (1, 0, 0),
            "every token came back"
        );
    }
    assert!(site.pool.shutdown_timeout(DEADLINE), "every worker exits");
    assert_eq!(site.pool.stats().threads, 0);
}

/// Runs `scenario` under tokio (current-thread) and smol, with and without
/// a limiter, each on a fresh pool, and checks the pool after it.
fn after_each<S, Fut>(scenario: S)
where
    S: Fn(Site) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcomes> + Send + 'static,
{
    let scenario = Arc::new(scenario);
    for ex in TWO_EXECUTORS {
        for limited in [false, true] {
            let scenario = scenario.clone();
            common::with_timeout(common::TEST_SECS, move || {
                let site = Site::new(limited);
                let before = site.pool.stats();
                let outcomes = ex.block_on(scenario(site.clone()));
                assert_still_serves(ex, &site, before, outcomes);
            });
        }
    }
}

#[test]
fn a_waker_that_panics_when_a_worker_wakes_it() {
    after_each(|site| async move {
        // The job's Run waits with a hostile waker; the worker that finishes
        // the job wakes it (and, with a limiter, hands the token on).
        let gate = Gate::new();
        let mut held = site.run(gate.waiter());
        let g = gate.clone();
        let mut next = site.run(move || {
            g.wait();
            1
        });
        let hostile = Arc::new(PanicsOnWake::default());
        let waker = Waker::from(hostile.clone());
        assert!(poll_once(&mut held, &waker).is_pending());
        assert!(poll_once(&mut next, &waker).is_pending());
        gate.open();
        wait_until("both hostile wakes happened", || {
            hostile.wakes.load(SeqCst) == 2
        });
        held.await;
        assert_eq!(next.await, 1);
        outcomes(2, 0, 0)
    });
}

/// The Rust async book's executor: a task's waker sends it back on a
/// bounded channel and `expect`s the send to succeed, so it panics once the
/// executor is gone. Here the executor is dropped while the job runs.
#[test]
fn the_async_books_executor_gone_while_its_job_runs() {
    struct Task {
        future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
        sender: SyncSender<Arc<Task>>,
        woken: AtomicBool,
    }
    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, SeqCst);
            let sender = self.sender.clone();
            sender.send(self).expect("too many tasks queued");
        }
    }
    after_each(|site| async move {
        let gate = Gate::new();
        let run = site.run(gate.waiter());
        let (sender, receiver) = sync_channel(10);
        let task = Arc::new(Task {
            future: Mutex::new(Some(Box::pin(run))),
            sender,
            woken: AtomicBool::new(false),
        });
        // One turn of the book's executor loop, then the executor is gone.
        let mut slot = task.future.lock().unwrap();
        let mut future = slot.take().unwrap();
        let waker = Waker::from(task.clone());
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        *slot = Some(future);
        drop(slot);
        drop((waker, receiver));
        gate.open();
        wait_until("the worker woke the task", || task.woken.load(SeqCst));
        outcomes(1, 0, 0)
    });
}

#[test]
fn a_waker_whose_drop_panics_on_a_worker() {
    after_each(|site| async move {
        let gate = Gate::new();
        let mut run = site.run(gate.waiter());
        let dropped = Arc::new(AtomicBool::new(false));
        let waker = Waker::from(Arc::new(PanicsOnDrop(dropped.clone())));
        assert!(poll_once(&mut run, &waker).is_pending());
        // The pool now holds the last reference: the worker's wake drops it.
        drop(waker);
        gate.open();
        wait_until("the worker dropped the hostile waker", || {
            dropped.load(SeqCst)
        });
        run.await;
        outcomes(1, 0, 0)
    });
}

#[test]
fn a_shutdown_waker_that_panics() {
    for limited in [false, true] {
        common::guard(move || {
            let site = Site::new(limited);
            let gate = Gate::new();
            let g = gate.clone();
            site.run(move || g.wait()).detach();
            let mut shutdown = site.pool.shutdown();
            let hostile = Arc::new(PanicsOnWake::default());
            let waker = Waker::from(hostile.clone());
            assert!(poll_once(&mut shutdown, &waker).is_pending());
            gate.open();
            wait_until("the hostile shutdown waker was woken", || {
                hostile.wakes.load(SeqCst) == 1
            });
            assert!(poll_once(&mut shutdown, &waker).is_ready());
            assert!(site.pool.shutdown_timeout(DEADLINE));
            let stats = site.pool.stats();
            assert_eq!((stats.threads, stats.completed), (0, 1));
        });
    }
}

#[test]
fn a_result_whose_drop_panics_with_nobody_awaiting_it() {
    after_each(|site| async move {
        site.run(|| PanicsInDrop).detach();
        let (started, gate) = (Gate::new(), Gate::new());
        let (s, g) = (started.clone(), gate.clone());
        let run = site.run(move || {
            s.open();
            g.wait();
            PanicsInDrop
        });
        // Dropped while it runs: the result is dropped on the worker.
        started.wait();
        drop(run);
        gate.open();
        outcomes(2, 0, 0)
    });
}

#[test]
fn a_closure_whose_drop_panics_when_its_run_is_dropped_before_it_starts() {
    after_each(|site| async move {
        // Every thread (or the limiter's one token) busy: the job waits.
        let busy = if site.limiter.is_some() { 1 } else { 2 };
        let gate = Gate::new();
        let held: Vec<_> = (0..busy)
            .map(|_| {
                let g = gate.clone();
                site.run(move || g.wait())
            })
            .collect();
        wait_stats(&site.pool, "every hold runs", |s| s.running == busy);
        let hostile = PanicsInDrop;
        let never = site.run(move || drop(hostile));
        // Withdrawn from the pool's queue or the limiter's waiters: its
        // closure is dropped here, and panics.
        drop(never);
        gate.open();
        for run in held {
            run.await;
        }
        outcomes(busy as u64, 0, 1)
    });
}

/// [`after_each`] for the scenarios that are the pool's own hooks: with
/// and without a limiter, each on a fresh pool of 2 threads that `hooks`
/// adds its hooks to, and under the timeout guard, runs `scenario` and
/// checks under `ex` that the pool still serves after it.
fn after_each_with_hooks<H, S>(ex: Executor, hooks: H, scenario: S)
where
    H: Fn(Builder) -> Builder + Send + Sync + 'static,
    S: Fn(&Site) -> Outcomes + Send + Sync + 'static,
{
    let (hooks, scenario) = (Arc::new(hooks), Arc::new(scenario));
    for limited in [false, true] {
        let (hooks, scenario) = (hooks.clone(), scenario.clone());
        common::guard(move || {
            let builder = hooks(Pool::builder().max_threads(2));
            let site = Site::from_builder(builder, limited);
            let before = site.pool.stats();
            let outcomes = scenario(&site);
            assert_still_serves(ex, &site, before, outcomes);
        });
    }
}

#[test]
fn a_panicking_job_nobody_awaits_and_a_panicking_on_panic_hook() {
    let hooks = |builder: Builder| builder.on_panic(|_| panic!("a hostile on_panic hook"));
    after_each_with_hooks(Executor::FuturesBlockOn, hooks, |site| {
        site.run(|| panic!("nobody awaits this")).detach();
        let awaited = expect_panic("an awaited panicking job", || {
            common::block_on(site.run(|| panic!("awaited")))
        });
        assert!(awaited.contains("awaited"), "{awaited}");
        outcomes(0, 2, 0)
    });
}

#[test]
fn hooks_and_thread_names_that_panic() {
    let hooks = |builder: Builder| {
        builder
            .thread_name(|_| panic!("a hostile thread_name"))
            .on_thread_start(|| panic!("a hostile on_thread_start"))
            .on_thread_stop(|| panic!("a hostile on_thread_stop"))
            .keep_alive(Duration::from_millis(1))
    };
    after_each_with_hooks(TWO_EXECUTORS[1], hooks, |site| {
        let name = common::block_on(site.run(|| std::thread::current().name().map(str::to_owned)));
        assert!(
            name.unwrap().starts_with("threadbridge-"),
            "the default name stands in"
        );
        // Threads that expire run the stop hook; the pool starts others.
        wait_stats(&site.pool, "the idle thread expired", |s| s.threads == 0);
        outcomes(1, 0, 0)
    });
}
