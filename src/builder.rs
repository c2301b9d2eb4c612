//! [`Builder`]: every setting of a pool, its default and where the default
//! comes from; the `THREADBRIDGE_MAX_THREADS` environment variable.

use std::any::Any;
use std::fmt;
use std::time::Duration;

use crate::error::Error;
use crate::pool::Pool;
use crate::sync::Arc;

/// Default cap on worker threads: 40, the size of the `CapacityLimiter`
/// behind anyio's `to_thread.run_sync` (and so Starlette's and FastAPI's
/// `run_in_threadpool`).
///
/// # Examples
/// ```
/// let pool = threadbridge::Pool::builder().build()?;
/// assert_eq!(pool.stats().max_threads, threadbridge::DEFAULT_MAX_THREADS);
/// # Ok::<(), threadbridge::Error>(())
/// ```
pub const DEFAULT_MAX_THREADS: usize = 40;

/// Default idle time before a thread above `min_threads` exits: 10 s, as in
/// tokio's blocking pool (smol's `blocking` uses 500 ms).
///
/// # Examples
/// ```
/// // Keep idle threads for a minute instead.
/// let pool = threadbridge::Pool::builder()
///     .keep_alive(threadbridge::DEFAULT_KEEP_ALIVE * 6)
///     .build()?;
/// # Ok::<(), threadbridge::Error>(())
/// ```
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The environment variable that sets the global pool's `max_threads` when
/// it is built lazily.
///
/// # Examples
/// ```
/// assert_eq!(threadbridge::MAX_THREADS_ENV, "THREADBRIDGE_MAX_THREADS");
/// // THREADBRIDGE_MAX_THREADS=8 ./server   caps the global pool at 8 threads
/// ```
pub const MAX_THREADS_ENV: &str = "THREADBRIDGE_MAX_THREADS";

pub(crate) type Hook = Arc<dyn Fn() + Send + Sync>;
pub(crate) type PanicHook = Arc<dyn Fn(Box<dyn Any + Send>) + Send + Sync>;
pub(crate) type NameFn = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// The settings a pool is built with (fixed for its life, but for
/// `max_threads`, which lives in the pool's state).
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) min_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) thread_name: NameFn,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    pub(crate) on_panic: Option<PanicHook>,
}

/// Configures and builds a [`Pool`].
///
/// All setters take and return `self`; nothing is checked until
/// [`build`](Builder::build), which reports every bad value as an [`Error`].
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let pool = threadbridge::Pool::builder()
///     .max_threads(8)
///     .min_threads(1)
///     .keep_alive(Duration::from_secs(5))
///     .queue_capacity(1_000)
///     .thread_name(|i| format!("db-io-{i}"))
///     .build()?;
/// assert_eq!(pool.stats().max_threads, 8);
/// # Ok::<(), threadbridge::Error>(())
/// ```
#[must_use = "a Builder does nothing until `build` is called"]
pub struct Builder {
    max_threads: usize,
    min_threads: usize,
    keep_alive: Duration,
    queue_capacity: usize,
    thread_name: Option<NameFn>,
    stack_size: Option<usize>,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    on_panic: Option<PanicHook>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_threads", &self.max_threads)
            .field("min_threads", &self.min_threads)
            .field("keep_alive", &self.keep_alive)
            .field("queue_capacity", &self.queue_capacity)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A builder with the defaults: 40 threads at most, none kept while idle,
    /// 10 s keep-alive, an unbounded queue.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Builder::new().max_threads(4).build()?;
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn new() -> Self {
        Self {
            max_threads: DEFAULT_MAX_THREADS,
            min_threads: 0,
            keep_alive: DEFAULT_KEEP_ALIVE,
            queue_capacity: usize::MAX,
            thread_name: None,
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            on_panic: None,
        }
    }

