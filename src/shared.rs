//! The pool's shared core: its configuration and the one locked [`State`]
//! through which every scheduling decision passes.
//!
//! # The lock and its invariants
//! One mutex (the *pool lock*) guards the job queue, the idle-thread stack,
//! the thread count, the totals, and — nested inside it, lock order
//! pool → limiter → job — every limiter's tokens and waiters. Holding it,
//! a decision and its effect are one step, so no wake-up can fall between
//! them:
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
//! # Waking threads
//! A submit wakes one thread at most; a woken thread that leaves jobs queued
//! wakes the next (*wake chaining*), or up to two while more jobs run than
//! the machine has cores (*fan-out*: the jobs are blocking, so threads, not
//! cores, are what they wait for). Up to two idle threads spin before they
//! park; a spinner handed a job makes the warmest parked thread spin in its
//! place (*relay*), so a steady stream of jobs finds a thread awake.
//!
//! Withdrawn jobs stay in their queue as tombstones (they are skipped when
//! popped), and live counts are kept beside each queue; a queue is
//! compacted when tombstones outnumber live jobs.

use std::collections::VecDeque;
use std::io;
use std::task::Waker;
use std::time::Instant;

use crate::config::Config;
use crate::job::{compact, After, Loc, Task};
use crate::limiter::LimiterShared;
use crate::stats::Stats;
use crate::sync::{
    Arc, AtomicBool, AtomicU8, AtomicUsize, Condvar, Event, Mutex, MutexGuard, Ordering,
};
use crate::worker;

/// An idle worker thread, as seen from the idle stack.
///
/// | `notified` | meaning                                   | set by                     |
/// |------------|-------------------------------------------|----------------------------|
/// | `NONE`     | on the idle stack, spinning or parked     | the thread, going idle     |
/// | `WORK`     | popped to take a queued job (counted in `waking`) | `State::dispatch`, `State::wake_next` |
/// | `WAKE`     | popped to exit if it can (close, resize)  | `close`, `resize`          |
///
/// Whoever pops a thread off the stack sets `notified`, under the pool lock.
/// A thread that is `spinning` watches `notified` without the lock and needs
/// no [`Event`] notify; it clears `spinning` under the lock before it parks,
/// so a popper always knows whether a notify is needed. A parked thread
/// re-checks `notified` under the lock after every wake-up: a notify's
/// permit may outlive what it announced. `spinning` is set under
/// the lock too: by the thread going idle, or by a spinner handed work that
/// relays spinning to the parked thread on top of the stack, and then
/// notifies it: until it wakes, that notify stands in for a popper's.
///
/// Spinning threads stay at the top of the stack, so a job goes to one of
/// them while any spins.
pub(crate) struct Parker {
    pub(crate) event: Event,
    // ORDERING: written under the pool lock with Release; read by the spinning
    // thread with Acquire outside it, and under the lock otherwise.
    pub(crate) notified: AtomicU8,
    // ORDERING: only accessed with the pool lock held; Relaxed suffices.
    pub(crate) spinning: AtomicBool,
    /// When it last went idle, from `State::idle_seq`: orders the parked
    /// threads warmest first. Only accessed with the pool lock held.
    warmth: AtomicUsize,
}

pub(crate) const NONE: u8 = 0;
pub(crate) const WORK: u8 = 1;
pub(crate) const WAKE: u8 = 2;

impl Parker {
    pub(crate) fn new() -> Self {
        Self {
            event: Event::new(),
            notified: AtomicU8::new(NONE),
            spinning: AtomicBool::new(false),
            warmth: AtomicUsize::new(0),
        }
    }

    /// Hands `why` over; returns whether the thread is parked and needs an
    /// [`Event`] notify (a spinning one sees `notified` by itself).
    fn hand(&self, why: u8) -> bool {
        self.notified.store(why, Ordering::Release);
        !self.spinning.load(Ordering::Relaxed)
    }

    fn notify(&self, why: u8) {
        if self.hand(why) {
            self.event.notify();
        }
    }
}

