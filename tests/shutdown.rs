//! Shutdown: closes the pool to new jobs when called, drains every accepted
//! job, then lets every worker exit; dropping the last handle does the same
//! without blocking; a `Limiter` keeps its pool alive. DESIGN semantic 7.

mod common;

use std::time::Duration;

use common::*;
use threadbridge::{Pool, TryRunError};

#[test]
fn shutdown_drains_every_accepted_job_and_leaves_no_threads() {
    with_pool(2, |pool| {
        let gate = Gate::new();
        let done = Counter::new();
        let mut held = Vec::new();
        for i in 0..50usize {
            let (gate, done) = (gate.clone(), done.clone());
            let run = pool.run(move || {
                gate.wait();
                done.incr();
                i
            });
            if i % 2 == 0 {
                run.detach();
            } else {
                held.push(run);
            }
        }
        let shutdown = pool.shutdown();
        gate.open();
        block_on(shutdown);
        assert_eq!(done.get(), 50, "shutdown lost accepted jobs");
        let stats = pool.stats();
        assert_eq!(stats.threads, 0, "{stats:?}");
        assert_eq!(stats.completed, 50, "{stats:?}");
        assert_eq!((stats.running, stats.queued), (0, 0), "{stats:?}");
        // Held Runs still deliver their results after shutdown.
        let out = block_on(futures::future::join_all(held));
        assert_eq!(out, (0..50).filter(|i| i % 2 == 1).collect::<Vec<_>>());
    });
}

#[test]
fn shutdown_closes_when_called_not_when_polled() {
    with_pool(2, |pool| {
        let shutdown = pool.shutdown(); // not polled yet
        let err = pool
            .try_run(|| 1)
            .expect_err("try_run accepted a job after shutdown()");
        assert!(err.is_closed(), "{err:?}");
        block_on(shutdown);
    });
}

#[test]
fn run_after_shutdown_panics_naming_try_run() {
    with_pool(2, |pool| {
        block_on(pool.shutdown());
        let msg = expect_panic("run() after shutdown", || pool.run(|| 1));
        assert!(
            msg.contains("try_run"),
            "panic message does not name try_run: {msg:?}"
        );
    });
}

#[test]
fn try_run_after_shutdown_gives_the_closure_back() {
    with_pool(2, |pool| {
        block_on(pool.shutdown());
        let s = String::from("mine");
        match pool.try_run(move || s) {
            Err(err @ TryRunError::Closed(_)) => {
                assert!(err.is_closed() && !err.is_full());
                assert!(format!("{err:?}").starts_with("Closed("), "{err:?}");
                assert_eq!(err.into_inner()(), "mine");
            }
            Err(other) => panic!("expected Closed, got {other:?}"),
            Ok(_) => panic!("try_run accepted a job after shutdown"),
        }
        assert_eq!(pool.stats().threads, 0);
    });
}

#[test]
fn limiter_try_run_after_shutdown_is_closed() {
    with_limiter(2, 1, |pool, limiter| {
        block_on(pool.shutdown());
        let err = limiter
            .try_run(|| 4)
            .expect_err("limiter accepted a job after shutdown");
        assert!(err.is_closed(), "{err:?}");
        assert_eq!(err.into_inner()(), 4);
    });
}

#[test]
fn shutdown_drains_limiter_waiters() {
    with_limiter(4, 1, |pool, limiter| {
        let gate = Gate::new();
        let done = Counter::new();
        for _ in 0..5 {
            limiter.run(gate.then(done.hook())).detach();
        }
        wait_until("4 limiter waiters", || limiter.stats().waiting == 4);
        let shutdown = pool.shutdown();
        gate.open();
        block_on(shutdown);
        assert_eq!(done.get(), 5, "shutdown lost limiter waiters");
        assert_eq!(pool.stats().threads, 0);
    });
}

#[test]
fn shutdown_drains_runs_waiting_for_queue_space() {
    guard(|| {
        let pool = bounded_pool(1, 1);
        let gate = Gate::new();
        let done = Counter::new();
        let runs: Vec<_> = (0..4).map(|_| pool.run(gate.then(done.hook()))).collect();
        wait_stats(&pool, "1 running, 1 queued", |s| {
            s.running == 1 && s.queued == 1
        });
        let shutdown = pool.shutdown();
        gate.open();
        // The Runs are alive (not dropped): every accepted job must run.
        block_on(futures::future::join_all(runs));
        block_on(shutdown);
        assert_eq!(done.get(), 4);
        assert_eq!(pool.stats().threads, 0);
    });
}

