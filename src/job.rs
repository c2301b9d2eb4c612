//! One job: what it runs ([`Work`]: a closure in one of the shapes the
//! API accepts), and the single allocation that carries it — the
//! closure, its stage, the awaiting task's waker, the cancel flag, the
//! submitter's span and, at the end, the result. Here a job is claimed,
//! expired, refused, withdrawn and run; the [`Run`](crate::Run) side of
//! the cell (polling for the result, running inline, abandoning) is
//! `run.rs`.
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
//!
//! # The `tracing` feature
//! A job runs inside its submitter's span, reporting to its submitter's
//! subscriber ([`Origin`]). Without the feature, `Origin` is empty and its
//! methods compile to nothing.

use std::io;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::{CancelToken, Cancelled};
use crate::error::Expired;
use crate::fault::discard;
use crate::observe::timing::{self, Ran};
use crate::queue::{After, Claim, Expiry, Job, Loc, Tokens};
use crate::state::Shared;
use crate::sync::{self, Arc, AtomicBool, AtomicU32, AtomicU8, IdleWorker, Mutex, Ordering};
use crate::worker;

/// Makes the [`CancelToken`] a closure is handed, with the job's deadline
/// if it has one; called only by the closures that take a token.
pub(crate) type MakeToken<'a> = &'a dyn Fn(Option<Instant>) -> CancelToken;

/// A job's closure, in one of the shapes the API accepts; a named type
/// (not a wrapping closure) so a refused closure can be handed back.
pub(crate) trait Work: Send + 'static {
    type Output: Send + 'static;
    fn call(self, token: MakeToken<'_>) -> Self::Output;
    /// The job's deadline, for a `run_by` job; `None` (and no cost) for
    /// every other.
    #[inline]
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// The outcome of a job whose deadline passed before it started.
    fn expire(self, _waited: Duration) -> Self::Output
    where
        Self: Sized,
    {
        unreachable!("only a job with a deadline expires")
    }
}

/// A closure from `run` / `try_run`.
pub(crate) struct Plain<F>(pub(crate) F);

/// A closure from `run_cancellable`.
pub(crate) struct Cancellable<F>(pub(crate) F);

/// A closure from `run_by`, with its deadline.
pub(crate) struct Deadline<F>(pub(crate) F, pub(crate) Instant);

impl<F, T> Work for Plain<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
    #[inline]
    fn call(self, _: MakeToken<'_>) -> T {
        (self.0)()
    }
}

impl<F, T> Work for Cancellable<F>
where
    F: FnOnce(&CancelToken) -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
    #[inline]
    fn call(self, token: MakeToken<'_>) -> T {
        (self.0)(&token(None))
    }
}

impl<F, T> Work for Deadline<F>
where
    F: FnOnce(&CancelToken) -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = Result<T, Expired<F>>;
    fn call(self, token: MakeToken<'_>) -> Self::Output {
        Ok((self.0)(&token(Some(self.1))))
    }
    fn deadline(&self) -> Option<Instant> {
        Some(self.1)
    }
    fn expire(self, waited: Duration) -> Self::Output {
        Err(Expired::new(self.0, waited))
    }
}

/// Where a job was submitted from, as `tracing` sees it.
#[derive(Default)]
pub(crate) struct Origin {
    #[cfg(feature = "tracing")]
    inner: Option<(tracing::Dispatch, tracing::Span)>,
}

impl Origin {
    /// The calling thread's current subscriber and span.
    #[inline]
    pub(crate) fn capture() -> Self {
        Self {
            #[cfg(feature = "tracing")]
            inner: Some((
                tracing::dispatcher::get_default(tracing::Dispatch::clone),
                tracing::Span::current(),
            )),
        }
    }