    /// The most worker threads alive at once; default
    /// [`DEFAULT_MAX_THREADS`] (40). `0` is an error at `build`.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().max_threads(4).build()?;
    /// assert_eq!(pool.stats().max_threads, 4);
    /// assert!(threadbridge::Pool::builder().max_threads(0).build().is_err());
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = n;
        self
    }

    /// Threads started at `build` and kept alive while idle; default 0.
    /// More than `max_threads` is an error at `build`.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().min_threads(2).build()?;
    /// assert_eq!(pool.stats().threads, 2); // started at build
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn min_threads(mut self, n: usize) -> Self {
        self.min_threads = n;
        self
    }

    /// How long a thread above `min_threads` stays idle before it exits;
    /// default [`DEFAULT_KEEP_ALIVE`] (10 s).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let pool = threadbridge::Pool::builder()
    ///     .keep_alive(Duration::from_millis(500)) // as smol's `blocking`
    ///     .build()?;
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn keep_alive(mut self, d: Duration) -> Self {
        self.keep_alive = d;
        self
    }

    /// How many jobs may wait for a thread; default unbounded.
    ///
    /// When that many wait, [`Pool::try_run`] gives
    /// [`TryRunError::Full`](crate::TryRunError::Full) and [`Pool::run`]'s
    /// job waits (without blocking anyone) for space. `0` means no queue at
    /// all: a job is accepted only if a thread is idle or can start.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder()
    ///     .max_threads(1)
    ///     .queue_capacity(0)
    ///     .build()?;
    /// let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    /// let busy = pool.try_run({ let gate = gate.clone(); move || { gate.wait(); } });
    /// let busy = busy.map_err(|_| "the idle pool accepts one job").unwrap();
    /// // The only thread is taken and there is no queue: the closure comes back.
    /// let err = pool.try_run(|| 1).unwrap_err();
    /// assert!(err.is_full());
    /// gate.wait();
    /// # futures::executor::block_on(busy);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Names worker threads; called with a counter that starts at 0.
    /// Default: `threadbridge-{n}`.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder()
    ///     .thread_name(|i| format!("db-io-{i}"))
    ///     .build()?;
    /// let name = pool.run(|| std::thread::current().name().map(str::to_owned)).await;
    /// assert_eq!(name.as_deref(), Some("db-io-0"));
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn thread_name(mut self, f: impl Fn(usize) -> String + Send + Sync + 'static) -> Self {
        self.thread_name = Some(Arc::new(f));
        self
    }

    /// Stack size of worker threads, in bytes; default: std's (2 MiB, or
    /// `RUST_MIN_STACK`).
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder()
    ///     .stack_size(8 << 20) // deep recursion in a parser
    ///     .build()?;
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Called on each worker thread when it starts. A panic in it is caught;
    /// the thread serves jobs anyway.
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static STARTED: AtomicUsize = AtomicUsize::new(0);
    /// let pool = threadbridge::Pool::builder()
    ///     .min_threads(2)
    ///     .on_thread_start(|| { STARTED.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// assert!(pool.shutdown_timeout(std::time::Duration::from_secs(10)));
    /// assert_eq!(STARTED.load(Ordering::SeqCst), 2);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Called on each worker thread just before it exits. A panic in it is
    /// caught.
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static STOPPED: AtomicUsize = AtomicUsize::new(0);
    /// let pool = threadbridge::Pool::builder()
    ///     .min_threads(1)
    ///     .on_thread_stop(|| { STOPPED.fetch_add(1, Ordering::SeqCst); })
    ///     .build()?;
    /// assert!(pool.shutdown_timeout(std::time::Duration::from_secs(10)));
    /// assert_eq!(STOPPED.load(Ordering::SeqCst), 1);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_stop = Some(Arc::new(f));
        self
    }

    /// Receives the payload of every panic nobody awaits: a job whose
    /// [`Run`](crate::Run) was detached or dropped. A panic in the hook
    /// itself is caught. Without a hook, such payloads are dropped (the
    /// standard panic hook has already printed the message).
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder()
    ///     .on_panic(|payload| {
    ///         let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
    ///         eprintln!("a detached job panicked: {msg}");
    ///     })
    ///     .build()?;
    /// pool.run(|| panic!("nobody awaits this")).detach();
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn on_panic(mut self, f: impl Fn(Box<dyn Any + Send>) + Send + Sync + 'static) -> Self {
        self.on_panic = Some(Arc::new(f));
        self
    }

    /// Builds the pool and starts its `min_threads`.
    ///
    /// # Errors
    /// `max_threads` of 0, `min_threads` above `max_threads`, or the OS
    /// refusing to start the `min_threads`.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().max_threads(8).build()?;
    /// let err = threadbridge::Pool::builder().max_threads(0).build().unwrap_err();
    /// assert!(err.to_string().contains("max_threads"));
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn build(self) -> Result<Pool, Error> {
        Pool::from_config(self.into_config()?)
    }

    /// Builds the pool and installs it as the global one used by
    /// [`run`](crate::run), [`limiter`](crate::limiter) and
    /// [`global`](crate::global).
    ///
    /// # Errors
    /// The errors of [`build`](Builder::build), and an error if the global
    /// pool already exists (it is built lazily by the first use).
    ///
    /// # Examples
    /// ```
    /// threadbridge::Pool::builder().max_threads(8).build_global()?;
    /// assert_eq!(threadbridge::global().stats().max_threads, 8);
    /// assert!(threadbridge::Pool::builder().build_global().is_err());
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn build_global(self) -> Result<(), Error> {
        crate::global::install(self)
    }

    fn into_config(self) -> Result<Config, Error> {
        if self.max_threads == 0 {
            return Err(Error::invalid("max_threads must be at least 1, got 0"));
        }
        if self.min_threads > self.max_threads {
            return Err(Error::invalid(format!(
                "min_threads must be at most max_threads ({}), got {}",
                self.max_threads, self.min_threads
            )));
        }
        Ok(Config {
            max_threads: self.max_threads,
            min_threads: self.min_threads,
            keep_alive: self.keep_alive,
            queue_capacity: self.queue_capacity,
            thread_name: self
                .thread_name
                .unwrap_or_else(|| Arc::new(|i| format!("threadbridge-{i}"))),
            stack_size: self.stack_size,
            on_thread_start: self.on_thread_start,
            on_thread_stop: self.on_thread_stop,
            on_panic: self.on_panic,
        })
    }
}

/// Parses the value of [`MAX_THREADS_ENV`]; `None` when it is unset.
pub(crate) fn max_threads_from_env() -> Result<Option<usize>, Error> {
    let Some(raw) = std::env::var_os(MAX_THREADS_ENV) else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(Error::invalid(format!(
            "{MAX_THREADS_ENV} must be a positive integer, got {text:?}"
        ))),
    }
}
