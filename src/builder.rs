//! [`Builder`]: how a user sets up a [`Pool`] (the settings themselves,
//! and their defaults, are in `config.rs`).

use std::any::Any;
use std::fmt;
use std::time::Duration;

use crate::config::{Config, Detector};
use crate::error::Error;
use crate::pool::Pool;
use crate::stats::Starvation;
use crate::sync::Arc;
use crate::sync::AtomicBool;

impl Pool {
    /// A [`Builder`] with the default settings.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().max_threads(8).build()?;
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }
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
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

// Settings only: the hooks it holds are called by a pool, never by it.
impl std::panic::UnwindSafe for Builder {}
impl std::panic::RefUnwindSafe for Builder {}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_threads", &self.config.max_threads)
            .field("min_threads", &self.config.min_threads)
            .field("keep_alive", &self.config.keep_alive)
            .field("idle_spin", &self.config.idle_spin)
            .field("queue_capacity", &self.config.queue_capacity)
            .field("stack_size", &self.config.stack_size)
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
            config: Config::new(),
        }
    }

    /// The most worker threads alive at once; default
    /// [`DEFAULT_MAX_THREADS`](crate::DEFAULT_MAX_THREADS) (40). `0` is an error at `build`.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().max_threads(4).build()?;
    /// assert_eq!(pool.stats().max_threads, 4);
    /// assert!(threadbridge::Pool::builder().max_threads(0).build().is_err());
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn max_threads(mut self, n: usize) -> Self {
        self.config.max_threads = n;
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
        self.config.min_threads = n;
        self
    }

    /// How long a thread above `min_threads` stays idle before it exits;
    /// default [`DEFAULT_KEEP_ALIVE`](crate::DEFAULT_KEEP_ALIVE) (10 s).
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
        self.config.keep_alive = d;
        self
    }

    /// How long an idle thread spins, watching for its next job, before it
    /// parks; default [`DEFAULT_IDLE_SPIN`](crate::DEFAULT_IDLE_SPIN)
    /// (20 µs). At most two threads of a pool spin at a time, and an idle
    /// pool parks them all within this time: it uses no CPU.
    ///
    /// Spinning trades CPU for latency: a job handed to a spinning thread
    /// starts without a futex wake, and a spinning thread keeps a core
    /// awake for the wake-up of the task that awaits the job (on a virtual
    /// machine, waking a halted core costs ~15–20 µs). `Duration::ZERO`
    /// never spins. More than [`MAX_IDLE_SPIN`](crate::MAX_IDLE_SPIN)
    /// (10 ms) is an error at `build`: past a futex wake's cost, spinning
    /// only burns a core.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// // A sidecar that must stay cheap when idle-ish: park at once.
    /// let pool = threadbridge::Pool::builder()
    ///     .idle_spin(Duration::ZERO)
    ///     .build()?;
    /// assert_eq!(pool.stats().spinning_threads, 0);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn idle_spin(mut self, d: Duration) -> Self {
        self.config.idle_spin = d;
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
        self.config.queue_capacity = n;
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
        self.config.thread_name = Arc::new(f);
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
        self.config.stack_size = Some(bytes);
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
        self.config.on_thread_start = Some(Arc::new(f));
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
        self.config.on_thread_stop = Some(Arc::new(f));
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
        self.config.on_panic = Some(Arc::new(f));
        self
    }

    /// Calls `f` when the pool, or one of its limiters, starts to starve:
    /// a job has waited (in the queue, for queue space or for a limiter's
    /// token) for `after` while every thread the pool may have (every
    /// token of that limiter) was busy and no job of it finished. Once per
    /// episode, within about `after` plus a few milliseconds; the episode
    /// ends when a job of it finishes or nothing waits any more.
    /// [`Stats::starved`](crate::Stats::starved) counts episodes.
    ///
    /// The hook runs on a thread of the crate's own (never a worker, never
    /// under a lock); with the `tracing` feature a `WARN` event says the
    /// same. A hook that panics is reported once and stays installed.
    /// Without a detector nothing is checked and no timer thread runs.
    ///
    /// # Panics
    /// If `after` is zero.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = threadbridge::Pool::builder()
    ///     .max_threads(4)
    ///     .on_starvation(Duration::from_millis(250), |s| {
    ///         eprintln!("starving: oldest job waited {:?}, {:?}", s.oldest_wait, s.stats);
    ///     })
    ///     .build()?;
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn on_starvation(
        mut self,
        after: Duration,
        f: impl Fn(&Starvation) + Send + Sync + 'static,
    ) -> Self {
        assert!(
            !after.is_zero(),
            "threadbridge: on_starvation's `after` must be more than zero, got 0"
        );
        self.config.starvation = Some(Arc::new(Detector {
            after,
            hook: Box::new(f),
            reported: AtomicBool::new(false),
        }));
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
        self.config.validate()?;
        Pool::from_config(self.config)
    }
}
