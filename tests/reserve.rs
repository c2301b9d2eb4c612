//! Reserved threads (`Pool::reserve`): the calls that must get through
//! while the pool is saturated. Every wait is on an event (a gate, a
//! stats condition) with the suite's generous deadline.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use threadbridge::Pool;

/// A pool whose idle threads would stay for an hour: a thread that leaves
/// was told to, not timed out.
fn pool_keeping_threads(max_threads: usize, queue_capacity: usize) -> Pool {
    Pool::builder()
        .max_threads(max_threads)
        .queue_capacity(queue_capacity)
        .keep_alive(Duration::from_secs(3600))
        .build()
        .unwrap()
}

#[test]
fn a_reserved_job_runs_while_the_pool_and_its_queue_are_full() {
    on_executors(TWO, |_| async {
        let pool = pool_keeping_threads(1, 1);
        let health = pool.reserve(1);
        let held = HeldThread::new(&pool);
        let queued = pool.run(|| "queued");
        assert!(pool.try_run(|| ()).unwrap_err().is_full());
        // Not behind the queue, not refused for its lack of room.
        assert_eq!(health.run(|| "ok").await, "ok");
        let tried = health.try_run(|| "tried").map_err(|_| "refused").unwrap();
        assert_eq!(tried.await, "tried");
        let s = pool.stats();
        assert_eq!(
            (s.reserved, s.threads, s.queued, s.running),
            (1, 2, 1, 1),
            "{s:?}"
        );
        held.release().await;
        assert_eq!(queued.await, "queued");
    });
}

#[test]
fn ordinary_jobs_never_take_the_thread_set_aside() {
    on_executors(TWO, |_| async {
        let pool = pool_keeping_threads(2, usize::MAX);
        let health = pool.reserve(1);
        let conc = Concurrency::new();
        let gate = Gate::new();
        let ordinary: Vec<_> = (0..5).map(|_| pool.run(conc.hold(&gate))).collect();
        wait_until("two ordinary jobs run", || conc.now() == 2);
        // The reserved job starts the set-aside thread, runs and leaves it idle.
        health.run(|| ()).await;
        let s = wait_stats(&pool, "the set-aside thread idle", |s| s.idle_threads == 1);
        assert_eq!((s.threads, s.running, s.queued), (3, 2, 3), "{s:?}");
        assert_stays(SETTLE, "the idle thread stays free", || {
            conc.now() == 2 && pool.stats().idle_threads == 1
        });
        // And it is there for the next reserved job at once.
        health.run(|| ()).await;
        gate.open();
        for run in ordinary {
            run.await;
        }
        assert_eq!(conc.peak(), 2, "never more ordinary jobs than max_threads");
    });
}

#[test]
fn threads_stay_within_max_threads_plus_reserved() {
    on_executors(TWO, |_| async {
        let pool = pool_keeping_threads(2, usize::MAX);
        let urgent = pool.reserve(2);
        let gate = Gate::new();
        let ordinary = held(&pool, 3, &gate);
        let reserved: Vec<_> = (0..3).map(|_| urgent.run(gate.waiter())).collect();
        let s = wait_stats(&pool, "two of each running", |s| s.running == 4);
        assert_eq!((s.threads, s.reserved, s.queued), (4, 2, 1), "{s:?}");
        let l = urgent.stats();
        assert_eq!((l.running, l.waiting), (2, 1), "{l:?}");
        assert_stays(SETTLE, "no fifth thread", || pool.stats().threads == 4);
        gate.open();
        for run in ordinary.into_iter().chain(reserved) {
            run.await;
        }
        assert!(pool.stats().threads <= 4);
    });
}

#[test]
fn dropping_the_last_handle_ends_the_reservation_at_once() {
    on_executors(TWO, |_| async {
        let pool = pool_keeping_threads(1, usize::MAX);
        let health = pool.reserve(1);
        let clone = health.clone();
        let held = HeldThread::new(&pool);
        // A set-aside thread, left idle; then a reserved job holding the
        // only token, and one waiting for it.
        health.run(|| ()).await;
        let reserved_gate = Gate::new();
        let holding = health.run(reserved_gate.waiter());
        let waiting = health.run(|| "ran as ordinary");
        wait_stats(&pool, "the reserved job runs", |s| s.running == 2);
        drop(health);
        assert_eq!(pool.stats().reserved, 1, "a clone still holds it");
        drop(clone);
        let s = pool.stats();
        assert_eq!((s.reserved, s.threads), (0, 2), "{s:?}");
        // Its waiter now runs as an ordinary job: behind the busy thread.
        reserved_gate.open();
        holding.await;
        let s = wait_stats(&pool, "the set-aside thread gone", |s| s.threads == 1);
        assert_eq!(s.queued, 1, "{s:?}");
        held.release().await;
        assert_eq!(waiting.await, "ran as ordinary");
    });
}

