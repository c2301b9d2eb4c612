//! `queue_capacity`: `try_run` refuses at once with the closure intact,
//! `run` waits asynchronously for space; `queue_capacity(0)` has no queue.
//! DESIGN semantic 4.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use threadbridge::{Pool, TryRunError};

/// A pool with one thread busy on `gate` and its queue (capacity 2) full.
fn full_pool(gate: &Arc<Gate>) -> (Pool, Vec<threadbridge::Run<()>>) {
    let pool = bounded_pool(1, 2);
    let runs = held(&pool, 3, gate);
    wait_stats(&pool, "1 running, 2 queued", |s| {
        s.running == 1 && s.queued == 2
    });
    (pool, runs)
}

#[test]
fn try_run_on_a_full_queue_returns_the_closure_at_once() {
    guard(|| {
        let gate = Gate::new();
        let (pool, runs) = full_pool(&gate);
        let marker = String::from("still here");
        let err = match pool.try_run(move || marker) {
            Ok(_) => panic!("try_run accepted a job on a full queue"),
            Err(err) => err,
        };
        assert!(err.is_full(), "{err:?}");
        assert!(!err.is_closed(), "{err:?}");
        assert!(format!("{err:?}").starts_with("Full("), "{err:?}");
        // The closure comes back intact and runs inline.
        let f = err.into_inner();
        assert_eq!(f(), "still here");
        let stats = pool.stats();
        assert_eq!(stats.rejected, 1, "{stats:?}");
        assert_eq!(
            stats.queued, 2,
            "a rejected job took a queue slot: {stats:?}"
        );

        release(&gate, runs);
        let stats = pool.stats();
        assert_eq!(stats.completed, 3, "{stats:?}");
        assert_eq!(stats.rejected, 1, "{stats:?}");
    });
}

#[test]
fn try_run_with_space_is_accepted() {
    guard(|| {
        let pool = bounded_pool(1, 1);
        let gate = Gate::new();
        let first = pool
            .try_run(gate.waiter())
            .expect("an idle pool refused a job");
        wait_stats(&pool, "1 running", |s| s.running == 1);
        let second = pool
            .try_run(|| 2)
            .expect("a queue with a free slot refused a job");
        assert!(pool.try_run(|| 3).unwrap_err().is_full());
        gate.open();
        block_on(first);
        assert_eq!(block_on(second), 2);
        assert_eq!(pool.stats().rejected, 1);
    });
}

#[test]
fn run_on_a_full_queue_returns_at_once_and_waits_for_space() {
    guard(|| {
        let gate = Gate::new();
        let (pool, runs) = full_pool(&gate);
        let order = Arc::new(Mutex::new(Vec::new()));
        // run() must return at once, not block the caller until space frees.
        let mut waiting = {
            let order = order.clone();
            Box::pin(pool.run(move || {
                order.lock().unwrap().push("late");
                5
            }))
        };
        assert!(poll_noop(waiting.as_mut()).is_pending());
        assert_stays(
            SETTLE,
            "the waiting job neither runs nor takes a slot",
            || {
                let s = pool.stats();
                order.lock().unwrap().is_empty() && s.queued == 2 && s.running == 1
            },
        );
        assert_eq!(pool.stats().rejected, 0, "run() must wait, not reject");
        gate.open();
        assert_eq!(block_on(waiting), 5);
        block_on(futures::future::join_all(runs));
        let stats = pool.stats();
        assert_eq!((stats.completed, stats.rejected), (4, 0), "{stats:?}");
    });
}

#[test]
fn jobs_waiting_for_space_keep_submission_order() {
    guard(|| {
        let pool = bounded_pool(1, 1);
        let order = Order::new();
        let first = HeldThread::new(&pool);
        let runs: Vec<_> = (0..8).map(|i| pool.run(order.job(i))).collect();
        block_on(first.release());
        block_on(futures::future::join_all(runs));
        order.assert_fifo(8);
    });
}

#[test]
fn queue_capacity_zero_runs_only_on_a_free_or_startable_thread() {
    guard(|| {
        let pool = bounded_pool(2, 0);
        let gate = Gate::new();
        // Threads can start: accepted.
        let a = pool
            .try_run(gate.waiter())
            .expect("a startable thread: must accept");
        let b = pool
            .try_run(gate.waiter())
            .expect("a startable thread: must accept");
        wait_stats(&pool, "2 running", |s| s.running == 2);
        // Both busy, at the cap, no queue: refused.
        let err = pool.try_run(|| 3).unwrap_err();
        assert!(err.is_full(), "{err:?}");
        assert_eq!(err.into_inner()(), 3);
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.rejected), (0, 1), "{stats:?}");
        gate.open();
        block_on(a);
        block_on(b);
        // A free (idle) thread: accepted.
        wait_stats(&pool, "an idle thread", |s| s.idle_threads >= 1);
        let c = pool.try_run(|| 4).expect("an idle thread: must accept");
        assert_eq!(block_on(c), 4);
    });
}

#[test]
fn queue_capacity_zero_run_waits_for_a_thread() {
    guard(|| {
        let pool = bounded_pool(1, 0);
        let first = HeldThread::new(&pool);
        let mut second = Box::pin(pool.run(|| 8));
        assert!(poll_noop(second.as_mut()).is_pending());
        assert_eq!(pool.stats().queued, 0);
        block_on(first.release());
        assert_eq!(block_on(second), 8);
    });
}

#[test]
fn dropping_a_run_waiting_for_space_never_runs_it() {
    guard(|| {
        let gate = Gate::new();
        let (pool, runs) = full_pool(&gate);
        let ran = Arc::new(Mutex::new(false));
        let waiting = {
            let ran = ran.clone();
            pool.run(move || *ran.lock().unwrap() = true)
        };
        drop(waiting);
        release(&gate, runs);
        block_on(pool.run(|| ())); // everything before it has been served
        assert!(
            !*ran.lock().unwrap(),
            "a dropped run() waiting for space ran"
        );
        let stats = pool.stats();
        assert_eq!(stats.cancelled, 1, "{stats:?}");
    });
}

#[test]
fn limiter_try_run_on_a_full_pool_queue_is_full() {
    guard(|| {
        let gate = Gate::new();
        let (pool, runs) = full_pool(&gate);
        let limiter = pool.limiter(4);
        match limiter.try_run(|| 1) {
            Err(TryRunError::Full(f)) => assert_eq!(f(), 1),
            Err(other) => panic!("expected Full, got {other:?}"),
            Ok(_) => panic!("limiter.try_run accepted a job on a full pool queue"),
        }
        release(&gate, runs);
    });
}

#[test]
fn backpressure_under_every_executor() {
    on_every_executor(|_| async {
        let pool = bounded_pool(2, 1);
        // Far more jobs than threads + queue: every run() waits its turn.
        let runs: Vec<_> = (0..40).map(|i| pool.run(move || i)).collect();
        let out = futures::future::join_all(runs).await;
        assert_eq!(out, (0..40).collect::<Vec<_>>());
        let s = pool.stats();
        assert_eq!((s.completed, s.rejected, s.queued), (40, 0, 0), "{s:?}");
    });
}
