//! One job: a single allocation holding the closure, its stage, the
//! awaiting task's waker, the cancel flag and, at the end, the result.
//!
//! # Stages
//! Every change of stage happens under the job's own lock; the ones that
//! decide *who* owns the closure (claim, withdraw, refuse) also hold the
//! pool lock, so exactly one of them wins.
//!
//! | stage      | closure held | reached by                                   | next                    |
//! |------------|--------------|----------------------------------------------|-------------------------|
//! | `Pending`  | yes          | submit                                       | `Claimed`, `Refused`, `Gone` (withdrawn) |
//! | `Claimed`  | yes          | a worker or an inline poller claimed it      | `Running`               |
//! | `Running`  | no           | the closure was taken out to run             | `Done`, `Gone` (abandoned) |
//! | `Done`     | no           | the closure returned or panicked             | `Gone` (taken by `Run`) |
//! | `Refused`  | yes          | no thread could be started for it            | `Gone`                  |
//! | `Gone`     | no           | withdrawn, result taken or dropped           | —                       |
//!
//! `abandoned` records that the [`Run`](crate::Run) was dropped or
//! detached: the outcome is then dropped on the worker (a panic goes to the
//! pool's `on_panic` hook) instead of being stored.

use std::io;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::{CancelToken, Cancelled, Flag};
use crate::fault::{self, discard, drop_quietly};
use crate::idle::IdleWorker;
use crate::observe::timing::{self, Ran};
use crate::queue::{After, Claim, Expiry, Job, Loc, Task, Tokens};
use crate::shared::Shared;
use crate::sync::{store_waker, Arc, AtomicBool, AtomicU32, AtomicU8, Mutex, Ordering, Store};
use crate::trace::Origin;
use crate::work::Work;
use crate::worker;

/// The [`Run`](crate::Run)-side view of a job, typed by its result.
pub(crate) trait RunHandle<T>: Send + Sync {
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<T>;
    /// On a worker of the job's own pool: if the job still waits in the
    /// queue, claim and run it here.
    fn run_inline(self: Arc<Self>, cx: &Context<'_>);
    /// The `Run` is gone: `cancel` for a drop (withdraw a pending job, set
    /// the cancel flag), not for a detach.
    fn abandon(&self, cancel: bool);
    fn shared(&self) -> &Arc<Shared>;
}

enum Stage<F, T> {
    Pending(F),
    Claimed(F),
    Running,
    Done(thread::Result<T>),
    Refused(F, Arc<io::Error>),
    Gone,
}

/// How a job ended, taken out of its stage by whoever gets the outcome.
enum Ended<F, T> {
    Done(thread::Result<T>),
    Refused(F, Arc<io::Error>),
}

impl<F, T> Stage<F, T> {
    /// Moves the stage out, leaving `Gone`, if `pick` takes it (`Ok`);
    /// else `pick` hands it back (`Err`) and it stays as it was.
    fn take<R>(&mut self, pick: impl FnOnce(Self) -> Result<R, Self>) -> Option<R> {
        match pick(mem::replace(self, Stage::Gone)) {
            Ok(taken) => Some(taken),
            Err(back) => {
                *self = back;
                None
            }
        }
    }

    /// How the job ended, if it has; the stage is then `Gone`.
    fn take_ended(&mut self) -> Option<Ended<F, T>> {
        self.take(|stage| match stage {
            Stage::Done(outcome) => Ok(Ended::Done(outcome)),
            Stage::Refused(f, err) => Ok(Ended::Refused(f, err)),
            other => Err(other),
        })
    }

