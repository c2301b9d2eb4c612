//! [`Shutdown`]: the future that resolves once every worker has exited.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::state::{Shared, State};
use crate::sync::{Arc, Store, WAKE};

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

impl Shared {
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
}

impl State {
    /// Closed, and every thread has exited (hooks included).
    pub(crate) fn all_exited(&self) -> bool {
        self.closed && self.threads == 0 && self.exiting == 0
    }
}
