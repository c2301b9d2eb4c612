//! Nesting: `block_on(pool.run(..))` inside a job of the same pool runs the
//! inner job inline instead of deadlocking on the cap; a limiter's cap
//! still holds for inline jobs. DESIGN semantic 10.

mod common;

use std::thread;

use common::*;

#[test]
fn nested_run_on_a_one_thread_pool_runs_inline() {
    with_pool(1, |pool| {
        let inner_pool = pool.clone();
        let (outer, inner, v) = block_on(pool.run(move || {
            let outer = thread::current().id();
            let (inner, v) =
                futures::executor::block_on(inner_pool.run(|| (thread::current().id(), 5)));
            (outer, inner, v + 1)
        }));
        assert_eq!(v, 6);
        assert_eq!(
            outer, inner,
            "the nested job did not run inline on the outer worker"
        );
        let stats = pool.stats();
        assert_eq!(stats.completed, 2, "{stats:?}");
        assert!(stats.threads <= 1, "{stats:?}");
    });
}

#[test]
fn nested_run_two_levels_deep() {
    with_pool(1, |pool| {
        let p1 = pool.clone();
        let v = block_on(pool.run(move || {
            let p2 = p1.clone();
            // futures' block_on refuses to nest inside itself, so the inner
            // levels use other executors.
            let mid = futures::executor::block_on(p1.run(move || {
                let inner = smol_block_on(p2.run(|| 1));
                inner + 10
            }));
            mid + 100
        }));
        assert_eq!(v, 111);
        assert_eq!(pool.stats().completed, 3);
    });
}

#[test]
fn nested_runs_while_other_jobs_wait_for_the_thread() {
    with_pool(1, |pool| {
        let inner_pool = pool.clone();
        let outer = pool.run(move || {
            (0..5)
                .map(|i| futures::executor::block_on(inner_pool.run(move || i)))
                .sum::<i32>()
        });
        let queued: Vec<_> = (0..5).map(|i| pool.run(move || i * 10)).collect();
        assert_eq!(block_on(outer), 10);
        assert_eq!(
            block_on(futures::future::join_all(queued)),
            vec![0, 10, 20, 30, 40]
        );
    });
}

#[test]
fn nested_run_under_another_executor_inside_the_job() {
    with_pool(1, |pool| {
        let inner_pool = pool.clone();
        let v = block_on(pool.run(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(inner_pool.run(|| 3))
        }));
        assert_eq!(v, 3);
    });
}

#[test]
fn nested_run_on_another_pool_runs_there() {
    guard(|| {
        let a = pool(1);
        let b = pool(1);
        let (outer, inner) = block_on(a.run(move || {
            let outer = thread::current().id();
            let inner = futures::executor::block_on(b.run(|| thread::current().id()));
            (outer, inner)
        }));
        assert_ne!(outer, inner, "a job for pool B ran on pool A's worker");
    });
}

#[test]
fn an_inline_nested_limiter_job_still_waits_for_its_token() {
    with_limiter(2, 1, |pool, limiter| {
        let gate = Gate::new();
        // Thread 1: a limiter job holds the only token.
        let holder = limiter.run(gate.waiter());
        wait_until("the token held", || limiter.stats().running == 1);
        // Thread 2: a plain job nests a limiter job; it must wait for the
        // token, not run inline at once.
        let inner_ran = Gate::new();
        let outer = {
            let (limiter, inner_ran) = (limiter.clone(), inner_ran.clone());
            pool.run(move || {
                let outer = thread::current().id();
                let inner = futures::executor::block_on(limiter.run(move || {
                    inner_ran.open();
                    thread::current().id()
                }));
                (outer, inner)
            })
        };
        wait_until("the nested limiter job waiting", || {
            limiter.stats().waiting == 1
        });
        assert_stays(SETTLE, "the nested job waits for the token", || {
            !inner_ran.is_open() && limiter.stats().running == 1
        });
        gate.open();
        block_on(holder);
        // Once granted, it may run inline or on the freed thread: either way
        // it completes.
        let _ = block_on(outer);
        assert!(inner_ran.is_open());
        assert_eq!(limiter.stats().running, 0);
    });
}

#[test]
fn nested_limiter_runs_inline_on_a_one_thread_pool() {
    with_limiter(1, 2, |_pool, limiter| {
        let inner = limiter.clone();
        let v = block_on(limiter.run(move || futures::executor::block_on(inner.run(|| 4)) * 2));
        assert_eq!(v, 8);
    });
}