    /// The closure of a job still pending; the stage is then `Gone`.
    fn take_pending(&mut self) -> Option<F> {
        self.take(|stage| match stage {
            Stage::Pending(f) => Ok(f),
            other => Err(other),
        })
    }
}

struct Slot<F, T> {
    stage: Stage<F, T>,
    waker: Option<Waker>,
    /// Taken by the worker with the closure.
    origin: Origin,
}

pub(crate) struct JobCell<W: Work> {
    slot: Mutex<Slot<W, W::Output>>,
    cancel: Flag,
    // ORDERING: written and read only under the pool lock.
    loc: AtomicU8,
    // ORDERING: `abandoned` and `wants_inline` belong to the slot, and are
    // only accessed with its lock held — `wants_inline` is also only set
    // with the pool lock held, so under that lock it may be read alone.
    // They sit beside `loc` outside the slot because there they share
    // padding: the cell is 72 bytes, not 80, a smaller allocator size class
    // for every job.
    abandoned: AtomicBool,
    wants_inline: AtomicBool,
    // ORDERING: written under the pool lock when a limiter grants the job
    // its token, read by the thread that claimed it (under that lock too).
    /// The time spent waiting for a limiter's token, in ns, as `f32` bits
    /// (32 bits fit the cell's padding; `f32` keeps 24 bits of precision).
    token_wait: AtomicU32,
    /// When the job was accepted (`timing::now_ns`).
    accepted: u64,
    limiter: Option<Arc<Tokens>>,
    shared: Arc<Shared>,
}

impl<W: Work> JobCell<W> {
    pub(crate) fn new(f: W, shared: Arc<Shared>, limiter: Option<Arc<Tokens>>) -> Self {
        Self {
            slot: Mutex::new(Slot {
                stage: Stage::Pending(f),
                waker: None,
                origin: Origin::capture(),
            }),
            cancel: Flag::new(),
            loc: AtomicU8::new(Loc::Nowhere as u8),
            abandoned: AtomicBool::new(false),
            wants_inline: AtomicBool::new(false),
            token_wait: AtomicU32::new(0),
            accepted: timing::now_ns(),
            limiter,
            shared,
        }
    }

    /// The closure of a job that was never shared.
    pub(crate) fn into_work(self: Arc<Self>) -> W {
        let cell = Arc::try_unwrap(self)
            .unwrap_or_else(|_| unreachable!("an unsubmitted job has one owner"));
        match cell.slot.into_inner().stage {
            Stage::Pending(f) => f,
            _ => unreachable!("an unsubmitted job is pending"),
        }
    }

    /// After a failed thread start: takes back the closure if this job was
    /// refused (it was counted in `rejected` then).
    pub(crate) fn take_refused(&self) -> Option<W> {
        self.slot.lock().stage.take(|stage| match stage {
            Stage::Refused(f, _) => Ok(f),
            other => Err(other),
        })
    }

    /// Withdraws a pending job whose `Run` was dropped.
    fn withdraw(&self) {
        let mut st = self.shared.lock();
        // The closure and the submitter's span go now, not when the
        // tombstone leaves the queue.
        let (f, origin) = {
            let mut slot = self.slot.lock();
            // Not pending: claimed meanwhile; it runs, its outcome is dropped.
            let Some(f) = slot.stage.take_pending() else {
                return;
            };
            (f, mem::take(&mut slot.origin))
        };
        st.withdraw(self.loc(), self.limiter.as_ref());
        if let Some(deadline) = f.deadline() {
            st.forget_deadline(deadline, self.addr());
        }
        self.set_loc(Loc::Nowhere);
        st.cancelled += 1;
        // A freed token may have granted a waiter a thread to be started; a
        // failure to start it is handled (its jobs refused) inside.
        let _ = worker::unlock_and_start(&self.shared, st);
        drop_quietly(f);
        drop_quietly(origin);
    }
}

impl<W: Work> JobCell<W> {
    /// The cell's address: with its deadline, its key among the pending
    /// deadlines (unique while it lives).
    fn addr(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// Under the pool lock and the slot's: a pending job's deadline has
    /// passed. Its outcome becomes `Err(Expired)`, or, if nobody awaits
    /// it, its closure goes (to be dropped once the locks are released).
    fn expire_locked(&self, slot: &mut Slot<W, W::Output>, f: W, deadline: Instant) -> Expiry {
        self.set_loc(Loc::Nowhere);
        let waited = Duration::from_nanos(timing::now_ns().saturating_sub(self.accepted));
        let closure: Option<Box<dyn Send>> = if self.abandoned.load(Ordering::Relaxed) {
            slot.stage = Stage::Gone;
            Some(Box::new(f))
        } else {
            slot.stage = Stage::Done(Ok(f.expire(waited)));
            None
        };
        Expiry {
            waker: slot.waker.take(),
            closure,
            key: (deadline, self.addr()),
        }
    }
}

impl<W: Work> Cancelled for JobCell<W> {
    fn flag(&self) -> &Flag {
        &self.cancel
    }
}

impl<W: Work> Job for JobCell<W> {
    fn claim(&self) -> Claim {
        let mut slot = self.slot.lock();
        let Some(f) = slot.stage.take_pending() else {
            return Claim::Gone;
        };
        let deadline = f.deadline();
        if let Some(deadline) = deadline {
            // Never start late, even a moment after the timer's check.
            if Instant::now() >= deadline {
                return Claim::Expired(self.expire_locked(&mut slot, f, deadline));
            }
        }
        slot.stage = Stage::Claimed(f);
        self.set_loc(Loc::Nowhere);
        Claim::Claimed(deadline.map(|d| (d, self.addr())))
    }