/// Everything the pool lock guards.
pub(crate) struct State {
    /// Jobs waiting for a thread, FIFO, tombstones included.
    queue: VecDeque<Task>,
    /// Live (not withdrawn) jobs in `queue`.
    queue_live: usize,
    /// Idle threads; the last one to go idle is the first one woken (LIFO).
    pub(crate) idle: Vec<Arc<Parker>>,
    /// Threads popped off the idle stack for work that have not yet looked
    /// at the queue. While one is on its way, a submit wakes nobody else:
    /// that thread takes the job or, if more are queued, wakes the next.
    pub(crate) waking: usize,
    /// Idle threads spinning before they park (at most [`MAX_SPINNERS`]).
    pub(crate) spinners: usize,
    /// The machine's cores (1 under loom, so that two running jobs are
    /// enough to model the fan-out in [`State::wake_next`]).
    cores: usize,
    /// Counts threads going idle, to stamp their `warmth`.
    idle_seq: usize,
    /// Threads serving the pool, or reserved to be started.
    pub(crate) threads: usize,
    /// Threads that stopped serving and are running their stop hook.
    pub(crate) exiting: usize,
    pub(crate) running: usize,
    pub(crate) max_threads: usize,
    pub(crate) closed: bool,
    /// Threads reserved under the lock, to be started once it is released.
    spawns: usize,
    /// Threads reserved and not yet serving: each will look at the queue
    /// before it parks, so each covers one queued job.
    pub(crate) starting: usize,
    /// Wake-ups decided under the lock, done once it is released: a waker
    /// may run executor code, even poll, which must not meet our lock.
    deferred: Vec<Waker>,
    /// Parked threads handed work under the lock, notified once it is
    /// released: notified under it, the woken thread would only wait for
    /// the lock, which a fast submitter re-takes first (one burst kept the
    /// first woken thread out for ~1 ms).
    notify: Vec<Arc<Parker>>,
    shutdown_wakers: Vec<(u64, Waker)>,
    next_waiter: u64,
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    pub(crate) rejected: u64,
}

