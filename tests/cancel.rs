//! Cancellation: a `Run` dropped before its job starts means the job never
//! runs (and frees its slot); after it starts it runs to the end on the
//! worker; `detach`; `run_cancellable`'s `CancelToken`. DESIGN semantic 5.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::*;
use threadbridge::{CancelToken, Pool};

/// A one-thread pool with its only thread held until the returned
/// [`HeldThread`] is released.
fn busy_pool() -> (Pool, HeldThread) {
    let pool = pool(1);
    let holder = HeldThread::new(&pool);
    (pool, holder)
}

#[test]
fn a_run_dropped_before_start_never_runs() {
    guard(|| {
        let (pool, holder) = busy_pool();
        let ran = Gate::new();
        let run = pool.run(ran.opener());
        wait_stats(&pool, "1 queued", |s| s.queued == 1);
        drop(run);
        let stats = pool.stats();
        assert_eq!(stats.cancelled, 1, "{stats:?}");
        assert_eq!(
            stats.queued, 0,
            "a cancelled job still counts as queued: {stats:?}"
        );
        block_on(holder.release());
        block_on(pool.run(|| ())); // the pool has served everything before this
        assert!(!ran.is_open(), "a Run dropped before start ran its job");
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.cancelled), (2, 1), "{stats:?}");
    });
}

#[test]
fn a_cancelled_job_drops_its_closure() {
    guard(|| {
        struct OnDrop(Arc<AtomicBool>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let (pool, holder) = busy_pool();
        let dropped = Arc::new(AtomicBool::new(false));
        let captured = OnDrop(dropped.clone());
        let run = pool.run(move || {
            let _keep = &captured;
        });
        drop(run);
        block_on(holder.release());
        block_on(pool.run(|| ()));
        assert!(
            dropped.load(Ordering::SeqCst),
            "a cancelled job's closure was leaked"
        );
    });
}

#[test]
fn dropping_a_queued_run_frees_its_queue_slot() {
    guard(|| {
        let pool = bounded_pool(1, 1);
        let holder = HeldThread::new(&pool);
        let queued = pool.run(|| 1);
        assert!(pool.try_run(|| 2).unwrap_err().is_full());
        drop(queued);
        // The slot is free at once, while the thread is still busy.
        let next = pool
            .try_run(|| 3)
            .expect("the dropped job's slot was not freed");
        block_on(holder.release());
        assert_eq!(block_on(next), 3);
    });
}

#[test]
fn a_run_dropped_after_start_finishes_on_the_worker() {
    guard(|| {
        struct Res(Arc<Mutex<Option<ThreadId>>>);
        impl Drop for Res {
            fn drop(&mut self) {
                *self.0.lock().unwrap() = Some(thread::current().id());
            }
        }
        let pool = pool(1);
        let started = Gate::new();
        let gate = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let dropped_on = Arc::new(Mutex::new(None));
        let job_thread = Arc::new(Mutex::new(None));
        let run = {
            let (started, gate, finished, dropped_on, job_thread) = (
                started.clone(),
                gate.clone(),
                finished.clone(),
                dropped_on.clone(),
                job_thread.clone(),
            );
            pool.run(move || {
                *job_thread.lock().unwrap() = Some(thread::current().id());
                started.open();
                gate.wait();
                finished.store(true, Ordering::SeqCst);
                Res(dropped_on)
            })
        };
        started.wait();
        drop(run);
        assert!(!finished.load(Ordering::SeqCst));
        gate.open();
        let stats = wait_stats(&pool, "the abandoned job to complete", |s| s.completed == 1);
        assert!(
            finished.load(Ordering::SeqCst),
            "the abandoned job did not run to its end"
        );
        assert_eq!(
            stats.cancelled, 0,
            "a started job counted as cancelled: {stats:?}"
        );
        wait_until("the result to be dropped", || {
            dropped_on.lock().unwrap().is_some()
        });
        assert_eq!(
            *dropped_on.lock().unwrap(),
            *job_thread.lock().unwrap(),
            "the abandoned result was not dropped on the worker"
        );
    });
}

#[test]
fn a_polled_then_dropped_run_still_finishes() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let mut run = {
            let finished = finished.clone();
            Box::pin(pool.run(gate.then(move || finished.store(true, Ordering::SeqCst))))
        };
        wait_stats(&pool, "the job running", |s| s.running == 1);
        assert!(poll_noop(run.as_mut()).is_pending());
        drop(run);
        gate.open();
        wait_until("the job to finish", || finished.load(Ordering::SeqCst));
        wait_stats(&pool, "completed == 1", |s| s.completed == 1);
    });
}

#[test]
fn detach_runs_the_job_to_the_end() {
    with_pool(2, |pool| {
        let done = Counter::new();
        for _ in 0..10 {
            let done = done.clone();
            pool.run(move || {
                done.incr();
            })
            .detach();
        }
        done.wait_for(10);
        let stats = wait_stats(&pool, "10 completed", |s| s.completed == 10);
        assert_eq!(stats.cancelled, 0, "{stats:?}");
    });
}

