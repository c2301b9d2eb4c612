//! Deadlines (`run_by`): a pending job whose deadline passes never starts.
//!
//! # How
//! A `run_by` job's deadline lives in its closure's shape
//! ([`Deadline`](crate::work::Deadline)), so a job without one keeps its
//! size and path. While such a job waits — for a limiter's token, for a
//! thread, or for queue space — it is also in the pool's `deadlines` map
//! (under the pool lock); every step that ends its wait (claim, withdraw,
//! refusal, expiry) takes it out. It expires on whichever comes first:
//!
//! * the pool's check on the crate's one timer thread, scheduled (once
//!   the lock is released) for the earliest pending deadline, so a job
//!   expires within a few milliseconds of its deadline even if no thread
//!   ever frees up;
//! * its claim: a worker (or a nested `Run` taking it back inline) that
//!   finds the deadline passed expires it instead of starting it.
//!
//! Either way under the pool lock and the job's own, so a job never both
//! expires and starts. Its queue slot or limiter token goes to the next
//! job; its `Run` is woken with `Err(Expired)`, or, if nobody awaits it,
//! its closure is dropped once the lock is released.
//!
//! # Scheduling the check
//! `deadline_armed` is the earliest time a check is scheduled; a new job
//! with an earlier deadline schedules one more. A check that finds its
//! time was the armed one re-arms for the next deadline; an earlier armed
//! time means a later, stale entry, which ends there. So each entry on the
//! timer fires once, and none is scheduled while no deadline is pending.

use std::time::Instant;

use crate::queue::{Expiry, Loc, Task};
use crate::state::Shared;
use crate::state::State;
use crate::sync::Arc;
use crate::timer::Due;
use crate::worker;
use std::sync::Weak;

impl State {
    /// A pending job with a deadline: expired by the timer if it still
    /// waits then.
    pub(crate) fn add_deadline(&mut self, deadline: Instant, job: Task) {
        let addr = Arc::as_ptr(&job) as *const () as usize;
        self.deadlines.insert((deadline, addr), job);
        if self.deadline_armed.map_or(true, |armed| deadline < armed) {
            self.deadline_armed = Some(deadline);
            self.arm_deadline = Some(deadline);
        }
    }

    /// A job with a deadline stopped waiting (claimed or withdrawn).
    pub(crate) fn forget_deadline(&mut self, deadline: Instant, addr: usize) {
        self.deadlines.remove(&(deadline, addr));
    }

    /// Accounts for a job that expired where it waited (`loc`; `Nowhere`
    /// for one whose deadline had passed when it was submitted): its queue
    /// slot or token goes to the next job, its `Run` is woken, its closure
    /// (if nobody awaits it) dropped once the lock is released.
    pub(crate) fn expired(&mut self, loc: Loc, job: &Task, expiry: Expiry) {
        if loc != Loc::Nowhere {
            self.withdraw(loc, job.limiter());
        }
        if let Some(limiter) = job.limiter() {
            limiter.count_expired();
        }
        self.deadlines.remove(&expiry.key);
        self.expired += 1;
        self.deferred.extend(expiry.waker);
        self.dropped.extend(expiry.closure);
    }

    /// The timer's check at `now`: expires every job whose deadline has
    /// come; returns when to check next, if this check was the armed one.
    pub(crate) fn expire_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let job = entry.remove();
            let loc = job.loc();
            if let Some(expiry) = job.expire(now) {
                self.expired(loc, &job, expiry);
            }
        }
        match self.deadline_armed {
            // A later, stale entry: the armed one is still to come.
            Some(armed) if armed > now => None,
            _ => {
                self.deadline_armed = self.deadlines.keys().next().map(|key| key.0);
                self.deadline_armed
            }
        }
    }
}

/// A pool's deadline check, as the timer holds it (through a `Weak`: it
/// never keeps a pool alive, and a pool that is gone is skipped).
struct Check {
    shared: Weak<Shared>,
}

impl Due for Check {
    fn fire(&self, now: Instant) -> Option<Instant> {
        let shared = self.shared.upgrade()?;
        let mut st = shared.lock();
        let next = st.expire_due(now);
        // A freed token may grant a waiter a thread to be started; a
        // failure to start it is handled (its jobs refused) inside.
        let _ = worker::unlock_and_start(&shared, st);
        next
    }
}

/// Makes the pool's deadline check, once: before its first `run_by`.
pub(crate) fn prepare(shared: &Shared) {
    shared.deadline_check.get_or_init(|| {
        Arc::new(Check {
            shared: shared.me.clone(),
        })
    });
}