/// The state every [`Pool`](crate::Pool) handle, worker, limiter and job of
/// one pool points to.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) config: Config,
    /// Signalled when the last thread of a closed pool exits.
    exit_cv: Condvar,
    /// Live [`Pool`](crate::Pool) handles; the last one dropped closes.
    pub(crate) handles: AtomicUsize,
    next_index: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queue_live: 0,
                idle: Vec::new(),
                waking: 0,
                spinners: 0,
                idle_seq: 0,
                cores: if cfg!(threadbridge_loom) { 1 } else { cores },
                threads: 0,
                exiting: 0,
                running: 0,
                max_threads: config.max_threads,
                closed: false,
                spawns: 0,
                starting: 0,
                deferred: Vec::new(),
                notify: Vec::new(),
                shutdown_wakers: Vec::new(),
                next_waiter: 0,
                completed: 0,
                panicked: 0,
                cancelled: 0,
                rejected: 0,
            }),
            config,
            exit_cv: Condvar::new(),
            handles: AtomicUsize::new(1),
            next_index: AtomicUsize::new(0),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Releases the lock, then does the wake-ups deferred past it; returns
    /// how many threads were reserved under it, for the caller to start.
    pub(crate) fn unlock(&self, mut st: MutexGuard<'_, State>) -> usize {
        let spawns = std::mem::take(&mut st.spawns);
        let wakers = std::mem::take(&mut st.deferred);
        let notify = std::mem::take(&mut st.notify);
        drop(st);
        for parker in notify {
            parker.event.notify();
        }
        for waker in wakers {
            waker.wake();
        }
        spawns
    }

    /// Releases the lock, does the deferred wake-ups, then starts the
    /// threads reserved under it.
    pub(crate) fn unlock_and_start(self: &Arc<Self>, st: MutexGuard<'_, State>) -> io::Result<()> {
        let spawns = self.unlock(st);
        self.start_threads(spawns)
    }

    /// Starts `n` threads already counted in `State::threads`. On failure
    /// the unstarted reservations are released; if that leaves the pool with
    /// no thread at all, every queued job is refused with the error.
    pub(crate) fn start_threads(self: &Arc<Self>, n: usize) -> io::Result<()> {
        for started in 0..n {
            // ORDERING: a counter for thread names only.
            let index = self.next_index.fetch_add(1, Ordering::Relaxed);
            if let Err(err) = worker::spawn(Arc::clone(self), index) {
                let copy = copy_io_error(&err);
                self.thread_start_failed(Arc::new(err), n - started);
                return Err(copy);
            }
        }
        Ok(())
    }

    fn thread_start_failed(&self, err: Arc<io::Error>, unstarted: usize) {
        let mut st = self.lock();
        st.threads -= unstarted;
        st.starting -= unstarted;
        if st.threads == 0 {
            // Nobody is left to run the queue: hand every job back. A refused
            // job's token may grant a waiter, which lands in the queue too.
            while let Some(job) = st.queue.pop_front() {
                if job.refuse(&err, &mut st.deferred) {
                    st.queue_live -= 1;
                    st.rejected += 1;
                    if let Some(limiter) = job.limiter() {
                        st.release_token(limiter, false);
                    }
                }
            }
            self.exited_locked(&mut st);
        }
        // Refusing grants no thread (no dispatch), so nothing to start.
        let _ = self.unlock(st);
    }

    /// Closes the pool to new jobs; accepted jobs still run, then every
    /// thread exits.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        for parker in st.idle.drain(..) {
            parker.notify(WAKE);
        }
        self.exited_locked(&mut st);
        let _ = self.unlock(st);
    }

    /// Called whenever `threads` may have reached 0.
    pub(crate) fn exited_locked(&self, st: &mut State) {
        if st.all_exited() {
            let State {
                shutdown_wakers,
                deferred,
                ..
            } = st;
            deferred.extend(shutdown_wakers.drain(..).map(|(_, waker)| waker));
            self.exit_cv.notify_all();
        }
    }

    /// Waits until every thread of the (closed) pool has exited, or until
    /// `deadline`; `true` if they all did.
    pub(crate) fn wait_exit(&self, deadline: Option<Instant>) -> bool {
        let mut st = self.lock();
        while !st.all_exited() {
            match deadline {
                Some(deadline) => {
                    if self.exit_cv.wait_until(&mut st, deadline) && !st.all_exited() {
                        return false;
                    }
                }
                None => self.exit_cv.wait(&mut st),
            }
        }
        true
    }

    /// A job finished on a thread of this pool: count it and free its token.
    /// For a worker (`worker` is its parker) decide in the same critical
    /// section what it does next: claim the next job, or go idle — on the
    /// idle stack *before* its `Run` is woken, so the submit that the wake-up
    /// triggers finds this warm thread instead of starting another.
    pub(crate) fn finish(
        self: &Arc<Self>,
        panicked: bool,
        limiter: Option<&Arc<LimiterShared>>,
        worker: Option<&Arc<Parker>>,
    ) -> After {
        let mut st = self.lock();
        st.running -= 1;
        if panicked {
            st.panicked += 1;
        } else {
            st.completed += 1;
        }
        if let Some(limiter) = limiter {
            // A worker takes the granted waiter itself (it is next in line
            // unless others queued first); only an inline job must dispatch.
            st.release_token(limiter, worker.is_none());
        }
        let after = match worker {
            None => After::Check,
            Some(_) if st.threads > st.max_threads => After::Check,
            Some(parker) => match st.pop_claim() {
                Some(job) => {
                    st.grow_for_backlog();
                    After::Next(job)
                }
                None if st.closed => After::Check,
                None => {
                    st.go_idle(parker);
                    After::Idle
                }
            },
        };
        // Grants and a backlog can reserve threads here; a failure to start
        // one is handled (its jobs refused) inside.
        let _ = self.unlock_and_start(st);
        after
    }

    pub(crate) fn register_shutdown_waker(&self, id: &mut Option<u64>, waker: &Waker) -> bool {
        let mut st = self.lock();
        if st.all_exited() {
            if let Some(id) = id.take() {
                st.shutdown_wakers.retain(|(i, _)| *i != id);
            }
            return true;
        }
        match *id {
            Some(id) => {
                if let Some(entry) = st.shutdown_wakers.iter_mut().find(|(i, _)| *i == id) {
                    if !entry.1.will_wake(waker) {
                        entry.1 = waker.clone();
                    }
                } else {
                    st.shutdown_wakers.push((id, waker.clone()));
                }
            }
            None => {
                let new = st.next_waiter;
                st.next_waiter += 1;
                st.shutdown_wakers.push((new, waker.clone()));
                *id = Some(new);
            }
        }
        false
    }

    pub(crate) fn forget_shutdown_waker(&self, id: u64) {
        self.lock().shutdown_wakers.retain(|(i, _)| *i != id);
    }

    pub(crate) fn stats(&self) -> Stats {
        let st = self.lock();
        let queued = st.queue_live.min(self.config.queue_capacity);
        Stats {
            threads: st.threads,
            idle_threads: st.idle.len(),
            spinning_threads: st.spinning_on_top(),
            max_threads: st.max_threads,
            running: st.running,
            queued,
            waiting: st.queue_live - queued,
            completed: st.completed,
            panicked: st.panicked,
            cancelled: st.cancelled,
            rejected: st.rejected,
        }
    }
}

impl State {
    /// Closed, and every thread has exited (hooks included).
    fn all_exited(&self) -> bool {
        self.closed && self.threads == 0 && self.exiting == 0
    }

