//! [`Run<T>`]: the future of one job's result, and its side of the job's
//! cell (`job.rs`): polling for the outcome, running the job inline when
//! it is awaited on a worker of its own pool, and abandoning it when the
//! `Run` is dropped or detached.

use std::fmt;
use std::future::Future;
use std::mem;
use std::panic;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::fault::{self, discard};
use crate::job::{Ended, JobCell, Stage, Work};
use crate::queue::{Claim, Job, Loc, Task};
use crate::state::{self, Shared, State};
use crate::sync::{drop_quietly, store_waker, Arc, Ordering, Store};
use crate::worker;

/// The result of a job handed to a pool; `.await` it to get the value.
///
/// The job was submitted when the `Run` was created: it runs whether or not
/// the `Run` is ever polled, like a spawned task.
///
/// * **Dropping** a `Run` before its job starts means the job never runs;
///   after it starts, the job runs to its end on its thread and the result
///   is dropped there. A [`CancelToken`](crate::CancelToken) lets a long job
///   notice.
/// * [`detach`](Run::detach) lets the job run without anyone awaiting it.
/// * If the job panicked, awaiting its `Run` resumes the panic in the
///   awaiting task.
/// * A `Run` first polled on a worker thread of its own pool (a job that
///   does `block_on(pool.run(..))`) runs its job right there if no thread
///   has taken it yet, so nesting cannot deadlock on the thread cap.
///
/// # Panics
/// Awaiting resumes the job's panic, if it panicked; and panics if the pool
/// had no thread and could not start one for this job.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let len = threadbridge::run(|| std::fs::read_dir(".").map(|d| d.count())).await?;
/// assert!(len > 0);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "a Run does nothing useful unless awaited; call `detach` to run the job without its result"]
pub struct Run<T> {
    job: Option<Arc<dyn RunHandle<T>>>,
}

impl<T> Run<T> {
    pub(crate) fn new(job: Arc<dyn RunHandle<T>>) -> Self {
        Self { job: Some(job) }
    }

    /// Lets the job run to its end without awaiting it; its result is
    /// dropped on the worker, and a panic goes to the pool's
    /// [`on_panic`](crate::Builder::on_panic) hook. Unlike dropping the
    /// `Run`, this neither prevents the job from starting nor cancels its
    /// [`CancelToken`](crate::CancelToken).
    ///
    /// # Examples
    /// ```
    /// threadbridge::run(|| println!("runs in the background")).detach();
    /// ```
    pub fn detach(mut self) {
        if let Some(job) = self.job.take() {
            job.abandon(false);
        }
    }
}

impl<T> Future for Run<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let job = self.job.as_ref().expect("Run polled after it completed");
        if state::is_worker_of(job.shared()) {
            Arc::clone(job).run_inline(cx);
        }
        let poll = job.poll_result(cx);
        if poll.is_ready() {
            self.job = None;
        }
        poll
    }
}

impl<T> Drop for Run<T> {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            job.abandon(true);
        }
    }
}

// A panic cannot leave a handle half-updated: what it points to changes
// only under the pool's locks, in steps that run no user code (see
// `fault.rs`). So, like tokio's `JoinHandle`, it is unwind safe, and
// `run(f).catch_unwind()` compiles.
impl<T> std::panic::UnwindSafe for Run<T> {}
impl<T> std::panic::RefUnwindSafe for Run<T> {}

impl<T> fmt::Debug for Run<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("done", &self.job.is_none())
            .finish_non_exhaustive()
    }
}

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
            // Queued, or a reservation's job holding its token: claim it.
            Loc::Queue | Loc::Urgent => {
                let task: Task = self.clone();
                if !claim_queued(&mut st, &task) {
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
            Loc::Reserved | Loc::Nowhere => return,
        }
        drop(st);
        self.execute(None);
    }

    fn abandon(&self, cancel: bool) {
        if cancel {
            self.cancelled.store(true, Ordering::Release);
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

impl<W: Work> JobCell<W> {
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

/// Claims a specific queued job (a nested `Run` taken back inline), under
/// the pool lock.
fn claim_queued(st: &mut State, job: &Task) -> bool {
    let loc = job.loc();
    let claimed = match job.claim() {
        Claim::Claimed(key) => {
            st.claimed(key, loc == Loc::Urgent);
            if loc == Loc::Urgent {
                job.set_loc(Loc::Reserved);
            }
            true
        }
        Claim::Gone => false,
        Claim::Expired(expiry) => {
            st.expired(loc, job, expiry);
            false
        }
    };
    st.compact_queue();
    claimed
}

#[allow(dead_code)]
const fn assert_send<T: Send>() {}
const _: () = assert_send::<Run<u8>>();
const _: () = assert_send::<Run<Vec<String>>>();
