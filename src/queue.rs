//! The queues a job waits in, as the pool lock sees them: the [`Job`]
//! trait (a job apart from its closure and result), the pool's FIFO of
//! [`Task`]s, and a limiter's [`Tokens`] with their FIFO of waiters; and
//! the one queue of tasks under that lock, the `Shutdown` futures'
//! [`WakerSet`].
//!
//! Withdrawn jobs stay in their queue as tombstones (they are skipped when
//! popped), and live counts are kept beside each queue; a queue is
//! [compacted](compact) when tombstones outnumber live jobs.

use std::collections::VecDeque;
use std::io;
use std::task::Waker;
use std::time::Instant;

use crate::observe::timing::{self, Ran, Timing};
use crate::stats::LimiterStats;
use crate::sync::IdleWorker;
use crate::sync::{store_waker, Arc, AtomicBool, Mutex, Ordering, Store};

/// A job as the pool's queues see it.
pub(crate) type Task = Arc<dyn Job>;

/// The queue-side view of a job, independent of its closure and result.
pub(crate) trait Job: Send + Sync {
    /// Under the pool lock: `Pending` → `Claimed`; a job whose deadline
    /// has passed expires instead; a tombstone is `Gone`.
    fn claim(&self) -> Claim;
    /// Under the pool lock (the timer's check): a pending job whose
    /// deadline is `now` or earlier expires.
    fn expire(&self, now: Instant) -> Option<Expiry>;
    /// Under the pool lock: a pending job with a deadline expires now
    /// (its deadline had passed when it was submitted).
    fn expire_now(&self) -> Option<Expiry>;
    /// Under the pool lock: whether the job still waits.
    fn is_pending(&self) -> bool;
    /// Under the pool lock: `Pending` → `Refused`; the `Run`'s waker goes
    /// to `wakes`, to be woken after the lock is released.
    fn refuse(&self, err: &Arc<io::Error>, wakes: &mut Vec<Waker>) -> bool;
    fn limiter(&self) -> Option<&Arc<Tokens>>;
    /// Under the pool lock: where the job waits. A job withdrawn, refused
    /// or claimed is [`Loc::Nowhere`] by the time the pool lock is
    /// released, so for a job in a queue `loc() == its queue` means it
    /// still waits, without locking its slot as
    /// [`is_pending`](Job::is_pending) does.
    fn loc(&self) -> Loc;
    fn set_loc(&self, loc: Loc);
    /// When the job was accepted (`timing::now_ns`).
    fn accepted(&self) -> u64;
    /// Under the pool lock: a limiter granted the job its token at `now`
    /// (`timing::now_ns`), after it waited since it was accepted.
    fn granted(&self, now: u64);
    /// A nested `Run` waiting on its limiter is woken when granted, so it
    /// can take its job back inline: the waker to wake, if so.
    fn inline_waker(&self) -> Option<Waker>;
    /// Runs a claimed job to its end on this thread and publishes the
    /// outcome; a worker (its idle-stack handle given) learns what to do
    /// next.
    fn execute(self: Arc<Self>, worker: Option<&Arc<IdleWorker>>) -> After;
}

/// Where a job waits, written and read under the pool lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Loc {
    /// Waiting for a limiter's token.
    Limiter = 0,
    /// In the pool's queue (holding any token it needs).
    Queue = 1,
    /// A reserved limiter's job holding its token, about to be taken by a
    /// thread ahead of the queue (`reserve.rs`).
    Urgent = 2,
    /// Claimed from `Urgent`: it runs as a reserved job (counted in
    /// `running_reserved`) until it finishes.
    Reserved = 3,
    /// Not waiting anywhere: claimed, withdrawn, refused, or not yet
    /// submitted.
    Nowhere = 4,
}

/// What [`Job::claim`] did.
pub(crate) enum Claim {
    /// The job is the caller's to run; with its deadline key, if it has a
    /// deadline (to be forgotten).
    Claimed(Option<DeadlineKey>),
    /// A tombstone: withdrawn, refused or expired earlier.
    Gone,
    /// Its deadline had passed: it expired instead of starting.
    Expired(Expiry),
}

/// A pending job with a deadline, among the pool's deadlines: the
/// deadline, then the job cell's address (unique while it lives).
pub(crate) type DeadlineKey = (Instant, usize);