#[test]
fn set_limit_resizes_the_reservation_and_zero_pauses_it() {
    on_executors(TWO, |_| async {
        let pool = pool_keeping_threads(1, usize::MAX);
        let urgent = pool.reserve(1);
        urgent.set_limit(3).unwrap();
        assert_eq!(pool.stats().reserved, 3);
        urgent.set_limit(0).unwrap();
        assert_eq!(pool.stats().reserved, 0);
        let paused = urgent.run(|| 1);
        assert_stays(SETTLE, "a paused reservation runs nothing", || {
            urgent.stats().waiting == 1
        });
        urgent.set_limit(1).unwrap();
        assert_eq!(paused.await, 1);
        assert_eq!(pool.stats().reserved, 1);
        // set_max_threads leaves reservations alone.
        pool.set_max_threads(4).unwrap();
        assert_eq!(pool.stats().reserved, 1);
    });
}

#[test]
fn reserve_zero_panics_naming_the_argument() {
    with_pool(1, |pool| {
        let msg = expect_panic("pool.reserve(0)", || pool.reserve(0));
        assert!(msg.contains("reserve(n)") && msg.contains('0'), "{msg:?}");
    });
}

#[test]
fn a_nested_run_in_a_reserved_job_runs_inline() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let held = HeldThread::new(&pool);
        let urgent = pool.reserve(1);
        let inner = pool.clone();
        // The ordinary cap is reached: the nested job runs right here.
        let out = urgent
            .run(move || futures::executor::block_on(inner.run(|| 5)))
            .await;
        assert_eq!(out, 5);
        held.release().await;
    });
}

#[test]
fn shutdown_waits_for_the_set_aside_threads() {
    on_executors(TWO, |_| async {
        let pool = pool_keeping_threads(1, usize::MAX);
        let urgent = pool.reserve(1);
        let held = HeldThread::new(&pool);
        let reserved_gate = Gate::new();
        let reserved = urgent.run(reserved_gate.waiter());
        wait_stats(&pool, "both running", |s| s.running == 2);
        let shutdown = pool.shutdown();
        held.release().await;
        assert!(
            !pool.shutdown_timeout(Duration::from_millis(20)),
            "the reserved job still runs"
        );
        reserved_gate.open();
        reserved.await;
        shutdown.await;
        assert_eq!(pool.stats().threads, 0);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the crate's timer and hook threads outlive the test (Miri reports live threads at exit)"
)]
fn set_aside_threads_do_not_count_against_starvation() {
    on_executors(TWO, |_| async {
        let starved = Arc::new(AtomicUsize::new(0));
        let s2 = starved.clone();
        let pool = Pool::builder()
            .max_threads(1)
            .keep_alive(Duration::from_secs(3600))
            .on_starvation(Duration::from_millis(10), move |_| {
                s2.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        let urgent = pool.reserve(1);
        let held = HeldThread::new(&pool);
        urgent.run(|| ()).await;
        // An idle thread exists, but ordinary jobs may not have it.
        let queued = pool.run(|| ());
        wait_until("the starvation signal", || starved.load(SeqCst) == 1);
        assert_eq!(pool.stats().idle_threads, 1);
        held.release().await;
        queued.await;
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_reserved_run_by_expires_like_any_other() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let urgent = pool.reserve(1);
        let gate = Gate::new();
        let holding = urgent.run(gate.waiter());
        let deadline = std::time::Instant::now() + Duration::from_millis(20);
        assert!(urgent.run_by(deadline, |_| ()).await.is_err());
        let l = urgent.stats();
        assert_eq!((l.expired, l.waiting, l.running), (1, 0, 1), "{l:?}");
        gate.open();
        holding.await;
    });
}
