//! A worker thread's life: starting threads (and what happens when the OS
//! refuses one), its loop, finishing a job, its hooks — and every
//! decision a worker makes under the pool lock: which job it takes next (a
//! reservation's urgent queue first, then the FIFO), whom it wakes or
//! starts for the jobs still queued, going idle, spinning, parking, and
//! expiring after `keep_alive`.
//!
//! # Idle threads
//! The idle stack is kept in the order threads went idle, never
//! reordered: the next job always goes to the thread on top, the most
//! recently idle one, whether it spins or is parked (DESIGN semantic 9).
//! Up to `MAX_SPINNERS` idle threads spin, each for `Builder::idle_spin`,
//! before they park; a spinner handed a job while no other spins makes the
//! thread now on top spin in its place, so the core of the thread that
//! awaits the job is kept awake and its wake-up is cheap. The relayed
//! thread is below the one that took the job once that one is idle again,
//! so it never takes a job out of turn. All of it runs under the pool lock.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::fault::call_hook;
use crate::observe::timing::Ran;
use crate::queue::{After, Claim, DeadlineKey, Loc, Task, Tokens};
use crate::state::{self, Shared, State};
use crate::sync::{thread, unlocked, Arc, IdleWorker, MutexGuard, Ordering, NONE, WORK};

/// Releases the pool lock, does the wake-ups deferred past it, then starts
/// the threads reserved under it. The way every critical section that may
/// reserve a thread ends.
pub(crate) fn unlock_and_start(shared: &Arc<Shared>, st: MutexGuard<'_, State>) -> io::Result<()> {
    let spawns = shared.unlock(st);
    start_threads(shared, spawns)
}

/// Starts `n` threads already counted in `State::threads`. On failure
/// the unstarted reservations are released; if that leaves the pool with
/// no thread at all, every queued job is refused with the error.
pub(crate) fn start_threads(shared: &Arc<Shared>, n: usize) -> io::Result<()> {
    for started in 0..n {
        // ORDERING: a counter for thread names only.
        let index = shared.next_index.fetch_add(1, Ordering::Relaxed);
        if let Err(err) = spawn(Arc::clone(shared), index) {
            let copy = copy_io_error(&err);
            start_failed(shared, Arc::new(err), n - started);
            return Err(copy);
        }
    }
    Ok(())
}

fn start_failed(shared: &Shared, err: Arc<io::Error>, unstarted: usize) {
    let mut st = shared.lock();
    st.threads -= unstarted;
    st.starting -= unstarted;
    if st.threads == 0 {
        st.refuse_all(&err);
        shared.exited_locked(&mut st);
    }
    // Refusing grants no thread (no dispatch), so nothing to start.
    let _ = shared.unlock(st);
}

fn copy_io_error(err: &io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(err.kind(), err.to_string()),
    }
}

/// Starts a worker thread (already counted in the pool's `threads`).
pub(crate) fn spawn(shared: Arc<Shared>, index: usize) -> io::Result<()> {
    let config = &shared.config;
    let name = panic::catch_unwind(AssertUnwindSafe(|| (config.thread_name)(index)))
        .unwrap_or_else(|_| format!("threadbridge-{index}"))
        .replace('\0', "");
    let stack_size = config.stack_size;
    let mut builder = thread::Builder::new().name(name);
    if let Some(size) = stack_size {
        builder = builder.stack_size(size);
    }
    builder
        .spawn(move || main(shared))
        .map(drop)
        .map_err(|err| match stack_size {
            // Name the setting the OS may have refused.
            Some(size) => io::Error::new(
                err.kind(),
                format!("stack_size {size} was refused by the OS: {err}"),
            ),
            None => err,
        })
}

fn main(shared: Arc<Shared>) {
    state::set_current(Some(&shared));
    call_hook(shared.config.on_thread_start.as_ref());
    serve(&shared);
    call_hook(shared.config.on_thread_stop.as_ref());
    state::set_current(None);
    // Out of `exiting` last, so a finished `shutdown` means every hook ran.
    let mut st = shared.lock();
    st.exiting -= 1;
    shared.exited_locked(&mut st);
    let _ = shared.unlock(st);
}

