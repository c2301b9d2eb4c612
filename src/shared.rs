//! [`Shared`]: what every handle, worker, limiter and job of one pool points
//! to — its [`Config`] and its lock over [`State`]. Here are the lock's
//! edges: taking it, releasing it with the wake-ups decided under it,
//! closing, waiting for every thread to exit, snapshots, and the marker
//! that tells a thread it is one of this pool's workers.

use std::cell::Cell;
use std::task::Waker;
use std::time::Instant;

use crate::config::Config;
use crate::fault;
use crate::idle::WAKE;
use crate::spin;
use crate::state::State;
use crate::stats::Stats;
use crate::sync::{thread_local, Arc, AtomicUsize, Condvar, Mutex, MutexGuard, OnceLock, Store};
use crate::timer::{self, Due};
use std::sync::Weak;

/// The state every [`Pool`](crate::Pool) handle, worker, limiter and job of
/// one pool points to.
pub(crate) struct Shared {
    /// This very `Shared`, for the timer (it never keeps a pool alive).
    pub(crate) me: Weak<Shared>,
    state: Mutex<State>,
    pub(crate) config: Config,
    /// Signalled when the last thread of a closed pool exits.
    exit_cv: Condvar,
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
                spin::max_spinners(config.idle_spin),
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
            fault::wake(waker);
        }
        for closure in dropped {
            fault::drop_quietly(closure);
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

    /// Closes the pool to new jobs; accepted jobs still run, then every
    /// thread exits.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.closed = true;
        for worker in st.idle.drain(..) {
            worker.notify(WAKE);
        }
        self.exited_locked(&mut st);
        let _ = self.unlock(st);
    }

    /// Called whenever `threads` may have reached 0.
    pub(crate) fn exited_locked(&self, st: &mut State) {
        if st.all_exited() {
            let State {
                shutdown, deferred, ..
            } = st;
            deferred.extend(shutdown.take_all());
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

    /// A `Shutdown` future's poll: `true` once every thread has exited;
    /// else its waker is registered (under `id`) to be woken when they have.
    /// The waker is cloned and dropped outside the pool lock.
    pub(crate) fn poll_exit(&self, id: &mut Option<u64>, waker: &Waker) -> bool {
        let mut fresh = None;
        loop {
            let mut st = self.lock();
            if st.all_exited() {
                let stale = id.take().and_then(|id| st.shutdown.forget(id));
                drop(st);
                drop((stale, fresh));
                return true;
            }
            match st.shutdown.store(id, waker, &mut fresh) {
                Store::Done(stale) => {
                    drop(st);
                    drop(stale);
                    return false;
                }
                Store::Clone => {
                    drop(st);
                    fresh = Some(waker.clone());
                }
            }
        }
    }

    /// A `Shutdown` future was dropped while it waited.
    pub(crate) fn forget_exit_waker(&self, id: u64) {
        let stale = self.lock().shutdown.forget(id);
        drop(stale);
    }

    pub(crate) fn stats(&self) -> Stats {
        self.stats_locked(&self.lock())
    }

    /// A snapshot, under the pool lock the caller holds.
    pub(crate) fn stats_locked(&self, st: &State) -> Stats {
        let live = st.queue_live();
        let queued = live.min(self.config.queue_capacity);
        Stats {
            threads: st.threads,
            idle_threads: st.idle.len(),
            spinning_threads: st.spinning_idle(),
            max_threads: st.max_threads,
            running: st.running,
            queued,
            waiting: live - queued,
            completed: st.completed,
            panicked: st.panicked,
            cancelled: st.cancelled,
            rejected: st.rejected,
            queue_wait: st.queue_wait,
            run_time: st.run_time,
            starved: st.starved,
            expired: st.expired,
            reserved: st.reserved,
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
