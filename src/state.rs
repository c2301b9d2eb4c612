//! [`State`]: everything the pool lock guards, and every scheduling
//! decision made under it.
//!
//! # The lock and its invariants
//! One mutex (the *pool lock*, in [`Shared`](crate::shared::Shared)) guards
//! the job queue, the idle-thread stack, the thread count, the totals, and
//! — nested inside it, lock order pool → limiter → job — every limiter's
//! [`Tokens`]. Holding it, a decision and its effect are one step, so no
//! wake-up can fall between them:
//!
//! * **No stranded job.** A job enters the queue only under the lock, and
//!   then either an idle thread is popped off the idle stack and handed it
//!   (a parked one is notified as soon as the lock is released), or a
//!   thread is reserved to be started, or every thread is busy and checks
//!   the queue (under the lock) before it goes idle again.
//! * **Keep-alive vs. new job.** A thread whose keep-alive expires re-takes
//!   the lock and exits only if nobody popped it off the idle stack
//!   meanwhile (its `notified` flag, written under the lock).
//! * **Cancellation vs. start.** A job is claimed for running, withdrawn by
//!   its dropped [`Run`](crate::Run), or refused after a failed thread
//!   start only under the lock, so exactly one of them happens.
//! * **Tokens.** A limiter's `running` only changes under the lock; a freed
//!   token goes straight to the oldest live waiter (FIFO).
//!
//! Nothing here runs user code or starts a thread: wake-ups and thread
//! starts decided under the lock are recorded (`deferred`, `notify`,
//! `spawns`) and done once it is released.
//!
//! # Waking threads
//! A submit wakes one thread at most; a woken thread that leaves jobs queued
//! wakes the next (*wake chaining*), or up to two while more jobs run than
//! the machine has cores (*fan-out*: the jobs are blocking, so threads, not
//! cores, are what they wait for).
//!
//! The idle stack is kept in the order threads went idle, never
//! reordered: the next job always goes to the thread on top, the most
//! recently idle one, whether it spins or is parked (DESIGN semantic 9).
//! Up to two idle threads spin before they park, and a spinner handed a
//! job makes the thread now on top spin in its place (*relay*): `spin.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::task::Waker;
use std::time::Instant;

use crate::idle::{IdleWorker, WAKE, WORK};
use crate::observe::timing::{Ran, Timing};
use crate::queue::{compact, Claim, DeadlineKey, Loc, Task, Tokens};
use crate::sync::{Arc, WakerSet};
use std::sync::Weak;

