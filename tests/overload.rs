//! Overload: `run_by` deadlines that never start a late job, and
//! `set_limit(0)`, which pauses a call site. No assertion depends on how
//! fast the machine is: a job meant to expire is held behind a gate that
//! opens only after it expired; one meant to run has a deadline minutes
//! away.
//!
//! Under Miri, a test that arms a deadline is ignored: the crate's timer
//! thread starts with the first deadline and parks for good, and Miri
//! reports a thread still alive when the test binary exits.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use threadbridge::CancelToken;

/// A budget short enough for a test to wait out.
const BUDGET: Duration = Duration::from_millis(30);

fn soon() -> Instant {
    Instant::now() + BUDGET
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

/// A closure that records whether it ran.
fn tracked(ran: &Arc<AtomicBool>) -> impl FnOnce(&CancelToken) -> u32 + Send + 'static {
    let ran = ran.clone();
    move |_| {
        ran.store(true, SeqCst);
        7
    }
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_job_whose_deadline_passes_waiting_for_a_thread_never_starts() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let held = HeldThread::new(&pool);
        let ran = Arc::new(AtomicBool::new(false));
        let submitted = Instant::now();
        // The only thread stays busy until after this resolves: the timer
        // expires it, not a worker that got free.
        let expired = pool.run_by(soon(), tracked(&ran)).await.unwrap_err();
        assert!(submitted.elapsed() >= BUDGET);
        assert!(expired.waited() <= submitted.elapsed(), "{expired:?}");
        assert!(expired.to_string().contains("deadline"), "{expired}");
        let s = pool.stats();
        assert_eq!((s.expired, s.queued, s.running), (1, 0, 1), "{s:?}");
        held.release().await;
        // The closure came back, never called; it still works.
        let f = expired.into_inner();
        assert!(!ran.load(SeqCst));
        assert_eq!(pool.run_cancellable(f).await, 7);
        assert!(ran.load(SeqCst));
        let s = pool.stats();
        assert_eq!((s.expired, s.completed, s.cancelled), (1, 2, 0), "{s:?}");
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_token_waiter_that_expires_passes_the_token_on() {
    on_executors(TWO, |_| async {
        let pool = pool(4);
        let limiter = pool.limiter(1);
        let gate = Gate::new();
        let holder = limiter.run(gate.waiter());
        wait_until("the token taken", || limiter.stats().running == 1);
        let ran = Arc::new(AtomicBool::new(false));
        let late = limiter.run_by(soon(), tracked(&ran));
        let next = limiter.run(|| "next");
        assert_eq!(limiter.stats().waiting, 2);
        assert!(late.await.is_err());
        let l = limiter.stats();
        assert_eq!((l.expired, l.waiting, l.running), (1, 1, 1), "{l:?}");
        assert_eq!(pool.stats().expired, 1);
        // The holder's token goes to the waiter behind the expired one.
        gate.open();
        holder.await;
        assert_eq!(next.await, "next");
        assert!(!ran.load(SeqCst));
        let l = limiter.stats();
        assert_eq!((l.running, l.waiting), (0, 0), "{l:?}");
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_job_holding_its_token_in_the_queue_gives_it_back_when_it_expires() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let limiter = pool.limiter(1);
        let held = HeldThread::new(&pool);
        // Gets the token at once, then waits in the pool's queue.
        let late = limiter.run_by(soon(), |_| ());
        assert_eq!(limiter.stats().running, 1);
        assert!(late.await.is_err());
        let l = limiter.stats();
        assert_eq!((l.running, l.waiting, l.expired), (0, 0, 1), "{l:?}");
        // The token is free: the next job of the limiter takes it and runs.
        let next = limiter.run(|| 1);
        assert_eq!(limiter.stats().running, 1);
        held.release().await;
        assert_eq!(next.await, 1);
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_job_waiting_for_queue_space_expires_and_frees_its_place() {
    on_executors(TWO, |_| async {
        let pool = bounded_pool(1, 1);
        let held = HeldThread::new(&pool);
        let queued = pool.run(|| "queued");
        let late = pool.run_by(soon(), |_| "late");
        let s = pool.stats();
        assert_eq!((s.queued, s.waiting), (1, 1), "{s:?}");
        assert!(late.await.is_err());
        let s = pool.stats();
        assert_eq!((s.queued, s.waiting, s.expired), (1, 0, 1), "{s:?}");
        held.release().await;
        assert_eq!(queued.await, "queued");
    });
}

#[test]
fn a_deadline_already_past_expires_at_once_without_a_thread() {
    on_executors(TWO, |_| async {
        let pool = pool(2);
        let ran = Arc::new(AtomicBool::new(false));
        let past = Instant::now() - Duration::from_millis(1);
        let run = pool.run_by(past, tracked(&ran));
        // Counted before the Run is even polled; no thread was started.
        let s = pool.stats();
        assert_eq!((s.expired, s.threads, s.queued), (1, 0, 0), "{s:?}");
        let expired = run.await.unwrap_err();
        assert!(expired.waited() < Duration::from_secs(60));
        assert!(!ran.load(SeqCst));
        // And on a limiter, whose token it never took.
        let limiter = pool.limiter(1);
        assert!(limiter.run_by(past, |_| ()).await.is_err());
        let l = limiter.stats();
        assert_eq!((l.expired, l.running, l.waiting), (1, 0, 0), "{l:?}");
        assert_eq!(pool.stats().expired, 2);
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_started_job_runs_to_its_end_and_its_token_turns_cancelled_at_the_deadline() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let deadline = soon();
        let out = pool
            .run_by(deadline, move |token| {
                assert_eq!(token.deadline(), Some(deadline));
                wait_until("the token cancelled by its deadline", || {
                    token.is_cancelled()
                });
                assert!(Instant::now() >= deadline);
                "finished anyway"
            })
            .await;
        assert_eq!(out.unwrap(), "finished anyway");
        let s = pool.stats();
        assert_eq!((s.completed, s.expired), (1, 0), "{s:?}");
        // A run_cancellable job has no deadline.
        assert_eq!(pool.run_cancellable(|token| token.deadline()).await, None);
        // Far from its deadline, a job is not cancelled.
        assert!(!pool.run_by(far(), |t| t.is_cancelled()).await.unwrap());
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_detached_job_that_expires_drops_its_closure_unrun() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        struct Dropped(Arc<AtomicBool>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.store(true, SeqCst);
            }
        }
        let held = HeldThread::new(&pool);
        let dropped = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicBool::new(false));
        let witness = Dropped(dropped.clone());
        let r = ran.clone();
        pool.run_by(soon(), move |_| {
            let _witness = witness;
            r.store(true, SeqCst);
        })
        .detach();
        wait_stats(&pool, "the detached job expired", |s| s.expired == 1);
        wait_until("its closure dropped", || dropped.load(SeqCst));
        held.release().await;
        let s = wait_stats(&pool, "idle", |s| s.running == 0);
        assert!(!ran.load(SeqCst));
        assert_eq!((s.completed, s.expired, s.cancelled), (1, 1, 0), "{s:?}");
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_run_dropped_before_its_deadline_is_cancelled_not_expired() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let held = HeldThread::new(&pool);
        drop(pool.run_by(soon(), |_| ()));
        assert_eq!(pool.stats().cancelled, 1);
        // Past its deadline, nothing more is counted for it.
        std::thread::sleep(BUDGET * 3);
        held.release().await;
        let s = wait_stats(&pool, "idle", |s| s.running == 0);
        assert_eq!((s.cancelled, s.expired, s.completed), (1, 0, 1), "{s:?}");
    });
}

#[test]
fn run_by_after_shutdown_panics_like_run() {
    with_pool(1, |pool| {
        drop(pool.shutdown());
        let msg = expect_panic("run_by after shutdown", || pool.run_by(far(), |_| ()));
        assert!(
            msg.contains("shut down") && msg.contains("try_run"),
            "{msg:?}"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn shutdown_expires_a_waiting_job_past_its_deadline_and_runs_the_rest() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let held = HeldThread::new(&pool);
        let late = pool.run_by(soon(), |_| "late");
        let kept = pool.run_by(far(), |_| "kept");
        let shutdown = pool.shutdown();
        assert!(late.await.is_err());
        held.release().await;
        assert_eq!(kept.await.unwrap(), "kept");
        shutdown.await;
        let s = pool.stats();
        assert_eq!((s.completed, s.expired, s.threads), (2, 1, 0), "{s:?}");
    });
}

/// Each accepted job ends in exactly one of completed, cancelled or
/// expired, and a job's closure ran exactly when its Run says so.
#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn every_job_ends_in_exactly_one_way_under_a_flood_of_deadlines() {
    guard(|| {
        let pool = pool(2);
        let limiter = pool.limiter(1);
        let n = sized(400, 40);
        let ran = Arc::new(AtomicUsize::new(0));
        let mut runs = Vec::new();
        let mut dropped = 0;
        for i in 0..n {
            let ran = ran.clone();
            // Deadlines from already past to comfortably far, jobs that
            // take a little while: some expire, some run.
            let deadline = Instant::now() + Duration::from_micros((i % 7) as u64 * 300);
            let job = move |_: &CancelToken| {
                ran.fetch_add(1, SeqCst);
                std::thread::sleep(Duration::from_micros(200));
            };
            let run = if i % 3 == 0 {
                limiter.run_by(deadline, job)
            } else {
                pool.run_by(deadline, job)
            };
            if i % 11 == 0 {
                drop(run);
                dropped += 1;
            } else {
                runs.push(run);
            }
        }
        let mut ok = 0;
        let mut expired = 0;
        for run in runs {
            match block_on(run) {
                Ok(()) => ok += 1,
                Err(_) => expired += 1,
            }
        }
        let s = wait_stats(&pool, "idle", |s| s.running == 0 && s.queued == 0);
        // Each submitted job is counted once: completed, cancelled (a
        // dropped Run, before its start) or expired.
        assert_eq!(s.completed + s.cancelled + s.expired, n as u64, "{s:?}");
        // A closure ran exactly for the completed jobs.
        assert_eq!(ran.load(SeqCst) as u64, s.completed, "{s:?}");
        // The awaited Runs told the truth; the dropped ones account for
        // the rest (they may have started or expired before the drop).
        assert!(s.completed >= ok && s.completed - ok <= dropped, "{s:?}");
        assert!(
            s.expired >= expired && s.expired - expired <= dropped,
            "{s:?}"
        );
        assert!(s.cancelled <= dropped, "{s:?}");
        assert!(s.expired > 0 && s.completed > 0, "a mix, as meant: {s:?}");
        assert_eq!(limiter.stats().running, 0);
    });
}

#[test]
fn set_limit_zero_pauses_then_resumes_the_waiters() {
    on_executors(TWO, |_| async {
        let pool = pool(4);
        let limiter = pool.limiter(2);
        let gate = Gate::new();
        let running = limiter.run(gate.waiter());
        wait_until("a job of the limiter runs", || limiter.stats().running == 1);
        limiter.set_limit(0).expect("0 pauses, it is no error");
        let waiters: Vec<_> = (0..3).map(|i| limiter.run(move || i)).collect();
        assert_eq!(limiter.stats().waiting, 3);
        // The running job finishes; nothing starts in its place.
        gate.open();
        running.await;
        assert_stays(SETTLE, "nothing starts while paused", || {
            let l = limiter.stats();
            l.running == 0 && l.waiting == 3
        });
        assert_eq!(pool.stats().completed, 1);
        limiter.set_limit(2).unwrap();
        let out: Vec<i32> = futures::future::join_all(waiters).await;
        assert_eq!(out, [0, 1, 2]);
        assert_eq!(limiter.stats().limit, 2);
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_paused_limiter_is_not_starved_and_its_deadline_jobs_expire() {
    on_executors(TWO, |_| async {
        let starved = Arc::new(AtomicUsize::new(0));
        let s2 = starved.clone();
        let pool = threadbridge::Pool::builder()
            .max_threads(2)
            .on_starvation(Duration::from_millis(10), move |_| {
                s2.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        let limiter = pool.limiter(1);
        limiter.set_limit(0).unwrap();
        let waiter = limiter.run(|| ());
        let late = limiter.run_by(soon(), |_| ());
        assert!(late.await.is_err());
        assert_eq!(limiter.stats().expired, 1);
        assert_stays(SETTLE, "a paused limiter is not starved", || {
            starved.load(SeqCst) == 0
        });
        assert_eq!(pool.stats().starved, 0);
        limiter.set_limit(1).unwrap();
        waiter.await;
    });
}

#[test]
fn a_limiter_of_zero_still_panics_at_creation() {
    with_pool(1, |pool| {
        let msg = expect_panic("pool.limiter(0)", || pool.limiter(0));
        assert!(msg.contains("limit") && msg.contains('0'), "{msg:?}");
    });
}

#[test]
#[cfg_attr(miri, ignore = "the timer thread outlives the test")]
fn a_nested_run_by_past_its_deadline_expires_instead_of_running_inline() {
    on_executors(TWO, |_| async {
        let pool = pool(1);
        let inner = pool.clone();
        let out = pool
            .run(move || {
                let run = inner.run_by(soon(), |_| "inline");
                // Let the deadline pass while this, the only thread, holds it.
                std::thread::sleep(BUDGET * 2);
                futures::executor::block_on(run).map_err(|e| e.waited())
            })
            .await;
        assert!(out.is_err(), "{out:?}");
        let s = pool.stats();
        assert_eq!((s.expired, s.completed), (1, 1), "{s:?}");
    });
}
