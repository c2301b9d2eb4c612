//! [`Shared`] and [`State`]: what every handle, worker, limiter and job of
//! one pool points to — its [`Config`] and the lock over everything the
//! pool decides — with the lock's edges (taking it, releasing it with the
//! wake-ups decided under it), the idle workers it hands work to, how a
//! submitted job gets a thread, and the marker that tells a thread it is
//! one of its pool's workers.
//!
//! # The lock and its invariants
//! One mutex (the *pool lock*) guards
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
//! `spawns`) and done once it is released ([`Shared::unlock`]).
//!
//! # Who decides what
//! The submit side is here: [`State::enqueue`] and its dispatch. A
//! worker's decisions under the lock (claim the next job, wake the next
//! thread, grow for a backlog, go idle, spin, exit) are `worker.rs`; a
//! feature's own (deadlines, reservations, a limiter's limit, the
//! starvation check) sit with that feature, in `impl State` blocks of
//! their own files.
//!
//! # Waking threads
//! A submit wakes one thread at most; a woken thread that leaves jobs queued
//! wakes the next (*wake chaining*), or up to two while more jobs run than
//! the machine has cores (*fan-out*: the jobs are blocking, so threads, not
//! cores, are what they wait for).
//!
//! The next job always goes to the thread on top of the idle stack, the
//! most recently idle one, spinning or parked (DESIGN semantic 9; how
//! threads go idle and spin is `worker.rs`).

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Weak;
use std::task::Waker;
use std::time::Instant;

use crate::config::Config;
use crate::observe::timing::{Ran, Timing};
use crate::queue::WakerSet;
use crate::queue::{compact, DeadlineKey, Loc, Task, Tokens};
use crate::sync::{
    self, thread_local, Arc, AtomicUsize, Condvar, IdleWorker, Mutex, MutexGuard, OnceLock, WORK,
};
use crate::timer::{self, Due};

/// The state every [`Pool`](crate::Pool) handle, worker, limiter and job of
/// one pool points to.
pub(crate) struct Shared {
    /// This very `Shared`, for the timer (it never keeps a pool alive).
    pub(crate) me: Weak<Shared>,
    state: Mutex<State>,
    pub(crate) config: Config,
    /// Signalled when the last thread of a closed pool exits.
    pub(crate) exit_cv: Condvar,
    /// Live [`Pool`](crate::Pool) handles; the last one dropped closes.
    pub(crate) handles: AtomicUsize,
    /// Numbers worker threads for their names.
    pub(crate) next_index: AtomicUsize,
    /// The deadline check the timer runs (`deadline.rs`), made by the
    /// pool's first `run_by`.
    pub(crate) deadline_check: OnceLock<Arc<dyn Due>>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            state: Mutex::new(State::new(
                config.max_threads,
                config.starvation.is_some(),
                config.max_spinners(),
            )),
            config,
            exit_cv: Condvar::new(),
            handles: AtomicUsize::new(1),
            next_index: AtomicUsize::new(0),
            deadline_check: OnceLock::new(),
        })
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Releases the lock, then does the wake-ups deferred past it; returns
    /// how many threads were reserved under it, for the caller to start
    /// (`worker::unlock_and_start` does both).
    pub(crate) fn unlock(&self, mut st: MutexGuard<'_, State>) -> usize {
        let spawns = std::mem::take(&mut st.spawns);
        let wakers = std::mem::take(&mut st.deferred);
        let notify = std::mem::take(&mut st.notify);
        let arm = std::mem::take(&mut st.arm);
        let arm_deadline = st.arm_deadline.take();
        let dropped = std::mem::take(&mut st.dropped);
        drop(st);
        if arm {
            self.arm_watch();
        }
        if let (Some(at), Some(check)) = (arm_deadline, self.deadline_check.get()) {
            timer::schedule(at, Arc::downgrade(check));
        }
        for worker in notify {
            worker.event.notify();
        }
        for waker in wakers {
            sync::wake(waker);
        }
        for closure in dropped {
            sync::drop_quietly(closure);
        }
        spawns
    }

    /// Schedules the starvation check on the timer thread, `after` from now
    /// (the check itself is `observe/starvation.rs`).
    #[cold]
    fn arm_watch(&self) {
        if let Some(detector) = &self.config.starvation {
            let at = Instant::now() + detector.after;
            let me: Weak<dyn Due> = self.me.clone();
            timer::schedule(at, me);
        }
    }
}

