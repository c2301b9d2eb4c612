//! [`Error`] for bad configuration and failed starts, [`TryRunError`] for
//! jobs a pool refused (with the closure handed back).

use std::fmt;
use std::io;
use std::time::Duration;

/// What went wrong when building or reconfiguring a pool.
///
/// Its message names the setting, the value given and the bound it broke,
/// e.g. `max_threads must be at least 1, got 0`.
///
/// # Examples
/// ```
/// let err = threadbridge::Pool::builder().max_threads(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "max_threads must be at least 1, got 0");
/// ```
pub struct Error {
    repr: Repr,
}

enum Repr {
    Invalid(String),
    Spawn(io::Error),
    GlobalExists,
}

// Immutable once made (an `io::Error` inside is only read).
impl std::panic::UnwindSafe for Error {}
impl std::panic::RefUnwindSafe for Error {}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            repr: Repr::Invalid(message.into()),
        }
    }

    pub(crate) fn spawn(err: io::Error) -> Self {
        Self {
            repr: Repr::Spawn(err),
        }
    }

    pub(crate) fn global_exists() -> Self {
        Self {
            repr: Repr::GlobalExists,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Invalid(message) => f.write_str(message),
            Repr::Spawn(err) => write!(f, "could not start a worker thread: {err}"),
            Repr::GlobalExists => f.write_str("the global pool is already built"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Error").field(&self.to_string()).finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Spawn(err) => Some(err),
            _ => None,
        }
    }
}

/// A job that [`Pool::try_run`](crate::Pool::try_run) or
/// [`Limiter::try_run`](crate::Limiter::try_run) refused; the closure comes
/// back so the caller can run it inline, retry or drop it.
///
/// # Examples
/// ```
/// use threadbridge::{Pool, TryRunError};
///
/// let pool = Pool::builder().build()?;
/// let _ = pool.shutdown_timeout(std::time::Duration::from_secs(1));
/// match pool.try_run(|| 1 + 1) {
///     Err(err @ TryRunError::Closed(_)) => {
///         assert!(err.is_closed());
///         assert_eq!((err.into_inner())(), 2); // run it inline instead
///     }
///     _ => unreachable!(),
/// }
/// # Ok::<(), threadbridge::Error>(())
/// ```
pub enum TryRunError<F> {
    /// The queue is at its [`queue_capacity`](crate::Builder::queue_capacity)
    /// and every thread is busy, or, from
    /// [`Limiter::try_run`](crate::Limiter::try_run), every one of the
    /// limiter's tokens is taken. [`Pool::stats`](crate::Pool::stats) and
    /// [`Limiter::stats`](crate::Limiter::stats) say which, and the bound.
    Full(F),
    /// The pool is shut down.
    Closed(F),
    /// The pool has no thread and the OS refused to start one.
    Spawn(F, io::Error),
}

impl<F> TryRunError<F> {
    /// Takes the refused closure back.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().max_threads(1).queue_capacity(0).build()?;
    /// let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    /// let busy = pool.try_run({ let gate = gate.clone(); move || { gate.wait(); } }).unwrap();
    /// let err = pool.try_run(|| 6 * 7).unwrap_err();
    /// // Run it inline instead, or shed it.
    /// assert_eq!((err.into_inner())(), 42);
    /// gate.wait();
    /// # futures::executor::block_on(busy);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn into_inner(self) -> F {
        match self {
            Self::Full(f) | Self::Closed(f) | Self::Spawn(f, _) => f,
        }
    }

    pub(crate) fn map<G>(self, f: impl FnOnce(F) -> G) -> TryRunError<G> {
        match self {
            Self::Full(x) => TryRunError::Full(f(x)),
            Self::Closed(x) => TryRunError::Closed(f(x)),
            Self::Spawn(x, err) => TryRunError::Spawn(f(x), err),
        }
    }

    /// `true` if the job was refused because the pool was full.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().max_threads(1).queue_capacity(0).build()?;
    /// let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    /// let busy = pool.try_run({ let gate = gate.clone(); move || { gate.wait(); } }).unwrap();
    /// let err = pool.try_run(|| 6 * 7).unwrap_err();
    /// assert!(err.is_full() && !err.is_closed() && !err.is_spawn());
    /// gate.wait();
    /// # futures::executor::block_on(busy);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// `true` if the job was refused because the pool was shut down.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().build()?;
    /// drop(pool.shutdown()); // closes the pool at once
    /// let err = pool.try_run(|| ()).unwrap_err();
    /// assert!(err.is_closed());
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }

    /// `true` if the job was refused because no thread could be started.
    ///
    /// # Examples
    /// ```
    /// # let pool = threadbridge::Pool::builder().build()?;
    /// match pool.try_run(|| ()) {
    ///     Ok(run) => drop(run),
    ///     // The OS refused a thread and the pool has none: run it here instead.
    ///     Err(err) if err.is_spawn() => (err.into_inner())(),
    ///     Err(err) => return Err(err.to_string().into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_spawn(&self) -> bool {
        matches!(self, Self::Spawn(..))
    }
}

// As unwind safe as the closure it hands back (an `io::Error` inside is
// only read).
impl<F: std::panic::UnwindSafe> std::panic::UnwindSafe for TryRunError<F> {}
impl<F: std::panic::RefUnwindSafe> std::panic::RefUnwindSafe for TryRunError<F> {}

impl<F> fmt::Debug for TryRunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
            Self::Spawn(_, err) => write!(f, "Spawn(.., {err:?})"),
        }
    }
}

impl<F> fmt::Display for TryRunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str(
                "full: every thread and queue slot of the pool, or every token of the \
                 limiter, is taken, and try_run does not wait (stats() says which)",
            ),
            Self::Closed(_) => f.write_str("the pool is shut down"),
            Self::Spawn(_, err) => write!(f, "could not start a worker thread: {err}"),
        }
    }
}

impl<F> std::error::Error for TryRunError<F> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(_, err) => Some(err),
            _ => None,
        }
    }
}

/// A [`run_by`](crate::Pool::run_by) job whose deadline passed before it
/// started: it never ran. Holds the closure (take it back with
/// [`into_inner`](Expired::into_inner)) and how long the job
/// [waited](Expired::waited).
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// # futures::executor::block_on(async {
/// let pool = threadbridge::Pool::builder().build()?;
/// let past = Instant::now() - Duration::from_millis(1);
/// let err = pool.run_by(past, |_| "never").await.unwrap_err();
/// assert!(err.to_string().contains("deadline"));
/// let f = err.into_inner(); // the closure, never called
/// # let _ = f;
/// assert_eq!(pool.stats().expired, 1);
/// # Ok::<(), threadbridge::Error>(())
/// # }).unwrap();
/// ```
pub struct Expired<F> {
    f: F,
    waited: Duration,
}

impl<F> Expired<F> {
    pub(crate) fn new(f: F, waited: Duration) -> Self {
        Self { f, waited }
    }

    /// The closure, which was never called.
    pub fn into_inner(self) -> F {
        self.f
    }

    /// How long the job waited, from `run_by` to its expiry.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl<F> fmt::Debug for Expired<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expired")
            .field("waited", &self.waited)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for Expired<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the job's deadline passed before it started (it waited {:?} and never ran)",
            self.waited
        )
    }
}

impl<F> std::error::Error for Expired<F> {}