#[test]
fn detach_before_start_still_runs_the_job() {
    guard(|| {
        let (pool, holder) = busy_pool();
        let ran = Gate::new();
        pool.run(ran.opener()).detach();
        wait_stats(&pool, "the detached job queued", |s| s.queued == 1);
        block_on(holder.release());
        wait_until("the detached job to run", || ran.is_open());
        let stats = wait_stats(&pool, "2 completed", |s| s.completed == 2);
        assert_eq!(stats.cancelled, 0, "{stats:?}");
    });
}

/// A job that loops until its token is cancelled (or a deadline passes),
/// and what it saw.
struct CancelProbe {
    started: Arc<Gate>,
    ended: Arc<Gate>,
    saw_cancel: Arc<AtomicBool>,
}

impl CancelProbe {
    fn new() -> Self {
        Self {
            started: Gate::new(),
            ended: Gate::new(),
            saw_cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The job, for `run_cancellable`.
    fn job(&self) -> impl FnOnce(&CancelToken) -> u32 + Send + 'static {
        let (started, ended) = (self.started.clone(), self.ended.clone());
        let saw_cancel = self.saw_cancel.clone();
        move |token: &CancelToken| {
            assert!(
                !token.is_cancelled(),
                "token cancelled before the Run was dropped"
            );
            started.open();
            let deadline = Instant::now() + DEADLINE;
            while Instant::now() < deadline {
                if token.is_cancelled() {
                    saw_cancel.store(true, Ordering::SeqCst);
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
            ended.open();
            1
        }
    }

    /// Once the job runs: it keeps going while `run` lives; dropping `run`
    /// cancels its token, which the job sees before it ends.
    fn drop_and_check<R>(&self, run: R) {
        self.started.wait();
        // While the Run is alive the token stays false: the job keeps going.
        assert_stays(SETTLE, "the job keeps running while its Run lives", || {
            !self.ended.is_open()
        });
        drop(run);
        assert!(
            self.ended.wait_timeout(DEADLINE),
            "the job never saw its token cancelled"
        );
        assert!(
            self.saw_cancel.load(Ordering::SeqCst),
            "the job ended without seeing the cancel"
        );
    }
}

#[test]
fn run_cancellable_token_turns_true_when_the_run_is_dropped() {
    with_pool(1, |pool| {
        let probe = CancelProbe::new();
        probe.drop_and_check(pool.run_cancellable(probe.job()));
        // It stopped early but returned normally: a completed job.
        let stats = wait_stats(&pool, "1 completed", |s| s.completed == 1);
        assert_eq!(stats.cancelled, 0, "{stats:?}");
    });
}

#[test]
fn run_cancellable_detach_does_not_cancel() {
    with_pool(1, |pool| {
        let release = Gate::new();
        let saw_cancel = Arc::new(AtomicBool::new(false));
        let ended = Gate::new();
        {
            let (release, saw_cancel, ended) = (release.clone(), saw_cancel.clone(), ended.clone());
            pool.run_cancellable(move |token: &CancelToken| {
                let deadline = Instant::now() + DEADLINE;
                while !release.is_open() && Instant::now() < deadline {
                    if token.is_cancelled() {
                        saw_cancel.store(true, Ordering::SeqCst);
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                ended.open();
            })
            .detach();
        }
        assert_stays(SETTLE, "a detached job is not cancelled", || {
            !saw_cancel.load(Ordering::SeqCst)
        });
        release.open();
        assert!(ended.wait_timeout(DEADLINE));
        assert!(
            !saw_cancel.load(Ordering::SeqCst),
            "detach cancelled the token"
        );
    });
}

#[test]
fn run_cancellable_returns_its_value_when_awaited() {
    with_pool(2, |pool| {
        let v = block_on(pool.run_cancellable(|token: &CancelToken| {
            assert!(!token.is_cancelled());
            40 + 2
        }));
        assert_eq!(v, 42);
    });
}

#[test]
fn run_cancellable_dropped_before_start_never_runs() {
    guard(|| {
        let (pool, holder) = busy_pool();
        let ran = Arc::new(AtomicBool::new(false));
        let run = {
            let ran = ran.clone();
            pool.run_cancellable(move |_: &CancelToken| ran.store(true, Ordering::SeqCst))
        };
        drop(run);
        block_on(holder.release());
        block_on(pool.run(|| ()));
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(pool.stats().cancelled, 1);
    });
}

#[test]
fn limiter_run_cancellable_token_turns_true_when_the_run_is_dropped() {
    with_limiter(2, 1, |_pool, limiter| {
        let probe = CancelProbe::new();
        probe.drop_and_check(limiter.run_cancellable(probe.job()));
        wait_until("the token returned", || limiter.stats().running == 0);
        // The limiter still works.
        assert_eq!(block_on(limiter.run_cancellable(|_: &CancelToken| 5)), 5);
    });
}
