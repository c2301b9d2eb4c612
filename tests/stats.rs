//! Stats: every accepted job ends in exactly one of completed / panicked /
//! cancelled; gauges return to zero; counters are updated before a `Run`
//! becomes ready.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use futures::FutureExt;
use threadbridge::{Pool, Stats};

#[test]
fn stats_add_up_after_many_mixed_jobs() {
    guard(|| {
        const TASKS: u64 = 8;
        const PER_TASK: u64 = sized(2_500, 25); // 20_000 jobs in all (200 under Miri)
        let hook_calls = Arc::new(AtomicU64::new(0));
        let pool = {
            let hook_calls = hook_calls.clone();
            Pool::builder()
                .max_threads(4)
                .on_panic(move |_| {
                    hook_calls.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap()
        };
        let limiter = pool.limiter(2);
        let submitted = Arc::new(AtomicU64::new(0));
        let rt = tokio_multi_thread();
        rt.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let (pool, limiter, submitted) =
                        (pool.clone(), limiter.clone(), submitted.clone());
                    tokio::spawn(async move {
                        for i in 0..PER_TASK {
                            submitted.fetch_add(1, Ordering::SeqCst);
                            let panics = (i + t) % 7 == 0;
                            let job = move || {
                                if panics {
                                    panic!("mixed");
                                }
                                i
                            };
                            let run = if i % 3 == 0 {
                                limiter.run(job)
                            } else {
                                pool.run(job)
                            };
                            match i % 4 {
                                0 => drop(run), // often before it starts
                                1 => run.detach(),
                                _ => {
                                    let r = AssertUnwindSafe(run).catch_unwind().await;
                                    assert_eq!(r.is_err(), panics);
                                }
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let submitted = submitted.load(Ordering::SeqCst);
        assert_eq!(submitted, TASKS * PER_TASK);
        let settled = |s: &Stats| s.completed + s.panicked + s.cancelled >= submitted;
        let stats = wait_stats(&pool, "every job accounted for", settled);
        assert_eq!(
            stats.completed + stats.panicked + stats.cancelled,
            submitted,
            "completed + panicked + cancelled != submitted: {stats:?}"
        );
        let stats = wait_stats(&pool, "gauges back to zero", |s| {
            s.running == 0 && s.queued == 0
        });
        assert_eq!(
            stats.completed + stats.panicked + stats.cancelled,
            submitted,
            "{stats:?}"
        );
        assert_eq!(stats.rejected, 0, "{stats:?}");
        assert!(stats.threads <= 4, "{stats:?}");
        let l = limiter.stats();
        assert_eq!((l.running, l.waiting), (0, 0), "{l:?}");
        // Every panic nobody awaited went to on_panic; awaited ones did not.
        assert!(stats.panicked > 0 && stats.cancelled > 0, "{stats:?}");
        let detached_panics = (0..TASKS)
            .flat_map(|t| (0..PER_TASK).map(move |i| (t, i)))
            .filter(|&(t, i)| i % 4 == 1 && (i + t) % 7 == 0)
            .count() as u64;
        let hooked = hook_calls.load(Ordering::SeqCst);
        assert!(
            hooked >= detached_panics && hooked <= stats.panicked,
            "on_panic saw {hooked} panics; {detached_panics} detached jobs panicked: {stats:?}"
        );
    });
}

#[test]
fn completed_includes_a_job_as_soon_as_its_await_returns() {
    on_every_executor(|_| async {
        let pool = pool(2);
        for i in 1..=sized(200u64, 20) {
            pool.run(|| ()).await;
            let stats = pool.stats();
            assert_eq!(stats.completed, i, "{stats:?}");
            assert_eq!(
                stats.running, 0,
                "the finished job still counts as running: {stats:?}"
            );
        }
    });
}

#[test]
fn panicked_includes_a_job_as_soon_as_its_await_returns() {
    on_every_executor(|_| async {
        let pool = pool(2);
        for i in 1..=sized(50u64, 10) {
            let r = AssertUnwindSafe(pool.run(|| panic!("p")))
                .catch_unwind()
                .await;
            assert!(r.is_err());
            let stats = pool.stats();
            assert_eq!(stats.panicked, i, "{stats:?}");
        }
    });
}

#[test]
fn gauges_reflect_running_queued_and_idle_threads() {
    with_pool(2, |pool| {
        let s = pool.stats();
        assert_eq!(
            (s.threads, s.idle_threads, s.running, s.queued),
            (0, 0, 0, 0),
            "{s:?}"
        );
        let gate = Gate::new();
        let runs = held(&pool, 5, &gate);
        let s = wait_stats(&pool, "2 running, 3 queued", |s| {
            s.running == 2 && s.queued == 3
        });
        assert_eq!((s.threads, s.idle_threads), (2, 0), "{s:?}");
        assert_eq!(s.completed, 0, "{s:?}");
        release(&gate, runs);
        let s = wait_stats(&pool, "both threads idle", |s| s.idle_threads == 2);
        assert_eq!(
            (s.threads, s.running, s.queued, s.completed),
            (2, 0, 0, 5),
            "{s:?}"
        );
        assert!(s.spinning_threads <= s.idle_threads, "{s:?}");
    });
}

#[test]
fn an_idle_pool_stops_spinning() {
    with_pool(4, |pool| {
        for round in 0..50 {
            let gate = Gate::new();
            let runs = held(&pool, 4, &gate);
            release(&gate, runs);
            block_on(pool.run(move || round));
            let s = pool.stats();
            assert!(s.spinning_threads <= 2, "at most two spin: {s:?}");
            assert!(s.spinning_threads <= s.idle_threads, "{s:?}");
        }
        wait_stats(&pool, "every idle thread parked", |s| {
            s.idle_threads == 4 && s.spinning_threads == 0
        });
    });
}

#[test]
fn limiter_stats_start_empty_and_report_the_limit() {
    with_limiter(2, 3, |_pool, limiter| {
        let s = limiter.stats();
        assert_eq!((s.limit, s.running, s.waiting), (3, 0, 0), "{s:?}");
        limiter.set_limit(5).unwrap();
        assert_eq!(limiter.stats().limit, 5);
    });
}

#[test]
fn stats_are_a_copyable_snapshot() {
    fn assert_copy_debug<T: Copy + Clone + std::fmt::Debug + Send + Sync + 'static>() {}
    assert_copy_debug::<Stats>();
    assert_copy_debug::<threadbridge::LimiterStats>();
    with_pool(1, |pool| {
        let before = pool.stats();
        block_on(pool.run(|| ()));
        let after = pool.stats();
        assert_eq!(before.completed, 0, "a snapshot must not change later");
        assert_eq!(after.completed, 1);
    });
}
