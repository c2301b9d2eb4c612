//! Panics: caught on the worker (which survives), resumed in the awaiting
//! task with the original payload, counted in `Stats.panicked`; unawaited
//! panics reach `Builder::on_panic`. DESIGN semantic 6.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use futures::FutureExt;
use threadbridge::Pool;

#[derive(Debug, PartialEq)]
struct CustomPayload(u32);

#[test]
fn a_panic_reaches_the_awaiter_with_its_str_payload() {
    with_pool(1, |pool| {
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            block_on(pool.run(|| -> u32 { panic!("boom 42") }))
        }));
        let payload = result.expect_err("the job's panic did not reach the awaiter");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom 42"));
    });
}

#[test]
fn a_panic_reaches_the_awaiter_with_its_string_payload() {
    with_pool(1, |pool| {
        let n = 7;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            block_on(pool.run(move || -> u32 { panic!("formatted {n}") }))
        }));
        let payload = result.unwrap_err();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("formatted 7")
        );
    });
}

#[test]
fn a_panic_reaches_the_awaiter_with_a_custom_payload() {
    with_pool(1, |pool| {
        let result = block_on(
            AssertUnwindSafe(pool.run(|| panic::panic_any(CustomPayload(9)))).catch_unwind(),
        );
        let payload = result.unwrap_err();
        assert_eq!(
            payload.downcast_ref::<CustomPayload>(),
            Some(&CustomPayload(9))
        );
    });
}

#[test]
fn the_worker_survives_a_panic() {
    with_pool(1, |pool| {
        let panicked_on = Arc::new(Mutex::new(None));
        let result = {
            let panicked_on = panicked_on.clone();
            block_on(
                AssertUnwindSafe(pool.run(move || {
                    *panicked_on.lock().unwrap() = Some(thread::current().id());
                    panic!("worker survives");
                }))
                .catch_unwind(),
            )
        };
        assert!(result.is_err());
        let next = block_on(pool.run(|| thread::current().id()));
        assert_eq!(
            Some(next),
            *panicked_on.lock().unwrap(),
            "the thread that panicked did not serve the next job"
        );
        let stats = pool.stats();
        assert_eq!(stats.threads, 1, "{stats:?}");
    });
}

#[test]
fn panics_are_counted_before_the_run_is_ready() {
    with_pool(2, |pool| {
        for i in 1..=sized(20u64, 5) {
            let r = block_on(AssertUnwindSafe(pool.run(|| panic!("counted"))).catch_unwind());
            assert!(r.is_err());
            let stats = pool.stats();
            assert_eq!(stats.panicked, i, "{stats:?}");
            assert_eq!(stats.completed, 0, "{stats:?}");
        }
    });
}

#[test]
fn many_panics_do_not_shrink_or_break_the_pool() {
    with_pool(2, |pool| {
        let n = sized(100, 20);
        let runs: Vec<_> = (0..n)
            .map(|i| {
                pool.run(move || {
                    if i % 2 == 0 {
                        panic!("even {i}");
                    }
                    i
                })
            })
            .collect();
        let mut ok = 0;
        for (i, run) in runs.into_iter().enumerate() {
            match block_on(AssertUnwindSafe(run).catch_unwind()) {
                Ok(v) => {
                    assert_eq!(v, i);
                    ok += 1;
                }
                Err(p) => assert_eq!(panic_message(&*p), format!("even {i}")),
            }
        }
        assert_eq!(ok, n / 2);
        let stats = pool.stats();
        let half = n as u64 / 2;
        assert_eq!((stats.completed, stats.panicked), (half, half), "{stats:?}");
        assert_eq!(block_on(pool.run(|| 1)), 1);
    });
}

fn hooked_pool() -> (Pool, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pool = {
        let seen = seen.clone();
        Pool::builder()
            .max_threads(1)
            .on_panic(move |payload| seen.lock().unwrap().push(panic_message(&*payload)))
            .build()
            .unwrap()
    };
    (pool, seen)
}

#[test]
fn a_panic_in_a_detached_job_reaches_on_panic() {
    guard(|| {
        let (pool, seen) = hooked_pool();
        pool.run(|| panic!("detached boom")).detach();
        wait_until("on_panic to be called", || !seen.lock().unwrap().is_empty());
        assert_eq!(*seen.lock().unwrap(), vec!["detached boom".to_owned()]);
        wait_stats(&pool, "1 panicked", |s| s.panicked == 1);
        // The pool still serves.
        assert_eq!(block_on(pool.run(|| 2)), 2);
    });
}

#[test]
fn a_panic_in_a_dropped_run_reaches_on_panic() {
    guard(|| {
        let (pool, seen) = hooked_pool();
        let started = Gate::new();
        let gate = Gate::new();
        let run = pool.run(started_then_held(&started, &gate, || {
            panic!("abandoned boom");
        }));
        started.wait();
        drop(run);
        gate.open();
        wait_until("on_panic to be called", || !seen.lock().unwrap().is_empty());
        assert_eq!(*seen.lock().unwrap(), vec!["abandoned boom".to_owned()]);
        wait_stats(&pool, "1 panicked", |s| s.panicked == 1);
    });
}

#[test]
fn an_awaited_panic_is_delivered_to_the_awaiter_once() {
    guard(|| {
        let (pool, seen) = hooked_pool();
        let r = block_on(AssertUnwindSafe(pool.run(|| panic!("awaited"))).catch_unwind());
        assert_eq!(panic_message(&*r.unwrap_err()), "awaited");
        // Let any stray hook call land before checking.
        block_on(pool.run(|| ()));
        assert!(
            seen.lock().unwrap().is_empty(),
            "an awaited panic also went to on_panic: {:?}",
            seen.lock().unwrap()
        );
    });
}

#[test]
fn a_limiter_job_panic_returns_its_token() {
    with_limiter(2, 1, |_pool, limiter| {
        let r = block_on(AssertUnwindSafe(limiter.run(|| panic!("limited"))).catch_unwind());
        assert!(r.is_err());
        let s = limiter.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
        assert_eq!(block_on(limiter.run(|| 3)), 3);
    });
}