/// Everything the pool lock guards.
pub(crate) struct State {
    /// Jobs waiting for a thread, FIFO, tombstones included.
    queue: VecDeque<Task>,
    /// Live (not withdrawn) jobs in `queue`.
    queue_live: usize,
    /// Idle threads; the last one to go idle is the first one woken (LIFO).
    pub(crate) idle: Vec<Arc<IdleWorker>>,
    /// Threads popped off the idle stack for work that have not yet looked
    /// at the queue. While one is on its way, a submit wakes nobody else:
    /// that thread takes the job or, if more are queued, wakes the next.
    pub(crate) waking: usize,
    /// Idle threads spinning before they park, and how many may
    /// (`spin.rs`).
    pub(crate) spinners: usize,
    pub(crate) max_spinners: usize,
    /// The machine's cores (1 under loom, so that two running jobs are
    /// enough to model the fan-out in [`State::wake_next`]).
    pub(crate) cores: usize,
    /// Threads serving the pool, or counted to be started.
    pub(crate) threads: usize,
    /// Threads that stopped serving and are running their stop hook.
    pub(crate) exiting: usize,
    pub(crate) running: usize,
    pub(crate) max_threads: usize,
    /// Reservations (`reserve.rs`): the sum of the live reserved limits
    /// (threads that may be set aside beyond `max_threads`), the reserved
    /// jobs running, and those holding their token, about to be taken by
    /// a thread ahead of the queue (live count beside, as for `queue`).
    pub(crate) reserved: usize,
    pub(crate) running_reserved: usize,
    pub(crate) urgent: VecDeque<Task>,
    pub(crate) urgent_live: usize,
    pub(crate) closed: bool,
    /// Threads reserved under the lock, to be started once it is released.
    pub(crate) spawns: usize,
    /// Threads reserved and not yet serving: each will look at the queue
    /// before it parks, so each covers one queued job.
    pub(crate) starting: usize,
    /// Wake-ups decided under the lock, done once it is released: a waker
    /// may run executor code, even poll, which must not meet our lock.
    pub(crate) deferred: Vec<Waker>,
    /// Parked threads handed work under the lock, notified once it is
    /// released: notified under it, the woken thread would only wait for
    /// the lock, which a fast submitter re-takes first.
    pub(crate) notify: Vec<Arc<IdleWorker>>,
    /// Closures of expired jobs nobody awaits, dropped once the lock is
    /// released (a `Drop` is user code).
    pub(crate) dropped: Vec<Box<dyn Send>>,
    /// The `Shutdown` futures waiting for every thread to exit.
    pub(crate) shutdown: WakerSet,
    /// Pending `run_by` jobs (waiting for a token, a thread or queue
    /// space), by deadline; the timer expires them (`deadline.rs`).
    pub(crate) deadlines: BTreeMap<DeadlineKey, Task>,
    /// The earliest time the deadline check is scheduled on the timer
    /// (at or before the first deadline while any is pending), and a time
    /// to schedule it at once the lock is released.
    pub(crate) deadline_armed: Option<Instant>,
    pub(crate) arm_deadline: Option<Instant>,
    /// Starvation watch, with a detector (`Builder::on_starvation`):
    /// `watched` if there is one, `armed` while a check is scheduled on the
    /// timer, `arm` if one must be scheduled once the lock is released,
    /// `starving` while a pool episode is under way.
    pub(crate) watched: bool,
    pub(crate) armed: bool,
    pub(crate) arm: bool,
    pub(crate) starving: bool,
    /// When a job last finished (`timing::now_ns`).
    pub(crate) last_finish: u64,
    /// Episodes so far, the pool's and its limiters'.
    pub(crate) starved: u64,
    /// The limiters to check, with a detector.
    pub(crate) limiters: Vec<Weak<Tokens>>,
    /// How long started jobs waited, and ran.
    pub(crate) queue_wait: Timing,
    pub(crate) run_time: Timing,
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    pub(crate) rejected: u64,
    pub(crate) expired: u64,
}

