//! [`Shutdown`]: the future that resolves once every worker has exited.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::shared::Shared;
use crate::sync::Arc;

/// Resolves once every worker thread of a closed pool has exited; from
/// [`Pool::shutdown`](crate::Pool::shutdown).
///
/// The pool was closed when `shutdown` was called, not when this is first
/// polled; dropping it does not reopen the pool.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let pool = threadbridge::Pool::builder().build()?;
/// let job = pool.run(|| 7);
/// pool.shutdown().await; // the accepted job still runs
/// assert_eq!(job.await, 7);
/// assert_eq!(pool.stats().threads, 0);
/// # Ok::<(), threadbridge::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "a Shutdown does nothing unless awaited; the pool is already closed"]
pub struct Shutdown {
    shared: Arc<Shared>,
    waiter: Option<u64>,
}

impl Shutdown {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            waiter: None,
        }
    }
}

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.shared.poll_exit(&mut this.waiter, cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        if let Some(id) = self.waiter {
            self.shared.forget_exit_waker(id);
        }
    }
}

// A panic cannot leave a handle half-updated: what it points to changes
// only under the pool's locks, in steps that run no user code (see
// `fault.rs`). So, like tokio's `JoinHandle`, it is unwind safe, and
// `run(f).catch_unwind()` compiles.
impl std::panic::UnwindSafe for Shutdown {}
impl std::panic::RefUnwindSafe for Shutdown {}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown").finish_non_exhaustive()
    }
}

#[allow(dead_code)]
const fn assert_send<T: Send>() {}
const _: () = assert_send::<Shutdown>();