#[test]
fn shutdown_wakes_idle_threads_at_once() {
    guard(|| {
        // A keep-alive far beyond the guard: shutdown must wake idle
        // workers, not wait for them to expire.
        let pool = Pool::builder()
            .max_threads(4)
            .min_threads(2)
            .keep_alive(Duration::from_secs(3600))
            .build()
            .unwrap();
        let gate = Gate::new();
        let runs = held(&pool, 3, &gate);
        wait_stats(&pool, "3 jobs running", |s| s.running == 3);
        release(&gate, runs);
        block_on(pool.shutdown());
        assert_eq!(pool.stats().threads, 0, "{:?}", pool.stats());
    });
}

#[test]
fn shutdown_resolves_after_every_worker_has_exited() {
    guard(|| {
        let (starts, stops) = (Counter::new(), Counter::new());
        let pool = Pool::builder()
            .max_threads(3)
            .on_thread_start(starts.hook())
            .on_thread_stop(stops.hook())
            .build()
            .unwrap();
        let gate = Gate::new();
        let runs = occupy(&pool, 3, &gate);
        let shutdown = pool.shutdown();
        gate.open();
        block_on(shutdown);
        assert_eq!(starts.get(), 3);
        assert_eq!(
            stops.get(),
            3,
            "shutdown resolved before every worker ran on_thread_stop"
        );
        block_on(futures::future::join_all(runs));
    });
}

#[test]
fn shutdown_is_idempotent() {
    with_pool(2, |pool| {
        block_on(pool.run(|| ()));
        let a = pool.shutdown();
        let b = pool.shutdown();
        block_on(a);
        block_on(b);
        block_on(pool.shutdown());
        assert!(pool.shutdown_timeout(Duration::from_secs(5)));
    });
}

#[test]
fn shutdown_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(2);
        let runs: Vec<_> = (0..10).map(|i| pool.run(move || i)).collect();
        pool.shutdown().await;
        assert_eq!(pool.stats().threads, 0);
        let out = futures::future::join_all(runs).await;
        assert_eq!(out, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn shutdown_timeout_is_true_when_all_workers_exit() {
    with_pool(3, |pool| {
        let runs: Vec<_> = (0..6).map(|i| pool.run(move || i)).collect();
        assert!(pool.shutdown_timeout(DEADLINE), "workers did not exit");
        assert_eq!(pool.stats().threads, 0);
        assert_eq!(block_on(futures::future::join_all(runs)).len(), 6);
    });
}

#[test]
fn shutdown_timeout_is_false_while_a_job_is_blocked() {
    with_pool(2, |pool| {
        let gate = Gate::new();
        let run = pool.run(gate.then(|| "finished"));
        wait_stats(&pool, "the job running", |s| s.running == 1);
        assert!(
            !pool.shutdown_timeout(Duration::from_millis(100)),
            "shutdown_timeout claimed all workers exited while one is blocked"
        );
        // Closed already, but the accepted job is not lost.
        assert!(pool.try_run(|| ()).unwrap_err().is_closed());
        gate.open();
        assert_eq!(block_on(run), "finished");
        assert!(pool.shutdown_timeout(DEADLINE));
        assert_eq!(pool.stats().threads, 0);
    });
}

#[test]
fn dropping_the_last_handle_closes_without_blocking_and_jobs_complete() {
    guard(|| {
        let stops = Counter::new();
        let pool = Pool::builder()
            .max_threads(1)
            .on_thread_stop(stops.hook())
            .build()
            .unwrap();
        let gate = Gate::new();
        let first = pool.run(gate.then(|| 1));
        let second = pool.run(|| 2); // queued behind `first`
        let done = Counter::new();
        pool.run(done.hook()).detach();
        // Must return at once: the gate is only opened after the drop, so
        // a blocking drop would hang here until the guard fires.
        drop(pool);
        gate.open();
        assert_eq!(block_on(first), 1);
        assert_eq!(block_on(second), 2);
        done.wait_for(1);
        wait_until("the worker to exit after the last handle dropped", || {
            stops.get() == 1
        });
    });
}

#[test]
fn a_clone_keeps_the_pool_open() {
    with_pool(2, |pool| {
        let clone = pool.clone();
        drop(pool);
        assert_eq!(block_on(clone.run(|| 5)), 5);
        assert!(clone.try_run(|| ()).is_ok());
    });
}

#[test]
fn a_limiter_keeps_its_pool_alive() {
    with_limiter(2, 2, |pool, limiter| {
        drop(pool);
        assert_eq!(block_on(limiter.run(|| 3)), 3);
        let run = limiter
            .try_run(|| 4)
            .expect("the limiter's pool was closed");
        assert_eq!(block_on(run), 4);
    });
}
