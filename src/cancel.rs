//! [`CancelToken`]: how a running job learns that nobody wants its result,
//! or that its deadline has passed.
//!
//! A job's cell holds only a one-byte flag (every job pays for it, so
//! it stays small); the token a closure sees is made when the closure is
//! called, with the job's deadline if it has one, and points back to the
//! flag. Plain `run` closures never see a token, and none is made for them.

use std::fmt;
use std::time::Instant;

use crate::sync::Arc;

/// What a token points back to: the job whose `Run` may be dropped.
pub(crate) trait Cancelled: Send + Sync {
    fn is_cancelled(&self) -> bool;
}

/// Handed to a [`run_cancellable`](crate::Pool::run_cancellable) or
/// [`run_by`](crate::Pool::run_by) closure;
/// [`is_cancelled`](CancelToken::is_cancelled) turns `true` once the job's
/// [`Run`](crate::Run) is dropped (not when it is
/// [detached](crate::Run::detach)), or once a `run_by` job's
/// [deadline](CancelToken::deadline) has passed, so a long job can stop
/// early.
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
    job: Arc<dyn Cancelled>,
    deadline: Option<Instant>,
}

impl CancelToken {
    pub(crate) fn new(job: Arc<dyn Cancelled>, deadline: Option<Instant>) -> Self {
        Self { job, deadline }
    }

    /// `true` once the job's [`Run`](crate::Run) has been dropped, or its
    /// [deadline](CancelToken::deadline) has passed (whether or not the
    /// `Run` is awaited or detached).
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
        self.job.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The job's deadline, for a [`run_by`](crate::Pool::run_by) job (so
    /// it can budget its work); `None` for a
    /// [`run_cancellable`](crate::Pool::run_cancellable) one.
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, Instant};
    /// # futures::executor::block_on(async {
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// let left = threadbridge::run_by(deadline, |token| {
    ///     token.deadline().map(|d| d.saturating_duration_since(Instant::now()))
    /// });
    /// let left = left.await.expect("started well before its deadline");
    /// assert!(left.is_some_and(|left| left <= Duration::from_secs(60)));
    /// # });
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

// A token only reads a flag and a deadline: a panic cannot leave either
// half-updated, so it is unwind safe, as it was when it held the flag.
impl std::panic::UnwindSafe for CancelToken {}
impl std::panic::RefUnwindSafe for CancelToken {}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .field("deadline", &self.deadline)
            .finish()
    }
}
