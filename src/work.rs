//! [`Work`]: what a job runs — a closure in one of the shapes the API
//! accepts (`run`, `run_cancellable`, `run_by`), how it is called, and,
//! for `run_by`, its deadline and the outcome of missing it.

use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::error::Expired;

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