    /// Whether a job submitted now would start or find queue space at once.
    pub(crate) fn has_room(&self, capacity: usize) -> bool {
        !self.idle.is_empty() || self.threads < self.max_threads || self.queue_live < capacity
    }

    /// Queues a job that holds any token it needs. With `dispatch`, makes
    /// sure a thread will take it: wakes the most recently parked thread,
    /// or reserves a new one (started once the lock is released).
    pub(crate) fn enqueue(&mut self, job: Task, dispatch: bool) {
        job.set_loc(Loc::Queue);
        self.queue.push_back(job);
        self.queue_live += 1;
        if dispatch {
            self.dispatch();
        }
    }

    fn dispatch(&mut self) {
        match self.idle.last() {
            None if self.threads < self.max_threads => self.reserve(1),
            None => {} // every thread is busy and re-checks the queue when done
            // A spinning thread costs nothing to hand work to; a parked one
            // costs a futex wake, so only one is woken at a time.
            Some(top) if self.waking == 0 || top.spinning.load(Ordering::Relaxed) => {
                self.wake_top()
            }
            Some(_) => {} // the thread already waking takes it or wakes the next
        }
    }

    /// Puts a worker on the idle stack: on top if it may spin (fewer than
    /// [`MAX_SPINNERS`] do), else just below the spinning threads, which
    /// stay on top so that the next job goes to one of them.
    pub(crate) fn go_idle(&mut self, parker: &Arc<Parker>) {
        parker.notified.store(NONE, Ordering::Relaxed);
        self.idle_seq = self.idle_seq.wrapping_add(1);
        parker.warmth.store(self.idle_seq, Ordering::Relaxed);
        let spin = self.spinners < MAX_SPINNERS;
        parker.spinning.store(spin, Ordering::Relaxed);
        if spin {
            self.spinners += 1;
            self.idle.push(Arc::clone(parker));
        } else {
            let at = self.idle.len() - self.spinning_on_top();
            self.idle.insert(at, Arc::clone(parker));
        }
    }

    /// How many threads at the top of the idle stack are spinning.
    pub(crate) fn spinning_on_top(&self) -> usize {
        let spinning = |p: &&Arc<Parker>| p.spinning.load(Ordering::Relaxed);
        self.idle.iter().rev().take_while(spinning).count()
    }

    /// A thread's spin is over. If it was handed work and no other thread
    /// spins, the parked thread on top of the stack spins in its place, so
    /// a steady stream of jobs never waits for a futex wake. If it is
    /// still idle, it moves below any thread that still spins.
    pub(crate) fn stop_spinning(&mut self, parker: &Arc<Parker>) {
        self.spinners -= 1;
        parker.spinning.store(false, Ordering::Relaxed);
        match parker.notified.load(Ordering::Relaxed) {
            NONE => {}
            WORK if self.spinners == 0 && !self.closed && self.relays() => {
                return self.relay_spin();
            }
            _ => return, // popped: for work, or to exit (close, resize)
        }
        // Under the lock, `notified == NONE` means it is still stacked, near
        // the top: at most MAX_SPINNERS threads are above it. It goes below
        // them, and below any parked thread that went idle after it (one
        // that spun in its place may have parked first).
        if let Some(at) = self.idle.iter().rposition(|p| Arc::ptr_eq(p, parker)) {
            let me = self.idle.remove(at);
            let mine = me.warmth.load(Ordering::Relaxed);
            let mut at = self.idle.len() - self.spinning_on_top();
            while at > 0 && warmer(self.idle[at - 1].warmth.load(Ordering::Relaxed), mine) {
                at -= 1;
            }
            self.idle.insert(at, me);
        }
    }

    /// Whether a spinner handed work passes spinning on: with one core, a
    /// second spinner would only take turns with the first (loom's pools
    /// count one core but relay, so the models cover it).
    fn relays(&self) -> bool {
        cfg!(threadbridge_loom) || self.cores > 1
    }

    /// Whether nothing waits for the unlock: no notify, waker or thread
    /// start decided under the lock.
    pub(crate) fn nothing_deferred(&self) -> bool {
        self.notify.is_empty() && self.deferred.is_empty() && self.spawns == 0
    }

