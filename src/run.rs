//! [`Run<T>`]: the future of one job's result.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::job::RunHandle;
use crate::shared;
use crate::sync::Arc;

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
        if shared::is_worker_of(job.shared()) {
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

#[allow(dead_code)]
const fn assert_send<T: Send>() {}
const _: () = assert_send::<Run<u8>>();
const _: () = assert_send::<Run<Vec<String>>>();