    fn expire(&self, now: Instant) -> Option<Expiry> {
        let mut slot = self.slot.lock();
        let f = slot.stage.take_pending()?;
        match f.deadline() {
            Some(deadline) if now >= deadline => Some(self.expire_locked(&mut slot, f, deadline)),
            _ => {
                slot.stage = Stage::Pending(f);
                None
            }
        }
    }

    fn expire_now(&self) -> Option<Expiry> {
        let mut slot = self.slot.lock();
        let f = slot.stage.take_pending()?;
        let deadline = f.deadline().expect("only a job with a deadline expires");
        Some(self.expire_locked(&mut slot, f, deadline))
    }

    fn is_pending(&self) -> bool {
        matches!(self.slot.lock().stage, Stage::Pending(_))
    }

    fn refuse(&self, err: &Arc<io::Error>, wakes: &mut Vec<Waker>) -> bool {
        let mut slot = self.slot.lock();
        let Some(f) = slot.stage.take_pending() else {
            return false;
        };
        slot.stage = Stage::Refused(f, Arc::clone(err));
        self.set_loc(Loc::Nowhere);
        wakes.extend(slot.waker.take());
        true
    }

    fn limiter(&self) -> Option<&Arc<Tokens>> {
        self.limiter.as_ref()
    }

    fn loc(&self) -> Loc {
        Loc::from_u8(self.loc.load(Ordering::Relaxed))
    }

    fn set_loc(&self, loc: Loc) {
        self.loc.store(loc as u8, Ordering::Relaxed);
    }

    fn accepted(&self) -> u64 {
        self.accepted
    }

    fn granted(&self, now: u64) {
        let waited = now.saturating_sub(self.accepted) as f32;
        self.token_wait.store(waited.to_bits(), Ordering::Relaxed);
    }

    fn inline_waker(&self) -> Option<Waker> {
        // Set under the pool lock, which the caller holds: most granted
        // jobs are not nested, and their slot need not be locked.
        if !self.wants_inline.load(Ordering::Relaxed) {
            return None;
        }
        // Taken, not cloned: no executor code under the pool lock. The
        // woken Run registers its waker again when it polls.
        self.slot.lock().waker.take()
    }

