//! What the adapters ([`Iter`](crate::Iter), [`Unblock`](crate::Unblock))
//! share: a value (an iterator, a reader or writer) that short jobs take to
//! a pool thread and hand back, and an async side that polls those jobs'
//! [`Run`]s.
//!
//! The hand-back follows [`register_waker`](crate::sync::register_waker)'s
//! rule: the async side checks the adapter's state and registers its waker
//! under the adapter's lock; a job takes its last look at the work, puts
//! the value back, clears `busy` and takes that waker in one critical
//! section, and wakes it once the lock is released. So work added by the
//! async side is never left with no job to do it, and no wake-up is lost.

use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::TryRunError;
use crate::fault;
use crate::job::Work;
use crate::pool::{self, Pool};
use crate::run::Run;
use crate::state;
use crate::sync::{self, drop_quietly};

/// Ends an adapter's job: `last_look` works on the value the job holds and,
/// in the critical section of its last look, puts it back (or leaves it in
/// `value` to be dropped here: an ended iterator), clears `busy` and
/// returns the async side's waker, which is woken here, unlocked.
///
/// If `last_look` panics, `lose` marks the adapter's state lost (and wakes
/// the async side), the value is dropped on this thread, and the panic goes
/// on to the pool, which hands it to the job's `Run`.
pub(crate) fn hand_back<V>(
    value: V,
    last_look: impl FnOnce(&mut Option<V>) -> Option<Waker>,
    lose: impl FnOnce(),
) {
    let mut value = Some(value);
    match panic::catch_unwind(AssertUnwindSafe(|| last_look(&mut value))) {
        Ok(waker) => {
            if let Some(waker) = waker {
                sync::wake(waker);
            }
            drop(value);
        }
        Err(payload) => {
            lose();
            // A second panic from the value's Drop would replace the first.
            drop_quietly(value);
            panic::resume_unwind(payload)
        }
    }
}

/// Submits an adapter's job; a job the pool refuses comes back with why
/// (a text the adapter puts in its own words).
pub(crate) fn submit<W: Work>(pool: &Pool, job: W) -> Result<Run<W::Output>, (W, io::Error)> {
    match pool::submit(pool.shared(), None, job, false) {
        Ok(run) => Ok(run),
        Err(TryRunError::Spawn(job, err)) => {
            Err((job, io::Error::new(err.kind(), fault::no_thread(&err))))
        }
        Err(TryRunError::Closed(job) | TryRunError::Full(job)) => Err((
            job,
            io::Error::new(io::ErrorKind::Other, "the pool is shut down"),
        )),
    }
}

/// Polls the adapter's latest job's [`Run`], if any, keeping it while it
/// is pending. Ready when there is none left: a panic it held has resumed
/// here.
pub(crate) fn poll_run<R>(run: &mut Option<Run<R>>, cx: &mut Context<'_>) -> Poll<()> {
    // Out while it is polled: a Run that resumes a panic is dropped.
    if let Some(mut pending) = run.take() {
        if Pin::new(&mut pending).poll(cx).is_pending() {
            *run = Some(pending);
            return Poll::Pending;
        }
    }
    Poll::Ready(())
}

/// Called where the async side is about to wait for a job. On a worker
/// thread of the pool (a job that `block_on`s the adapter) a job still
/// queued would wait for a thread that this very thread may be holding:
/// polling its [`Run`] there takes it back and runs it inline, as [`Run`]
/// does for nested jobs. Jobs never wait for the async side, so running one
/// inline cannot deadlock.
pub(crate) fn poll_inline<R>(pool: &Pool, run: &mut Option<Run<R>>, cx: &mut Context<'_>) {
    if state::is_worker_of(pool.shared()) {
        let _ = poll_run(run, cx);
    }
}