#[cfg(not(threadbridge_loom))]
thread_local! {
    /// The address of the pool this thread works for; 0 elsewhere.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

#[cfg(threadbridge_loom)]
thread_local! {
    static CURRENT: Cell<usize> = Cell::new(0);
}

/// Marks the calling thread as a worker of `shared`'s pool (`None`: of no
/// pool).
pub(crate) fn set_current(shared: Option<&Arc<Shared>>) {
    let me = shared.map_or(0, |shared| Arc::as_ptr(shared) as usize);
    CURRENT.with(|c| c.set(me));
}

/// Whether the calling thread is a worker of `shared`'s pool.
pub(crate) fn is_worker_of(shared: &Arc<Shared>) -> bool {
    let me = Arc::as_ptr(shared) as usize;
    CURRENT.try_with(|c| c.get() == me).unwrap_or(false)
}

/// Everything the pool lock guards.
#[derive(Default)]
pub(crate) struct State {
    /// Jobs waiting for a thread, FIFO, tombstones included.
    pub(crate) queue: VecDeque<Task>,
    /// Live (not withdrawn) jobs in `queue`.
    pub(crate) queue_live: usize,
    /// Idle threads; the last one to go idle is the first one woken (LIFO).
    pub(crate) idle: Vec<Arc<IdleWorker>>,
    /// Threads popped off the idle stack for work that have not yet looked
    /// at the queue. While one is on its way, a submit wakes nobody else:
    /// that thread takes the job or, if more are queued, wakes the next.
    pub(crate) waking: usize,
    /// Idle threads spinning before they park, and how many may
    /// (`worker.rs`).
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
            max_threads,
            watched,
            max_spinners,
            cores: if cfg!(threadbridge_loom) { 1 } else { cores },
            ..Self::default()
        }
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

    /// Whether nothing waits for the unlock: no notify, waker or thread
    /// start decided under the lock.
    pub(crate) fn nothing_deferred(&self) -> bool {
        self.notify.is_empty()
            && self.deferred.is_empty()
            && self.spawns == 0
            && self.dropped.is_empty()
            && self.arm_deadline.is_none()
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

    pub(crate) fn compact_queue(&mut self) {
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

    /// Live (not withdrawn) jobs in the queue.
    pub(crate) fn queue_live(&self) -> usize {
        self.queue_live
    }
}

impl State {
    // The caps: how many threads ordinary and reserved jobs may use
    // (`reserve.rs` sets reservations up).

    /// Whether an ordinary job may start: fewer than `max_threads` run.
    pub(crate) fn ordinary_room(&self) -> bool {
        self.running - self.running_reserved < self.max_threads
    }

    /// How many threads ordinary jobs may keep busy, with the threads the
    /// running reserved jobs hold: the cap for starting one for them.
    pub(crate) fn ordinary_cap(&self) -> usize {
        self.max_threads + self.running_reserved.min(self.reserved)
    }

    /// The cap for starting a thread for a reserved job.
    pub(crate) fn urgent_cap(&self) -> usize {
        self.thread_cap()
    }

    /// Threads the pool may have: `max_threads` plus the reservations.
    pub(crate) fn thread_cap(&self) -> usize {
        self.max_threads + self.reserved
    }

    /// Jobs a thread may take now: the urgent ones, and the queued ones
    /// ordinary jobs have room for.
    pub(crate) fn claimable(&self) -> usize {
        let queued = if self.reserved == 0 && self.running_reserved == 0 {
            self.queue_live()
        } else {
            let room = self
                .max_threads
                .saturating_sub(self.running - self.running_reserved);
            self.queue_live().min(room)
        };
        self.urgent_live + queued
    }
}
