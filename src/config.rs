//! [`Config`]: the settings a pool is built with, their defaults and where
//! each default comes from.

use std::any::Any;
use std::time::Duration;

use crate::error::Error;
use crate::stats::Starvation;
use crate::sync::{Arc, AtomicBool};

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

/// Default time an idle thread spins, watching for its next job, before it
/// parks: 20 µs. A job handed to a spinning thread starts with no futex
/// wake on either side; the README's spin table (`cargo bench --bench
/// spin`) shows what each budget costs in CPU and buys in latency.
///
/// # Examples
/// ```
/// // Never spin: the lowest CPU use, a futex wake for every hand-off.
/// let pool = threadbridge::Pool::builder()
///     .idle_spin(std::time::Duration::ZERO)
///     .build()?;
/// # assert_eq!(threadbridge::DEFAULT_IDLE_SPIN.as_micros(), 20);
/// # Ok::<(), threadbridge::Error>(())
/// ```
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(20);

/// The longest `Builder::idle_spin` accepted: 10 ms, some 500 times what a
/// futex wake costs.
///
/// # Examples
/// ```
/// let err = threadbridge::Pool::builder()
///     .idle_spin(threadbridge::MAX_IDLE_SPIN * 2)
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("idle_spin"));
/// ```
pub const MAX_IDLE_SPIN: Duration = Duration::from_millis(10);

pub(crate) type Hook = Arc<dyn Fn() + Send + Sync>;
pub(crate) type PanicHook = Arc<dyn Fn(Box<dyn Any + Send>) + Send + Sync>;
pub(crate) type NameFn = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// `Builder::on_starvation`'s detector: the hook, how long a wait makes an
/// episode, and whether the hook's panic was reported yet.
pub(crate) struct Detector {
    pub(crate) after: Duration,
    pub(crate) hook: Box<dyn Fn(&Starvation) + Send + Sync>,
    pub(crate) reported: AtomicBool,
}

/// How many idle threads of one pool may spin at once before parking. Two:
/// while one is handed a job and runs it, the other keeps a core awake for
/// the submitter's wake-up and catches the next job. On a virtual machine a
/// wake-up sent to a halted core costs ~15–20 µs; with two spinners a
/// one-at-a-time round trip stays near 5 µs (see README, Performance).
pub(crate) const MAX_SPINNERS: usize = 2;

/// The settings a pool is built with (fixed for its life, but for
/// `max_threads`, which lives in the pool's state).
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) min_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) idle_spin: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) thread_name: NameFn,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    pub(crate) on_panic: Option<PanicHook>,
    pub(crate) starvation: Option<Arc<Detector>>,
}

impl Config {
    /// The defaults: [`DEFAULT_MAX_THREADS`] threads at most, none kept
    /// while idle, [`DEFAULT_KEEP_ALIVE`], [`DEFAULT_IDLE_SPIN`], an
    /// unbounded queue, threads named `threadbridge-{n}` with std's stack
    /// size, no hooks.
    pub(crate) fn new() -> Self {
        Self {
            max_threads: DEFAULT_MAX_THREADS,
            min_threads: 0,
            keep_alive: DEFAULT_KEEP_ALIVE,
            idle_spin: DEFAULT_IDLE_SPIN,
            queue_capacity: usize::MAX,
            thread_name: Arc::new(|i| format!("threadbridge-{i}")),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            on_panic: None,
            starvation: None,
        }
    }

    /// Checks the settings that only make sense together; the error names
    /// the setting refused and its bound.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.max_threads == 0 {
            return Err(Error::invalid("max_threads must be at least 1, got 0"));
        }
        if self.idle_spin > MAX_IDLE_SPIN {
            return Err(Error::invalid(format!(
                "idle_spin must be at most {MAX_IDLE_SPIN:?}, got {:?}",
                self.idle_spin
            )));
        }
        if self.min_threads > self.max_threads {
            return Err(Error::invalid(format!(
                "min_threads must be at most max_threads ({}), got {}",
                self.max_threads, self.min_threads
            )));
        }
        Ok(())
    }

    /// How many idle threads may spin at once before parking: none with
    /// an `idle_spin` of zero, else [`MAX_SPINNERS`].
    pub(crate) fn max_spinners(&self) -> usize {
        if self.idle_spin.is_zero() {
            0
        } else {
            MAX_SPINNERS
        }
    }
}