/// Runs jobs until the pool closes, this thread is surplus, or it stays
/// idle for `keep_alive` while above `min_threads`.
///
/// The thread leaves `threads` in the same critical section in which it
/// decides to exit: a submitter that sees it counted may rely on it to
/// check the queue once more, so it must not be counted once it won't.
fn serve(shared: &Arc<Shared>) {
    let config = &shared.config;
    let me = Arc::new(IdleWorker::new());
    let mut st = shared.lock();
    st.starting -= 1;
    loop {
        if st.threads > st.thread_cap() && st.urgent_live == 0 {
            // Surplus after `set_max_threads` lowered the cap (or a
            // reservation shrank): leave — once no reserved job that got
            // its token before the shrink waits for a thread — and
            // make sure an idle thread looks at anything still queued.
            st.wake_next();
            return exit(shared, st);
        }
        if let Some(job) = st.pop_claim() {
            st.wake_next();
            st.grow_for_backlog();
            // A thread reserved here fails to start only by refusing jobs.
            let _ = unlock_and_start(shared, st);
            let mut after = job.execute(Some(&me));
            while let After::Next(job) = after {
                after = job.execute(Some(&me));
            }
            st = shared.lock();
            if matches!(after, After::Idle) && !wait_idle(&mut st, &me, config) {
                return exit(shared, st);
            }
            continue;
        }
        if st.closed {
            return exit(shared, st);
        }
        if !st.nothing_deferred() {
            // Parking releases the lock without sending what this section
            // decided (a spinner relay may have reserved a thread): send it.
            let _ = unlock_and_start(shared, st);
            st = shared.lock();
            continue;
        }
        st.go_idle(&me);
        if !wait_idle(&mut st, &me, config) {
            return exit(shared, st);
        }
    }
}

/// A job finished on a thread of this pool: count it and free its token.
/// For a worker (`worker` is its idle-stack handle) decide in the same
/// critical section what it does next: claim the next job, or go idle — on
/// the idle stack *before* its `Run` is woken, so the submit that the
/// wake-up triggers finds this warm thread instead of starting another.
pub(crate) fn finish(
    shared: &Arc<Shared>,
    panicked: bool,
    limiter: Option<&Arc<Tokens>>,
    worker: Option<&Arc<IdleWorker>>,
    ran: &Ran,
    reserved: bool,
) -> After {
    let mut st = shared.lock();
    st.running -= 1;
    if reserved {
        st.running_reserved -= 1;
    }
    if panicked {
        st.panicked += 1;
    } else {
        st.completed += 1;
    }
    // In the critical section finishing takes anyway: no lock of its own.
    st.queue_wait.record(ran.queue_wait);
    st.run_time.record(ran.run_time);
    st.last_finish = ran.end;
    // A job of the pool finished: an episode of starvation is over.
    st.starving = false;
    if let Some(limiter) = limiter {
        // A worker takes the granted waiter itself (it is next in line
        // unless others queued first); only an inline job must dispatch.
        st.release_token(limiter, worker.is_none(), Some(ran));
    }
    let after = match worker {
        None => After::Check,
        Some(_) if st.threads > st.thread_cap() && st.urgent_live == 0 => After::Check,
        Some(me) => match st.pop_claim() {
            Some(job) => {
                st.grow_for_backlog();
                After::Next(job)
            }
            None if st.closed => After::Check,
            None => {
                st.go_idle(me);
                After::Idle
            }
        },
    };
    // Grants and a backlog can reserve threads here; a failure to start
    // one is handled (its jobs refused) inside.
    let _ = unlock_and_start(shared, st);
    after
}

/// The idle phase of a thread already on the idle stack: spin if it may,
/// then park until popped off the stack or the keep-alive expires, spinning
/// again whenever a spinner handed a job relays spinning to it. Returns
/// `false` if it expired (and left the stack), `true` if it was popped.
fn wait_idle(st: &mut MutexGuard<'_, State>, me: &Arc<IdleWorker>, config: &Config) -> bool {
    let deadline = Instant::now().checked_add(config.keep_alive);
    let mut timed_out = false;
    loop {
        if me.is_spinning() {
            // Watch for a hand-off without the lock for a few microseconds: a
            // job that comes soon then costs no futex wake on either side.
            unlocked(st, || spin_for_work(me, config.idle_spin));
            st.stop_spinning(me);
        }
        match me.notified.load(Ordering::Relaxed) {
            NONE => {}
            WORK => {
                st.waking -= 1;
                return true;
            }
            _ => return true, // close or resize: the caller decides
        }
        if timed_out && st.threads > config.min_threads {
            st.remove_idle(me);
            return false;
        }
        // Parking releases the lock without `Shared::unlock`: nothing may
        // be left for it to send.
        debug_assert!(
            st.nothing_deferred(),
            "a wake-up or thread start would wait for the next unlock"
        );
        // Only a thread above `min_threads` can expire.
        let expiry = deadline.filter(|_| st.threads > config.min_threads);
        timed_out = me.event.wait(st, expiry);
    }
}