    /// Runs `f` with the captured subscriber as the thread's default and the
    /// captured span entered; both are dropped when `f` returns, so the span
    /// closes with the job (before its `Run` can see the result).
    #[inline]
    pub(crate) fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tracing")]
        if let Some((dispatch, span)) = self.inner {
            return tracing::dispatcher::with_default(&dispatch, || span.in_scope(f));
        }
        f()
    }
}

pub(crate) enum Stage<F, T> {
    Pending(F),
    Claimed(F),
    Running,
    Done(thread::Result<T>),
    Refused(F, Arc<io::Error>),
    Gone,
}

/// How a job ended, taken out of its stage by whoever gets the outcome.
pub(crate) enum Ended<F, T> {
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
    pub(crate) fn take_ended(&mut self) -> Option<Ended<F, T>> {
        self.take(|stage| match stage {
            Stage::Done(outcome) => Ok(Ended::Done(outcome)),
            Stage::Refused(f, err) => Ok(Ended::Refused(f, err)),
            other => Err(other),
        })
    }

    /// The closure of a job still pending; the stage is then `Gone`.
    pub(crate) fn take_pending(&mut self) -> Option<F> {
        self.take(|stage| match stage {
            Stage::Pending(f) => Ok(f),
            other => Err(other),
        })
    }
}

pub(crate) struct Slot<F, T> {
    pub(crate) stage: Stage<F, T>,
    pub(crate) waker: Option<Waker>,
    /// Taken by the worker with the closure.
    pub(crate) origin: Origin,
}

pub(crate) struct JobCell<W: Work> {
    pub(crate) slot: Mutex<Slot<W, W::Output>>,
    // ORDERING: Release when the Run is dropped, Acquire when a token
    // reads it, so whatever the dropping side did before is visible to a
    // job that sees `true`.
    /// Set when the job's `Run` is dropped ([`CancelToken`]).
    pub(crate) cancelled: AtomicBool,
    // ORDERING: written and read only under the pool lock.
    loc: AtomicU8,
    // ORDERING: `abandoned` and `wants_inline` belong to the slot, and are
    // only accessed with its lock held — `wants_inline` is also only set
    // with the pool lock held, so under that lock it may be read alone.
    // They sit beside `loc` outside the slot because there they share
    // padding, which keeps the cell in a smaller allocator size class
    // (see the test below).
    pub(crate) abandoned: AtomicBool,
    pub(crate) wants_inline: AtomicBool,
    // ORDERING: written under the pool lock when a limiter grants the job
    // its token, read by the thread that claimed it (under that lock too).
    /// The time spent waiting for a limiter's token, in ns, as `f32` bits
    /// (32 bits fit the cell's padding; `f32` keeps 24 bits of precision).
    token_wait: AtomicU32,
    /// When the job was accepted (`timing::now_ns`).
    accepted: u64,
    pub(crate) limiter: Option<Arc<Tokens>>,
    pub(crate) shared: Arc<Shared>,
}

impl<W: Work> JobCell<W> {
    pub(crate) fn new(f: W, shared: Arc<Shared>, limiter: Option<Arc<Tokens>>) -> Self {
        Self {
            slot: Mutex::new(Slot {
                stage: Stage::Pending(f),
                waker: None,
                origin: Origin::capture(),
            }),
            cancelled: AtomicBool::new(false),
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
}

impl<W: Work> JobCell<W> {
    /// The cell's address: with its deadline, its key among the pending
    /// deadlines (unique while it lives).
    pub(crate) fn addr(&self) -> usize {
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
    #[inline]
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
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
        match self.loc.load(Ordering::Relaxed) {
            0 => Loc::Limiter,
            1 => Loc::Queue,
            2 => Loc::Urgent,
            3 => Loc::Reserved,
            _ => Loc::Nowhere,
        }
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
        let reserved = matches!(self.loc(), Loc::Reserved);
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
            sync::wake(waker);
        }
        after
    }
}

#[cfg(all(test, not(any(miri, threadbridge_loom))))]
mod tests {
    use super::{JobCell, Origin, Plain};

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