/// loom models of expiry, with the deadline's passing an event: the job's
/// deadline is an hour away (so no step sees it pass on the clock), and a
/// model thread runs the pool's check as if it were an hour later.
#[cfg(all(test, threadbridge_loom))]
mod loom_models {
    use std::time::{Duration, Instant};

    use loom::future::block_on;
    use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use loom::thread;

    use crate::observe::loom_support::Gate;
    use crate::sync::Arc;
    use crate::Pool;

    const STACK: usize = 1 << 20;
    const HOUR: Duration = Duration::from_secs(3600);

    /// Runs `body` on a thread with room for `Stats` snapshots.
    fn model(body: fn()) {
        loom::model(move || {
            thread::Builder::new()
                .stack_size(STACK)
                .spawn(body)
                .unwrap()
                .join()
                .unwrap();
        });
    }

    fn pool(max_threads: usize) -> Pool {
        Pool::builder()
            .max_threads(max_threads)
            .stack_size(STACK)
            .build()
            .unwrap()
    }

    /// The pool's check, run on a thread of its own at `now`.
    fn check_at(pool: &Pool, now: Instant) -> thread::JoinHandle<()> {
        let shared = Arc::clone(pool.shared());
        thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let check = shared.deadline_check.get().expect("made by run_by");
                let _ = check.fire(now);
            })
            .unwrap()
    }

    /// Expiry vs. start: a freshly started worker claims the job while the
    /// check expires it. Exactly one happens, and the Run says which.
    #[test]
    fn a_job_never_both_expires_and_starts() {
        model(|| {
            let pool = pool(1);
            let ran = std::sync::Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let deadline = Instant::now() + HOUR;
            let run = pool.run_by(deadline, move |_| {
                r.fetch_add(1, SeqCst);
            });
            let check = check_at(&pool, deadline + HOUR);
            let out = block_on(run);
            check.join().unwrap();
            assert_eq!(ran.load(SeqCst), usize::from(out.is_ok()));
            let s = pool.stats();
            assert_eq!(
                (s.completed, s.expired),
                if out.is_ok() { (1, 0) } else { (0, 1) }
            );
            assert!(pool.shutdown_timeout(HOUR));
        });
    }

    /// Expiry vs. the queue-space (and thread) wake-up: the job waits
    /// behind a running one in a pool with no queue room; the running job
    /// ends (its worker takes the next) while the check expires it.
    #[test]
    fn expiry_vs_the_thread_that_frees_up() {
        model(|| {
            let pool = Pool::builder()
                .max_threads(1)
                .queue_capacity(0)
                .stack_size(STACK)
                .build()
                .unwrap();
            let gate = Gate::default();
            let held = pool.run(gate.waiter());
            let deadline = Instant::now() + HOUR;
            let run = pool.run_by(deadline, |_| 5);
            let check = check_at(&pool, deadline + HOUR);
            gate.open();
            block_on(held);
            let out = block_on(run);
            check.join().unwrap();
            let s = pool.stats();
            assert_eq!(s.completed + s.expired, 2);
            assert_eq!(s.expired, u64::from(out.is_err()));
            assert_eq!((s.queued, s.waiting), (0, 0));
            assert!(pool.shutdown_timeout(HOUR));
        });
    }

    /// Expiry of a token waiter vs. the release of the token it waits
    /// for: no token is lost (the job behind it runs) and none is granted
    /// twice (never two jobs of the limiter at once).
    #[test]
    fn expiry_vs_token_hand_off() {
        model(|| {
            let pool = pool(1);
            let limiter = pool.limiter(1);
            let inside = std::sync::Arc::new(AtomicUsize::new(0));
            let once = |inside: &std::sync::Arc<AtomicUsize>| {
                let inside = inside.clone();
                move || {
                    assert_eq!(
                        inside.fetch_add(1, SeqCst),
                        0,
                        "two jobs hold the one token"
                    );
                    inside.fetch_sub(1, SeqCst);
                }
            };
            let gate = Gate::default();
            let holder = {
                let (hold, enter) = (gate.waiter(), once(&inside));
                limiter.run(move || {
                    enter();
                    hold();
                })
            };
            let deadline = Instant::now() + HOUR;
            let waiter = {
                let enter = once(&inside);
                limiter.run_by(deadline, move |_| enter())
            };
            let behind = limiter.run(once(&inside));
            let check = check_at(&pool, deadline + HOUR);
            gate.open();
            block_on(holder);
            let out = block_on(waiter);
            block_on(behind);
            check.join().unwrap();
            let l = limiter.stats();
            assert_eq!((l.running, l.waiting), (0, 0));
            assert_eq!(l.expired, u64::from(out.is_err()));
            assert!(pool.shutdown_timeout(HOUR));
        });
    }
}
