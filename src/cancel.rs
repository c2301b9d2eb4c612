//! [`CancelToken`]: how a running job learns that nobody wants its result.

use std::fmt;

use crate::sync::{AtomicBool, Ordering};

/// Handed to a [`run_cancellable`](crate::Pool::run_cancellable) closure;
/// [`is_cancelled`](CancelToken::is_cancelled) turns `true` once the job's
/// [`Run`](crate::Run) is dropped (not when it is
/// [detached](crate::Run::detach)), so a long job can stop early.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let pool = threadbridge::Pool::builder().build()?;
/// let sum = pool
///     .run_cancellable(|token| {
///         let mut sum = 0u64;
///         for i in 0..1_000_000u64 {
///             if i % 1024 == 0 && token.is_cancelled() {
///                 break; // nobody waits for the answer any more
///             }
///             sum += i;
///         }
///         sum
///     })
///     .await;
/// assert_eq!(sum, 499_999_500_000);
/// # Ok::<(), threadbridge::Error>(())
/// # }).unwrap();
/// ```
pub struct CancelToken {
    // ORDERING: Release on cancel, Acquire on read, so whatever the dropping
    // side did before dropping the Run is visible to a job that sees `true`.
    cancelled: AtomicBool,
}

impl CancelToken {
    pub(crate) fn new() -> Self {
        Self {
            cancelled: AtomicBool::new(false),
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// `true` once the job's [`Run`](crate::Run) has been dropped.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().build()?;
    /// let n = pool
    ///     .run_cancellable(|token| {
    ///         let mut n = 0u64;
    ///         while n < 1_000 && !token.is_cancelled() {
    ///             n += 1; // one step of a long computation
    ///         }
    ///         n
    ///     })
    ///     .await;
    /// assert_eq!(n, 1_000); // awaited to the end: never cancelled
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