/// What the expiry of a job leaves to do: forget its deadline, and, once
/// the locks are released, wake its `Run` or (nobody awaits it) drop its
/// closure.
pub(crate) struct Expiry {
    pub(crate) waker: Option<Waker>,
    pub(crate) closure: Option<Box<dyn Send>>,
    pub(crate) key: DeadlineKey,
}

/// What a worker does after a job, decided under the pool lock.
pub(crate) enum After {
    /// Run this job, already claimed.
    Next(Task),
    /// The worker is on the idle stack: spin, then park.
    Idle,
    /// Re-take the lock and decide (pool closed, thread surplus, or the job
    /// ran inline on a nested `Run`'s thread).
    Check,
}

/// Drops the tombstones of a job queue (`live` jobs still pending in it):
/// all of them once none is live, the rest when they outnumber live jobs —
/// so withdrawn jobs cost amortized O(1) and never pile up.
pub(crate) fn compact(queue: &mut VecDeque<Task>, live: usize) {
    if live == 0 {
        queue.clear();
    } else if queue.len() > 2 * live + 32 {
        queue.retain(|job| job.is_pending());
    }
}

/// A limiter's tokens and its FIFO of jobs waiting for one. Only touched
/// with the pool lock held (lock order pool → limiter → job), so a token
/// moves from one job to the next waiter in one step.
pub(crate) struct Tokens {
    state: Mutex<TokenState>,
    // ORDERING: written and read only under the pool lock.
    /// A reservation ([`Pool::reserve`](crate::Pool::reserve)): its jobs
    /// take threads set aside for them, ahead of the pool's queue.
    reserved: AtomicBool,
}

struct TokenState {
    /// How long started jobs waited for a token, and ran.
    token_wait: Timing,
    run_time: Timing,
    /// When a job of the limiter last finished (`timing::now_ns`).
    last_finish: u64,
    /// A starvation episode of the limiter is under way.
    starving: bool,
    /// Jobs of it whose deadline passed before they started.
    expired: u64,
    limit: usize,
    /// Tokens held.
    running: usize,
    /// Live waiters (tombstones excluded).
    waiting: usize,
    waiters: VecDeque<Task>,
}

/// What a limiter did with a new job.
pub(crate) enum Admit {
    /// It holds a token: queue it on the pool.
    Token,
    /// It waits for a token.
    Waiting,
    /// No token is free and the caller would not wait.
    Full,
}

