//! Deadlines (`run_by`): a pending job whose deadline passes never starts.
//!
//! # How
//! A `run_by` job's deadline lives in its closure's shape
//! ([`Deadline`](crate::job::Deadline)), so a job without one keeps its
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
use crate::shared::Shared;
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
