//! One job's life: its state against a drop at every stage, the waker
//! hand-off, backpressure, shutdown, the cancel token and nesting.

use std::sync::Arc;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use threadbridge::{Pool, TryRunError};

use crate::{finish, flag, model_on_pool, poll, pool, Gate, Tracked};

/// 1. Job state: submit → run → complete, awaited. The closure runs once,
/// the result arrives once, the counters are in before the Run is ready.
#[test]
fn job_runs_once_and_result_arrives_once() {
    loom::model(|| {
        let pool = pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let (r, d) = (runs.clone(), drops.clone());
        let run = pool.run(move || {
            r.fetch_add(1, SeqCst);
            Tracked(d)
        });
        let value = block_on(run);
        let stats = pool.stats();
        assert_eq!(stats.completed, 1, "counted before ready");
        assert_eq!(
            (stats.queue_wait.count(), stats.run_time.count()),
            (1, 1),
            "timed before ready"
        );
        drop(value);
        finish(&pool);
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// 1. Job state: the Run dropped while the job may be queued, starting,
/// running or done. Exactly one of cancelled/completed; the closure's
/// captures and the result are each dropped exactly once.
#[test]
fn run_dropped_at_any_stage() {
    loom::model(|| {
        let pool = pool(1);
        let ran = Arc::new(AtomicBool::new(false));
        let captures = Arc::new(AtomicUsize::new(0));
        let results = Arc::new(AtomicUsize::new(0));
        let capture = Tracked(captures.clone());
        let (flag, res) = (ran.clone(), results.clone());
        let run = pool.run(move || {
            let _capture = capture;
            flag.store(true, SeqCst);
            Tracked(res)
        });
        drop(run);
        finish(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled, 1);
        assert_eq!(ran.load(SeqCst), stats.completed == 1);
        assert_eq!(captures.load(SeqCst), 1);
        assert_eq!(results.load(SeqCst), stats.completed as usize);
    });
}

/// 2. Waker hand-off: polled with waker A, then B, while the job completes.
/// If the second poll is pending, B (the latest) is woken; A never is after
/// B took over, and no wake-up is lost (else loom reports a deadlock).
#[test]
fn latest_waker_is_woken() {
    loom::model(|| {
        let pool = pool(1);
        let mut run = pool.run(|| 5);
        let (a, waker_a) = flag();
        if let Poll::Ready(v) = poll(&mut run, &waker_a) {
            assert_eq!(v, 5);
            return finish(&pool);
        }
        let (b, waker_b) = flag();
        let mut result = poll(&mut run, &waker_b);
        let a_before = *a.woken.lock().unwrap();
        while result.is_pending() {
            b.wait(); // a lost wake-up hangs here: loom reports a deadlock
            result = poll(&mut run, &waker_b);
        }
        assert_eq!(result, Poll::Ready(5));
        assert_eq!(
            *a.woken.lock().unwrap(),
            a_before,
            "A not woken after B took over"
        );
        finish(&pool);
    });
}

/// 6. Backpressure: queue_capacity(0) on a busy pool refuses try_run with
/// the closure back; a run() waiting for space, dropped while the worker
/// frees up, either ran or was cancelled, never both.
#[test]
fn backpressure_admission_completion_and_drop() {
    loom::model(|| {
        let pool = Pool::builder()
            .max_threads(1)
            .queue_capacity(0)
            .build()
            .unwrap();
        let gate = Gate::default();
        let busy = pool.run(gate.waiter());
        // The only thread is (or is about to be) taken by `busy`.
        match pool.try_run(|| 3) {
            Err(TryRunError::Full(f)) => assert_eq!(f(), 3),
            Ok(run) => drop(run), // `busy` had not been claimed yet: room for one
            Err(other) => panic!("unexpected {other:?}"),
        }
        let waiting = pool.run(|| 4);
        gate.open();
        drop(waiting);
        block_on(busy);
        finish(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled + stats.rejected, 3);
    });
}

/// 7. Shutdown racing submit: a job is either refused as Closed (closure
/// back) or accepted and run; every worker exits either way.
#[test]
fn shutdown_racing_submit() {
    loom::model(|| {
        let pool = pool(1);
        let ran = Arc::new(AtomicBool::new(false));
        let (p, r) = (pool.clone(), ran.clone());
        let submitter = thread::spawn(move || match p.try_run(move || r.store(true, SeqCst)) {
            Ok(run) => {
                block_on(run);
                true
            }
            Err(err) => {
                assert!(err.is_closed());
                false
            }
        });
        finish(&pool);
        let accepted = submitter.join().unwrap();
        assert_eq!(ran.load(SeqCst), accepted);
    });
}

/// 7. Dropping the last handle closes the pool without blocking; the
/// accepted job still runs and the worker exits (else: loom deadlock).
#[test]
fn last_handle_dropped_drains_and_exits() {
    loom::model(|| {
        let pool = pool(1);
        let run = pool.run(|| 9);
        drop(pool);
        assert_eq!(block_on(run), 9);
    });
}

/// 8. Cancel token vs. completion: the token is false while the Run lives,
/// and a drop racing the job's start or end never breaks the job.
#[test]
fn cancel_token_vs_completion() {
    loom::model(|| {
        let pool = pool(1);
        let alive = pool.run_cancellable(|token| token.is_cancelled());
        assert!(!block_on(alive), "not cancelled while its Run lives");
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let dropped = pool.run_cancellable(move |token| {
            s.store(1 + token.is_cancelled() as usize, SeqCst);
        });
        drop(dropped);
        finish(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled, 2);
        assert_eq!(seen.load(SeqCst) != 0, stats.completed == 2);
    });
}

/// 10. Nesting: a job that blocks on a Run of its own one-thread pool takes
/// that job back and runs it inline instead of deadlocking.
#[test]
fn nested_run_is_taken_inline() {
    model_on_pool(1, |pool| {
        let p = pool.clone();
        let outer = pool.run(move || block_on(p.run(|| 2)) + 1);
        assert_eq!(block_on(outer), 3);
    });
}