/// Spins until `me` is handed something or `budget` passes, yielding
/// the core between looks: on a busy machine the thread that will submit
/// the next job may be waiting for this very core.
#[cfg(not(any(threadbridge_loom, miri)))]
fn spin_for_work(me: &IdleWorker, budget: Duration) {
    let start = Instant::now();
    loop {
        for _ in 0..16 {
            if me.notified.load(Ordering::Acquire) != NONE {
                return;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= budget {
            return;
        }
        std::thread::yield_now();
    }
}

/// Under loom, spinning is one look at `notified`: the window in which a
/// submitter may hand work over without a notify is what the models need,
/// and a forced yield would bias which interleavings loom explores. Miri
/// runs real threads, so it gets one yield.
#[cfg(threadbridge_loom)]
fn spin_for_work(me: &IdleWorker, _budget: Duration) {
    let _ = me.notified.load(Ordering::Acquire);
}

#[cfg(all(miri, not(threadbridge_loom)))]
fn spin_for_work(_me: &IdleWorker, _budget: Duration) {
    thread::yield_now();
}

/// Leaves `threads` (see [`serve`]) and releases the lock the way every
/// critical section ends: wake-ups decided in it (a surplus thread handing
/// queued work on) go out now, not after the stop hook.
fn exit(shared: &Arc<Shared>, mut st: MutexGuard<'_, State>) {
    st.threads -= 1;
    st.exiting += 1;
    let _ = unlock_and_start(shared, st);
}

/// A worker's decisions under the pool lock: which job it takes next
/// (the urgent queue of a reservation first, then the FIFO), and whom it
/// wakes or starts for the jobs still queued.
impl State {
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

    /// Claims the oldest live reserved job, if any.
    pub(crate) fn pop_urgent(&mut self) -> Option<Task> {
        while let Some(job) = self.urgent.pop_front() {
            match job.claim() {
                Claim::Claimed(key) => {
                    self.claimed(key, true);
                    job.set_loc(Loc::Reserved);
                    return Some(job);
                }
                Claim::Gone => {}
                Claim::Expired(expiry) => self.expired(Loc::Urgent, &job, expiry),
            }
        }
        None
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
}

/// Going idle, and the end of a spin (see the module docs).
impl State {
    /// Puts a worker on top of the idle stack: it is now the most recently
    /// idle thread, the next to take a job. It spins first if fewer than
    /// `max_spinners` do.
    pub(crate) fn go_idle(&mut self, worker: &Arc<IdleWorker>) {
        worker.notified.store(NONE, Ordering::Relaxed);
        let spin = self.spinners < self.max_spinners;
        worker.spinning.store(spin, Ordering::Relaxed);
        self.spinners += usize::from(spin);
        self.idle.push(Arc::clone(worker));
    }

    /// How many idle threads spin.
    pub(crate) fn spinning_idle(&self) -> usize {
        self.idle.iter().filter(|p| p.is_spinning()).count()
    }

    /// A thread's spin is over; still idle, it parks where it is in the
    /// stack. If it was handed work and no other thread spins, the thread
    /// now on top spins in its place, so the next hand-off (or the wake-up
    /// of whoever awaits this job) finds a core awake.
    pub(crate) fn stop_spinning(&mut self, worker: &Arc<IdleWorker>) {
        self.spinners -= 1;
        worker.spinning.store(false, Ordering::Relaxed);
        if worker.notified.load(Ordering::Relaxed) == WORK
            && self.spinners == 0
            && !self.closed
            && self.relays()
        {
            self.relay_spin();
        }
    }

    /// Whether a spinner handed work passes spinning on: with one core, a
    /// second spinner would only take turns with the first (loom's pools
    /// count one core but relay, so the models cover it).
    fn relays(&self) -> bool {
        cfg!(threadbridge_loom) || self.cores > 1
    }

    /// Makes the thread on top of the stack spin (it is parked: no other
    /// thread spins). It is notified at once, under
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

    pub(crate) fn remove_idle(&mut self, worker: &Arc<IdleWorker>) {
        if let Some(i) = self.idle.iter().position(|p| Arc::ptr_eq(p, worker)) {
            self.idle.remove(i);
        }
    }
}