    fn execute(self: Arc<Self>, worker: Option<&Arc<IdleWorker>>) -> After {
        let (f, origin) = {
            let mut slot = self.slot.lock();
            let origin = mem::take(&mut slot.origin);
            match mem::replace(&mut slot.stage, Stage::Running) {
                Stage::Claimed(f) => (f, origin),
                _ => unreachable!("only a claimed job is executed"),
            }
        };
        let start = timing::now_ns();
        let token = |deadline| {
            let job: Arc<dyn Cancelled> = self.clone();
            CancelToken::new(job, deadline)
        };
        let outcome = origin.scope(|| panic::catch_unwind(AssertUnwindSafe(|| f.call(&token))));
        let end = timing::now_ns();
        let ran = Ran {
            queue_wait: start.saturating_sub(self.accepted),
            token_wait: f32::from_bits(self.token_wait.load(Ordering::Relaxed)) as u64,
            run_time: end.saturating_sub(start),
            end,
        };
        // Counters first: a job is counted before its Run becomes ready.
        let limiter = self.limiter.as_ref();
        // Claimed from `urgent` by this very thread: it ran as reserved.
        let reserved = self.loc() == Loc::Reserved;
        let panicked = outcome.is_err();
        let after = worker::finish(&self.shared, panicked, limiter, worker, &ran, reserved);
        let mut slot = self.slot.lock();
        if self.abandoned.load(Ordering::Relaxed) {
            slot.stage = Stage::Gone;
            drop(slot);
            discard(&self.shared.config, outcome);
            return after;
        }
        slot.stage = Stage::Done(outcome);
        let waker = slot.waker.take();
        drop(slot);
        // Let go of the cell before waking its Run, so the Run usually holds
        // the last reference and frees it on the awaiting thread — the one
        // that allocated it. Freed on a worker instead, the memory would sit
        // in that worker's allocator cache, out of the submitter's reach,
        // and a large burst would peak higher.
        drop(self);
        if let Some(waker) = waker {
            fault::wake(waker);
        }
        after
    }
}

impl<W: Work> RunHandle<W::Output> for JobCell<W> {
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<W::Output> {
        let mut fresh = None;
        let ended = loop {
            let mut slot = self.slot.lock();
            if let Some(ended) = slot.stage.take_ended() {
                drop(slot);
                drop(fresh);
                break ended;
            }
            assert!(
                !matches!(slot.stage, Stage::Gone),
                "a Run's job is never gone while it waits"
            );
            match store_waker(&mut slot.waker, cx.waker(), &mut fresh) {
                Store::Done(stale) => {
                    drop(slot);
                    drop(stale);
                    return Poll::Pending;
                }
                Store::Clone => {
                    drop(slot);
                    fresh = Some(cx.waker().clone());
                }
            }
        };
        match ended {
            Ended::Done(Ok(value)) => Poll::Ready(value),
            Ended::Done(Err(payload)) => panic::resume_unwind(payload),
            Ended::Refused(f, err) => {
                drop_quietly(f);
                panic!("threadbridge: {}", fault::no_thread(err))
            }
        }
    }

    fn run_inline(self: Arc<Self>, cx: &Context<'_>) {
        // Cloned before the pool lock: a waker is executor code. This is
        // the rare path (a Run polled on a worker of its own pool).
        let waker = cx.waker().clone();
        let mut st = self.shared.lock();
        match self.loc() {
            Loc::Queue => {
                let task: Task = self.clone();
                if !st.claim_queued(&task) {
                    return;
                }
            }
            Loc::Limiter => {
                // Wait for a token like any other job, but be woken when
                // granted so the job can be taken back from the queue.
                let mut slot = self.slot.lock();
                self.wants_inline.store(true, Ordering::Relaxed);
                let stale = slot.waker.replace(waker);
                drop((slot, st));
                drop(stale);
                return;
            }
            Loc::Urgent => {
                let task: Task = self.clone();
                if !st.claim_queued(&task) {
                    return;
                }
            }
            Loc::Reserved | Loc::Nowhere => return,
        }
        drop(st);
        self.execute(None);
    }

    fn abandon(&self, cancel: bool) {
        if cancel {
            self.cancel.cancel();
        }
        let mut slot = self.slot.lock();
        self.abandoned.store(true, Ordering::Relaxed);
        let waker = slot.waker.take();
        if cancel && matches!(slot.stage, Stage::Pending(_)) {
            drop(slot);
            self.withdraw();
        } else {
            // Ended before anyone took the outcome: drop it here.
            let ended = slot.stage.take_ended();
            drop(slot);
            match ended {
                Some(Ended::Done(outcome)) => discard(&self.shared.config, outcome),
                Some(Ended::Refused(f, _)) => drop_quietly(f),
                None => {}
            }
        }
        drop(waker);
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

#[cfg(all(test, not(any(miri, threadbridge_loom))))]
mod tests {
    use super::{JobCell, Origin};
    use crate::work::Plain;

    fn cell_size<F: FnOnce() + Send + 'static>(_: &F) -> usize {
        std::mem::size_of::<JobCell<Plain<F>>>() - std::mem::size_of::<Origin>()
    }

    /// A job's one allocation is the cell plus `Arc`'s two counts. For a
    /// closure of 16 bytes (a `Duration`) that is 96 bytes, glibc's 96-byte
    /// class, with the job's `accepted` stamp and token wait inside; one
    /// word more costs 112.
    #[test]
    fn a_job_cell_fits_a_96_byte_allocation() {
        let nap = std::time::Duration::from_millis(1);
        assert_eq!(cell_size(&move || std::thread::sleep(nap)), 80);
    }
}