impl State {
    pub(crate) fn new(max_threads: usize, watched: bool, max_spinners: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            queue: VecDeque::new(),
            queue_live: 0,
            idle: Vec::new(),
            waking: 0,
            spinners: 0,
            max_spinners,
            cores: if cfg!(threadbridge_loom) { 1 } else { cores },
            threads: 0,
            exiting: 0,
            running: 0,
            max_threads,
            reserved: 0,
            running_reserved: 0,
            urgent: VecDeque::new(),
            urgent_live: 0,
            closed: false,
            spawns: 0,
            starting: 0,
            deferred: Vec::new(),
            notify: Vec::new(),
            dropped: Vec::new(),
            shutdown: WakerSet::default(),
            deadlines: BTreeMap::new(),
            deadline_armed: None,
            arm_deadline: None,
            watched,
            armed: false,
            arm: false,
            starving: false,
            last_finish: 0,
            starved: 0,
            limiters: Vec::new(),
            queue_wait: Timing::default(),
            run_time: Timing::default(),
            completed: 0,
            panicked: 0,
            cancelled: 0,
            rejected: 0,
            expired: 0,
        }
    }

    /// Closed, and every thread has exited (hooks included).
    pub(crate) fn all_exited(&self) -> bool {
        self.closed && self.threads == 0 && self.exiting == 0
    }

    /// Whether a job submitted now would start or find queue space at once.
    pub(crate) fn has_room(&self, capacity: usize) -> bool {
        self.ordinary_room() && (!self.idle.is_empty() || self.threads < self.ordinary_cap())
            || self.queue_live < capacity
    }

    /// Queues a job that holds any token it needs (a reserved limiter's
    /// goes ahead of the queue: `reserve.rs`). With `dispatch`, makes
    /// sure a thread will take it: wakes the most recently parked thread,
    /// or counts a new one (started once the lock is released).
    pub(crate) fn enqueue(&mut self, job: Task, dispatch: bool) {
        if job.limiter().is_some_and(|limiter| limiter.is_reserved()) {
            return self.enqueue_urgent(job, dispatch);
        }
        job.set_loc(Loc::Queue);
        self.queue.push_back(job);
        self.queue_live += 1;
        if dispatch {
            self.dispatch();
        }
    }

    fn dispatch(&mut self) {
        if !self.ordinary_room() {
            // Every thread ordinary jobs may have is busy (the rest are
            // set aside for reservations).
            return self.watch();
        }
        match self.idle.last() {
            None if self.threads < self.ordinary_cap() => self.reserve(1),
            // Every thread is busy and re-checks the queue when done.
            None => self.watch(),
            // A spinning thread costs nothing to hand work to; a parked one
            // costs a futex wake, so only one is woken at a time.
            Some(top) if self.waking == 0 || top.is_spinning() => self.wake_top(),
            Some(_) => {} // the thread already waking takes it or wakes the next
        }
    }

    /// A job waits with every thread busy (or for a limiter's token): with
    /// a starvation detector, make sure a check is scheduled.
    pub(crate) fn watch(&mut self) {
        if self.watched && !self.armed {
            self.armed = true;
            self.arm = true;
        }
    }

    /// The oldest live job in the queue: when it was accepted.
    pub(crate) fn oldest_queued(&self) -> Option<u64> {
        self.queue
            .iter()
            .find(|job| job.loc() == Loc::Queue)
            .map(|job| job.accepted())
    }

    /// Whether nothing waits for the unlock: no notify, waker or thread
    /// start decided under the lock.
    pub(crate) fn nothing_deferred(&self) -> bool {
        self.notify.is_empty()
            && self.deferred.is_empty()
            && self.spawns == 0
            && self.dropped.is_empty()
            && self.arm_deadline.is_none()
    }

    /// A thread that just claimed a job from a queue that still holds more
    /// wakes the next idle thread, unless one is already on its way.
    ///
    /// While more jobs run than the machine has cores, jobs are blocking
    /// rather than computing, and one wake-up at a time (~20 µs a hop on a
    /// VM) would take ~10 ms to wake 512 threads: then each woken thread
    /// wakes up to two, as long as more jobs are queued than threads are on
    /// their way, so the wake-ups fan out.
    pub(crate) fn wake_next(&mut self) {
        let claimable = self.claimable();
        if self.running > self.cores {
            for _ in 0..2 {
                if claimable <= self.waking || self.idle.is_empty() {
                    return;
                }
                self.wake_top();
            }
        } else if claimable > 0 && self.waking == 0 && !self.idle.is_empty() {
            self.wake_top();
        }
    }

    /// After a worker took a job: if jobs are still queued with no thread
    /// idle or on its way for them, reserves one more thread (up to the
    /// cap). Submits alone grow the pool only while they arrive; without
    /// this, a backlog left when they stop — or built while idle threads
    /// were being woken one by one — would be drained by however many
    /// threads there were, never the cap.
    pub(crate) fn grow_for_backlog(&mut self) {
        if self.claimable() > self.waking + self.starting
            && self.idle.is_empty()
            && self.threads < self.ordinary_cap().max(self.urgent_cap())
            && !self.closed
        {
            self.reserve(1);
        }
    }

    /// Counts `n` new threads, to be started once the lock is released.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.threads += n;
        self.starting += n;
        self.spawns += n;
    }

    pub(crate) fn wake_top(&mut self) {
        if let Some(worker) = self.idle.pop() {
            self.waking += 1;
            if worker.hand(WORK) {
                self.notify.push(worker);
            }
        }
    }

    /// Pops the oldest live job and claims it for the calling thread; a
    /// job whose deadline has passed expires on the way.
    pub(crate) fn pop_claim(&mut self) -> Option<Task> {
        if let Some(job) = self.pop_urgent() {
            return Some(job);
        }
        while self.ordinary_room() {
            let job = self.queue.pop_front()?;
            match job.claim() {
                Claim::Claimed(key) => {
                    self.claimed(key, false);
                    return Some(job);
                }
                Claim::Gone => {}
                Claim::Expired(expiry) => self.expired(Loc::Queue, &job, expiry),
            }
        }
        None
    }

    /// Claims a specific queued job (a nested `Run` taken back inline).
    pub(crate) fn claim_queued(&mut self, job: &Task) -> bool {
        let loc = job.loc();
        let claimed = match job.claim() {
            Claim::Claimed(key) => {
                self.claimed(key, loc == Loc::Urgent);
                if loc == Loc::Urgent {
                    job.set_loc(Loc::Reserved);
                }
                true
            }
            Claim::Gone => false,
            Claim::Expired(expiry) => {
                self.expired(loc, job, expiry);
                false
            }
        };
        self.compact_queue();
        claimed
    }

    /// Accounts for a claimed job (from `urgent` if `reserved`).
    pub(crate) fn claimed(&mut self, deadline: Option<DeadlineKey>, reserved: bool) {
        if reserved {
            self.urgent_live -= 1;
            self.running_reserved += 1;
        } else {
            self.queue_live -= 1;
        }
        self.running += 1;
        if let Some(key) = deadline {
            self.deadlines.remove(&key);
        }
    }

    /// Accounts for a pending job withdrawn from wherever it waits (its
    /// stage was already set to gone under the lock).
    pub(crate) fn withdraw(&mut self, loc: Loc, limiter: Option<&Arc<Tokens>>) {
        match loc {
            Loc::Queue => {
                self.queue_live -= 1;
                self.compact_queue();
                if let Some(limiter) = limiter {
                    self.release_token(limiter, true, None);
                }
            }
            Loc::Urgent => {
                self.urgent_live -= 1;
                compact(&mut self.urgent, self.urgent_live);
                let limiter = limiter.expect("an urgent job is a reserved limiter's");
                self.release_token(limiter, true, None);
            }
            Loc::Limiter => {
                let limiter = limiter.expect("a job waiting on a limiter has one");
                limiter.withdraw_waiter();
            }
            Loc::Reserved | Loc::Nowhere => unreachable!("a started job cannot be withdrawn"),
        }
    }

    fn compact_queue(&mut self) {
        compact(&mut self.queue, self.queue_live);
    }

    /// Returns a limiter token; if that frees one for the oldest live
    /// waiter, grants it and queues the waiter for a thread.
    pub(crate) fn release_token(&mut self, limiter: &Tokens, dispatch: bool, ran: Option<&Ran>) {
        if let Some(job) = limiter.release_and_grant(ran) {
            self.deferred.extend(job.inline_waker());
            self.enqueue(job, dispatch);
        }
    }

    /// Sets a limiter's limit, and grants the tokens that frees.
    pub(crate) fn set_limit(&mut self, limiter: &Tokens, limit: usize) {
        self.resize_reservation(limiter, limit);
        for job in limiter.set_limit(limit) {
            self.deferred.extend(job.inline_waker());
            self.enqueue(job, true);
        }
        // A smaller reservation: surplus idle threads exit now.
        self.resize();
    }

    /// After `max_threads` was raised, starts threads for queued jobs;
    /// after it was lowered, tells surplus idle threads (the coldest first)
    /// to exit. Busy surplus threads exit after their job.
    pub(crate) fn resize(&mut self) {
        let cap = self.thread_cap();
        if self.threads > cap {
            let surplus = (self.threads - cap).min(self.idle.len());
            for worker in self.idle.drain(..surplus) {
                worker.notify(WAKE);
            }
        } else if self.idle.is_empty() {
            let wanted = self.claimable().min(cap - self.threads);
            self.reserve(wanted);
        }
    }

    pub(crate) fn remove_idle(&mut self, worker: &Arc<IdleWorker>) {
        if let Some(i) = self.idle.iter().position(|p| Arc::ptr_eq(p, worker)) {
            self.idle.remove(i);
        }
    }

    /// Nobody is left to run the queue (no thread, and none could start):
    /// hands every queued job back with `err`. A refused job's token may
    /// grant a waiter, which lands in the queue too and is refused in turn.
    pub(crate) fn refuse_all(&mut self, err: &Arc<io::Error>) {
        while let Some(job) = self.urgent.pop_front().or_else(|| self.queue.pop_front()) {
            let loc = job.loc();
            if job.refuse(err, &mut self.deferred) {
                match loc {
                    Loc::Urgent => self.urgent_live -= 1,
                    _ => self.queue_live -= 1,
                }
                self.rejected += 1;
                if let Some(limiter) = job.limiter() {
                    self.release_token(limiter, false, None);
                }
            }
        }
        // Refused jobs no longer wait: forget their deadlines (a rare path).
        self.deadlines.retain(|_, job| job.is_pending());
    }

    /// Live (not withdrawn) jobs in the queue.
    pub(crate) fn queue_live(&self) -> usize {
        self.queue_live
    }
}
