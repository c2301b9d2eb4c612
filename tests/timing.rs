//! The pool's and a limiter's `Timing` figures: one entry per started job,
//! recorded before its `Run` is ready; waits include the limiter's; a
//! cancelled job is not counted. Durations are only bounded from below
//! (a sleep lasts at least its length), never asserted to be short.

mod common;

use std::time::Duration;

use common::*;

const NAP: Duration = Duration::from_millis(20);

#[test]
fn every_started_job_has_one_entry_before_its_await_returns() {
    on_executors(TWO, |_| async {
        let pool = pool(2);
        for i in 1..=5u64 {
            pool.run(|| ()).await;
            let stats = pool.stats();
            assert_eq!(
                stats.queue_wait.count(),
                i,
                "queue_wait counted before ready"
            );
            assert_eq!(stats.run_time.count(), i, "run_time counted before ready");
        }
        pool.run(|| std::thread::sleep(NAP)).await;
        let run_time = pool.stats().run_time;
        assert!(run_time.max() >= NAP, "{run_time:?}");
        assert_eq!(run_time.quantile(1.0), run_time.max());
    });
}

#[test]
fn a_job_queued_behind_a_busy_thread_waits_at_least_that_long() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let hold = pool.run(|| std::thread::sleep(NAP));
        let queued = pool.run(|| ());
        hold.await;
        queued.await;
        let waits = pool.stats().queue_wait;
        assert_eq!(waits.count(), 2);
        // The queued job waited for the whole nap, less the time the first
        // took to start (at most the nap itself, bounded below by 0).
        assert!(waits.max() >= NAP / 2, "{waits:?}");
    });
}

#[test]
fn a_limiters_token_wait_is_part_of_the_queue_wait() {
    on_executors(TWO, |_| async {
        let pool = pool(4);
        let limiter = pool.limiter(1);
        let first = limiter.run(|| std::thread::sleep(NAP));
        let second = limiter.run(|| ());
        first.await;
        second.await;
        let lim = limiter.stats();
        assert_eq!((lim.token_wait.count(), lim.run_time.count()), (2, 2));
        assert!(lim.token_wait.max() >= NAP / 2, "{:?}", lim.token_wait);
        assert_eq!(
            lim.token_wait.quantile(0.0),
            std::time::Duration::ZERO,
            "the first job got its token at once"
        );
        let pool_waits = pool.stats().queue_wait;
        assert!(
            pool_waits.max() >= lim.token_wait.max(),
            "token wait is part of it"
        );
        assert!(lim.run_time.max() >= NAP);
    });
}

#[test]
fn a_cancelled_job_has_no_entry() {
    with_pool(1, |pool| {
        let held = HeldThread::new(&pool);
        drop(pool.run(|| ()));
        block_on(held.release());
        let stats = wait_stats(&pool, "the held job ended", |s| s.running == 0);
        assert_eq!(stats.cancelled, 1);
        assert_eq!((stats.queue_wait.count(), stats.run_time.count()), (1, 1));
        let window = stats.run_time.since(&stats.run_time);
        assert_eq!(window.count(), 0);
    });
}