    /// Makes the warmest parked thread spin. It is notified at once, under
    /// the lock: unlike a hand-off of work, nothing waits for it, and this
    /// thread may park right after, which releases the lock without
    /// sending deferred notifies.
    fn relay_spin(&mut self) {
        if let Some(top) = self.idle.last() {
            top.spinning.store(true, Ordering::Relaxed);
            self.spinners += 1;
            top.event.notify();
        } else if self.threads == 1 && self.max_threads > 1 {
            // This is the pool's only thread: start the second spinner.
            self.reserve(1);
        }
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
        if self.running > self.cores {
            for _ in 0..2 {
                if self.queue_live <= self.waking || self.idle.is_empty() {
                    return;
                }
                self.wake_top();
            }
        } else if self.queue_live > 0 && self.waking == 0 && !self.idle.is_empty() {
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
        if self.queue_live > self.waking + self.starting
            && self.idle.is_empty()
            && self.threads < self.max_threads
            && !self.closed
        {
            self.reserve(1);
        }
    }

    /// Counts `n` new threads, to be started once the lock is released.
    fn reserve(&mut self, n: usize) {
        self.threads += n;
        self.starting += n;
        self.spawns += n;
    }

    fn wake_top(&mut self) {
        if let Some(parker) = self.idle.pop() {
            self.waking += 1;
            if parker.hand(WORK) {
                self.notify.push(parker);
            }
        }
    }

    /// Pops the oldest live job and claims it for the calling thread.
    pub(crate) fn pop_claim(&mut self) -> Option<Task> {
        while let Some(job) = self.queue.pop_front() {
            if job.claim() {
                self.queue_live -= 1;
                self.running += 1;
                return Some(job);
            }
        }
        None
    }

    /// Claims a specific queued job (a nested `Run` taken back inline).
    pub(crate) fn claim_queued(&mut self, job: &Task) -> bool {
        if job.claim() {
            self.queue_live -= 1;
            self.running += 1;
            self.compact_queue();
            true
        } else {
            false
        }
    }

    /// Accounts for a pending job withdrawn from wherever it waits (its
    /// stage was already set to gone under the lock).
    pub(crate) fn withdraw(&mut self, loc: Loc, limiter: Option<&Arc<LimiterShared>>) {
        match loc {
            Loc::Queue => {
                self.queue_live -= 1;
                self.compact_queue();
                if let Some(limiter) = limiter {
                    self.release_token(limiter, true);
                }
            }
            Loc::Limiter => {
                let limiter = limiter.expect("a job waiting on a limiter has one");
                limiter.withdraw_waiter();
            }
            Loc::Started => unreachable!("a started job cannot be withdrawn"),
        }
    }

    fn compact_queue(&mut self) {
        compact(&mut self.queue, self.queue_live);
    }

    /// Returns a limiter token; if that frees one for the oldest live
    /// waiter, grants it and queues the waiter for a thread.
    pub(crate) fn release_token(&mut self, limiter: &LimiterShared, dispatch: bool) {
        if let Some(job) = limiter.release_and_grant() {
            self.deferred.extend(job.inline_waker());
            self.enqueue(job, dispatch);
        }
    }

    /// Grants tokens after a limit was raised.
    pub(crate) fn grant(&mut self, limiter: &LimiterShared) {
        for job in limiter.grant() {
            self.deferred.extend(job.inline_waker());
            self.enqueue(job, true);
        }
    }

    /// After `max_threads` was raised, starts threads for queued jobs;
    /// after it was lowered, tells surplus idle threads (the coldest first)
    /// to exit. Busy surplus threads exit after their job.
    pub(crate) fn resize(&mut self) {
        if self.threads > self.max_threads {
            let surplus = (self.threads - self.max_threads).min(self.idle.len());
            for parker in self.idle.drain(..surplus) {
                parker.notify(WAKE);
            }
        } else if self.idle.is_empty() {
            let wanted = self.queue_live.min(self.max_threads - self.threads);
            self.reserve(wanted);
        }
    }

    pub(crate) fn remove_idle(&mut self, parker: &Arc<Parker>) {
        if let Some(i) = self.idle.iter().position(|p| Arc::ptr_eq(p, parker)) {
            self.idle.remove(i);
        }
    }
}

/// Whether stamp `a` is later than `b` (stamps wrap around).
fn warmer(a: usize, b: usize) -> bool {
    (a.wrapping_sub(b) as isize) > 0
}

/// How many idle threads of one pool may spin at once before parking. Two:
/// while one is handed a job and runs it, the other keeps a core awake for
/// the submitter's wake-up and catches the next job. On a virtual machine a
/// wake-up sent to a halted core costs ~15–20 µs; with two spinners a
/// one-at-a-time round trip stays near 5 µs (see README, Performance).
pub(crate) const MAX_SPINNERS: usize = 2;

fn copy_io_error(err: &io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(err.kind(), err.to_string()),
    }
}