impl Tokens {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            state: Mutex::new(TokenState {
                token_wait: Timing::default(),
                run_time: Timing::default(),
                last_finish: 0,
                starving: false,
                expired: 0,
                limit,
                running: 0,
                waiting: 0,
                waiters: VecDeque::new(),
            }),
            reserved: AtomicBool::new(false),
        }
    }

    /// Under the pool lock: whether the limiter is a live reservation.
    pub(crate) fn is_reserved(&self) -> bool {
        self.reserved.load(Ordering::Relaxed)
    }

    /// Under the pool lock.
    pub(crate) fn set_reserved(&self, reserved: bool) {
        self.reserved.store(reserved, Ordering::Relaxed);
    }

    pub(crate) fn limit(&self) -> usize {
        self.state.lock().limit
    }

    /// Takes a token for a new job if one is free and nobody waits for one
    /// (FIFO); else, unless `try_only`, makes the job (from `job`) a waiter.
    pub(crate) fn admit(&self, job: impl FnOnce() -> Task, try_only: bool) -> Admit {
        let mut st = self.state.lock();
        if st.running < st.limit && st.waiting == 0 {
            st.running += 1;
            Admit::Token
        } else if try_only {
            Admit::Full
        } else {
            let job = job();
            job.set_loc(Loc::Limiter);
            st.waiters.push_back(job);
            st.waiting += 1;
            Admit::Waiting
        }
    }

    /// Returns one token (of a job that ran, if `ran`, whose figures are
    /// recorded); if that frees one for the oldest live waiter, hands it
    /// over and returns the waiter.
    pub(crate) fn release_and_grant(&self, ran: Option<&Ran>) -> Option<Task> {
        let mut st = self.state.lock();
        st.running -= 1;
        if let Some(ran) = ran {
            st.token_wait.record(ran.token_wait);
            st.run_time.record(ran.run_time);
            st.last_finish = ran.end;
            // A job of it finished: an episode of starvation is over.
            st.starving = false;
        }
        st.grant_one()
    }

    /// Sets the limit, then hands every free token to a waiter.
    pub(crate) fn set_limit(&self, limit: usize) -> Vec<Task> {
        let mut st = self.state.lock();
        st.limit = limit;
        let mut granted = Vec::new();
        while let Some(job) = st.grant_one() {
            granted.push(job);
        }
        granted
    }

    /// A job of the limiter expired (wherever it waited).
    pub(crate) fn count_expired(&self) {
        self.state.lock().expired += 1;
    }

    /// A waiter's `Run` was dropped, or it expired; its entry is now a
    /// tombstone.
    pub(crate) fn withdraw_waiter(&self) {
        let mut st = self.state.lock();
        st.waiting -= 1;
        let live = st.waiting;
        compact(&mut st.waiters, live);
    }

    /// The starvation check of the limiter (under the pool lock): `Some`
    /// with how long its oldest waiter has waited if an episode starts
    /// now; else `next` is lowered to when it could start (`None` there:
    /// nothing to watch).
    pub(crate) fn check_starving(
        &self,
        now: u64,
        after: u64,
        next: &mut Option<u64>,
    ) -> Option<u64> {
        let mut st = self.state.lock();
        let oldest = st
            .waiters
            .iter()
            .find(|job| job.loc() == Loc::Limiter)
            .map(|job| job.accepted());
        let Some(oldest) = oldest.filter(|_| st.running >= st.limit && st.limit > 0) else {
            st.starving = false;
            return None;
        };
        let since = oldest.max(st.last_finish);
        if st.starving || now.saturating_sub(since) < after {
            let at = if st.starving {
                now + after
            } else {
                since + after
            };
            *next = Some(next.map_or(at, |n| n.min(at)));
            return None;
        }
        st.starving = true;
        *next = Some(next.map_or(now + after, |n| n.min(now + after)));
        Some(now.saturating_sub(oldest))
    }

    /// A snapshot (takes only the limiter's own lock).
    pub(crate) fn stats(&self) -> LimiterStats {
        let st = self.state.lock();
        LimiterStats {
            limit: st.limit,
            running: st.running,
            waiting: st.waiting,
            token_wait: st.token_wait,
            run_time: st.run_time,
            expired: st.expired,
        }
    }
}

impl TokenState {
    fn grant_one(&mut self) -> Option<Task> {
        if self.running >= self.limit {
            return None;
        }
        while let Some(job) = self.waiters.pop_front() {
            // Not `is_pending`: that locks the job, and this runs for every
            // job that waited, under the pool lock.
            debug_assert_eq!(job.is_pending(), job.loc() == Loc::Limiter);
            if job.loc() == Loc::Limiter {
                self.waiting -= 1;
                self.running += 1;
                job.granted(timing::now_ns());
                return Some(job);
            }
        }
        None
    }
}

/// The wakers of several tasks waiting for one condition (the `Shutdown`
/// futures of a pool), each under an id of its own, kept by
/// [`store_waker`]'s rule: register under the lock that guards the
/// condition, [`take_all`](WakerSet::take_all) under it when the condition
/// turns true, wake unlocked.
#[derive(Default)]
pub(crate) struct WakerSet {
    next_id: u64,
    wakers: Vec<(u64, Option<Waker>)>,
}

impl WakerSet {
    /// [`store_waker`] for waiter `id`, giving it an id on its first call.
    pub(crate) fn store(
        &mut self,
        id: &mut Option<u64>,
        waker: &Waker,
        fresh: &mut Option<Waker>,
    ) -> Store {
        let id = *id.get_or_insert_with(|| {
            self.next_id += 1;
            self.next_id
        });
        let at = match self.wakers.iter().position(|(i, _)| *i == id) {
            Some(at) => at,
            None => {
                self.wakers.push((id, None));
                self.wakers.len() - 1
            }
        };
        store_waker(&mut self.wakers[at].1, waker, fresh)
    }

    /// Takes waiter `id`'s waker out (it stopped waiting), to be dropped
    /// once the lock is released.
    pub(crate) fn forget(&mut self, id: u64) -> Option<Waker> {
        let at = self.wakers.iter().position(|(i, _)| *i == id)?;
        self.wakers.swap_remove(at).1
    }

    /// Takes every waker, to be woken once the lock is released.
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = Waker> + '_ {
        self.wakers.drain(..).filter_map(|(_, waker)| waker)
    }
}
