//! The starvation detector behind [`Builder::on_starvation`](crate::Builder::on_starvation):
//! a check the timer thread runs for a pool (and its limiters) while jobs
//! of it wait with every thread, or token, busy.
//!
//! # Arming
//! A pool with a detector arms a check (`State::watch`) when a job has to
//! wait with every thread busy, or joins a limiter's waiters; the check is
//! scheduled `after` from then, once the pool lock is released. Nothing
//! is scheduled otherwise: no detector, or nothing waiting, costs nothing.
//!
//! # The check
//! Under the pool lock, for the pool and each of its limiters: if jobs
//! wait while everything they wait for is busy, and neither the oldest
//! waiter's acceptance nor the last finished job is more recent than
//! `after` ago, an episode starts (counted in `Stats::starved`, the hook
//! queued for the hook thread). An episode ends when a job of it finishes
//! (`worker::finish`, `Tokens::release_and_grant`) or nothing waits. The
//! check re-arms itself for the earliest time an episode could start, or
//! `after` on while one is under way, and disarms when nothing waits.

use std::time::{Duration, Instant};

use crate::config::Detector;
use crate::observe::hook_thread;
use crate::observe::timing::now_ns;
use crate::pool;
use crate::queue::Loc;
use crate::state::{Shared, State};
use crate::stats::Starvation;
use crate::sync::Arc;
use crate::timer::Due;

impl Due for Shared {
    fn fire(&self, now: Instant) -> Option<Instant> {
        let detector = self.config.starvation.as_ref()?;
        let after = detector.after.as_nanos() as u64;
        let mut st = self.lock();
        let now_ns = now_ns();
        let mut next = None;
        let mut episodes = Vec::new();
        // The pool: jobs queued (or waiting for queue space) while every
        // thread it may have runs a job.
        match st.oldest_queued().filter(|_| !st.ordinary_room()) {
            None => st.starving = false,
            Some(oldest) => {
                let since = oldest.max(st.last_finish);
                if st.starving {
                    next = Some(now_ns + after);
                } else if now_ns.saturating_sub(since) >= after {
                    st.starving = true;
                    st.starved += 1;
                    next = Some(now_ns + after);
                    episodes.push((None, now_ns.saturating_sub(oldest)));
                } else {
                    next = Some(since + after);
                }
            }
        }
        // Each limiter: waiters while every token is taken.
        let limiters = std::mem::take(&mut st.limiters);
        for weak in &limiters {
            if let Some(tokens) = weak.upgrade() {
                if let Some(waited) = tokens.check_starving(now_ns, after, &mut next) {
                    st.starved += 1;
                    episodes.push((Some(tokens.stats()), waited));
                }
            }
        }
        st.limiters = limiters;
        st.limiters.retain(|weak| weak.strong_count() > 0);
        let stats = (!episodes.is_empty()).then(|| pool::snapshot(self, &st));
        if next.is_none() {
            st.armed = false;
        }
        drop(st);
        if let Some(stats) = stats {
            for (limiter, waited) in episodes {
                let starvation = Starvation {
                    stats,
                    limiter,
                    oldest_wait: Duration::from_nanos(waited),
                };
                report(Arc::clone(detector), starvation);
            }
        }
        next.map(|at| now + Duration::from_nanos(at.saturating_sub(now_ns)))
    }
}

impl State {
    /// The oldest live job in the queue: when it was accepted.
    pub(crate) fn oldest_queued(&self) -> Option<u64> {
        self.queue
            .iter()
            .find(|job| job.loc() == Loc::Queue)
            .map(|job| job.accepted())
    }
}

/// Hands an episode to the hook, on the hook thread.
fn report(detector: Arc<Detector>, starvation: Starvation) {
    hook_thread::call(move || {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            limiter = starvation.limiter.is_some(),
            oldest_wait = ?starvation.oldest_wait,
            running = starvation.stats.running,
            max_threads = starvation.stats.max_threads,
            queued = starvation.stats.queued,
            "threadbridge: starvation: jobs wait while every thread (or token) is busy"
        );
        hook_thread::call_user("on_starvation", &detector.reported, || {
            (detector.hook)(&starvation)
        });
    });
}

/// loom: an episode against the job whose end ends it, and the hook
/// against the pool lock. The timer's firing is an event of the model
/// (loom has no clock): the model calls the pool's `fire`, as the timer
/// thread would; `after` is 1 ns, so a check with jobs waiting on busy
/// threads always finds them starving.
#[cfg(all(test, threadbridge_loom))]
mod loom_models {
    use std::time::{Duration, Instant};

    use loom::future::block_on;
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::thread;

    use crate::observe::loom_support::Gate;
    use crate::sync::Arc;
    use crate::timer::Due;
    use crate::Pool;

    /// One call per episode; a job finishing ends it, so the next
    /// saturation is a new episode; nothing waiting starts none; the hook
    /// runs outside every lock (it takes the pool lock itself: under it,
    /// a loom deadlock).
    #[test]
    fn an_episode_vs_the_job_that_ends_it() {
        loom::model(|| {
            // Snapshots hold two 2 KiB `Timing`s each: more than a loom
            // thread's default stack, so the model runs on threads (the
            // pool's worker included) with a bigger one.
            big_stack(model_body).join().unwrap();
        });
    }

    fn big_stack(f: impl FnOnce() + Send + 'static) -> thread::JoinHandle<()> {
        thread::Builder::new().stack_size(STACK).spawn(f).unwrap()
    }

    const STACK: usize = 1 << 20;

    fn model_body() {
        {
            let calls = std::sync::Arc::new(AtomicUsize::new(0));
            let slot: std::sync::Arc<std::sync::Mutex<Option<Pool>>> = Default::default();
            let (c, s) = (calls.clone(), slot.clone());
            let pool = Pool::builder()
                .max_threads(1)
                .stack_size(STACK)
                .on_starvation(Duration::from_nanos(1), move |_| {
                    c.fetch_add(1, SeqCst);
                    if let Some(pool) = s.lock().unwrap().as_ref() {
                        let _ = pool.stats();
                    }
                })
                .build()
                .unwrap();
            *slot.lock().unwrap() = Some(pool.clone());
            let gate = Gate::default();
            let held = pool.run(gate.waiter());
            let queued = pool.run(|| ());
            let shared = Arc::clone(pool.shared());
            let timer = big_stack(move || {
                let _ = shared.fire(Instant::now());
            });
            gate.open();
            timer.join().unwrap();
            block_on(held);
            block_on(queued);
            let first = calls.load(SeqCst);
            assert!(first <= 1, "one call per episode, got {first}");
            assert_eq!(pool.stats().starved as usize, first);

            // Saturated again after jobs finished: a new episode.
            let gate = Gate::default();
            let held = pool.run(gate.waiter());
            let queued = pool.run(|| ());
            while pool.stats().running < 1 {
                thread::yield_now();
            }
            let _ = pool.shared().fire(Instant::now());
            assert_eq!(
                calls.load(SeqCst),
                first + 1,
                "a finished job ended the episode"
            );
            gate.open();
            block_on(held);
            block_on(queued);

            // Nothing waits: no episode.
            let _ = pool.shared().fire(Instant::now());
            assert_eq!(calls.load(SeqCst), first + 1);
            slot.lock().unwrap().take();
            assert!(pool.shutdown_timeout(Duration::from_secs(3600)));
        }
    }
}
