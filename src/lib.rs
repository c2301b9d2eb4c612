//! Run blocking code from async code on a bounded thread pool, under any
//! executor.
//!
//! # Why
//! An async executor runs many tasks on few threads. One blocking call in an
//! `async fn` — `std::fs`, a synchronous database driver, `ureq`, a heavy
//! hash — stalls every task on that thread; on a single-threaded executor,
//! the whole server. The cure is to hand the call to another thread and
//! await its result. Python's Starlette and FastAPI do this with
//! `run_in_threadpool` (anyio's `to_thread.run_sync`, capped at 40 threads);
//! tokio has `spawn_blocking`, smol has `blocking::unblock`.
//!
//! `threadbridge` is that bridge for any executor, with the controls a
//! server needs: a bounded pool, per-call-site limiters, a bounded queue
//! with backpressure, cancellation, panic propagation and graceful
//! shutdown.
//!
//! ```
//! # futures::executor::block_on(async {
//! // Inside any async fn, under any executor:
//! let config = threadbridge::run(|| std::fs::read_to_string("Cargo.toml")).await?;
//! assert!(config.contains("[package]"));
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Bounding
//! A [`Pool`] starts threads lazily, never more than
//! [`max_threads`](Builder::max_threads) (default 40, as anyio's), and
//! lets a thread above [`min_threads`](Builder::min_threads) exit after
//! [`keep_alive`](Builder::keep_alive) idle (default 10 s). The 41st caller
//! waits in a FIFO queue — asynchronously: its executor thread never
//! blocks. The most recently idle thread takes the next job (warm caches),
//! so after a burst the cold ones expire and the pool shrinks back.
//! [`run`] uses a global pool built on first use; build your own with
//! [`Pool::builder`].
//!
//! # Limiters
//! A [`Limiter`] caps how many of *its* jobs run at once while sharing the
//! pool's threads — size one to the resource behind a call site (a database
//! pool of 10 connections: `pool.limiter(10)`). A job waiting for a token
//! holds no thread and no queue slot.
//!
//! # Backpressure
//! With [`queue_capacity`](Builder::queue_capacity), [`Pool::try_run`]
//! refuses with [`TryRunError::Full`] (the closure comes back, to run
//! inline or shed), while [`Pool::run`]'s job waits for space without
//! blocking anyone.
//!
//! # Cancellation
//! Dropping a [`Run`] before its job starts means the job never runs. After
//! it starts, it runs to its end (threads cannot be interrupted); a closure
//! given to [`Pool::run_cancellable`] can poll its [`CancelToken`] to stop
//! early. [`Run::detach`] runs a job without awaiting it.
//!
//! # Overload
//! [`Pool::run_by`] (and [`Limiter::run_by`], [`run_by`]) gives a job a
//! deadline: if it passes while the job waits, the job never starts, and
//! its [`Run`] resolves to `Err(`[`Expired`]`)` with the closure, within a
//! few milliseconds of the deadline even if no thread frees up — a timeout
//! around the call answers the caller but still lets late work take a
//! thread. [`Pool::reserve`] sets threads aside beyond `max_threads` for
//! the calls that must get through a saturated pool (a health check), and
//! [`Limiter::set_limit`]`(0)` pauses a call site.
//!
//! # Panics
//! A panicking job does not kill its worker: the panic resumes in the task
//! that awaits the [`Run`]. A panic nobody awaits goes to
//! [`Builder::on_panic`].
//!
//! # Shutdown
//! [`Pool::shutdown`] closes the pool to new jobs, runs every job already
//! accepted, and resolves when every worker has exited;
//! [`Pool::shutdown_timeout`] is its blocking form. Dropping the last
//! handle closes the pool the same way without blocking.
//!
//! # Seeing a stall
//! A server whose executor is blocked, or whose threads are all taken,
//! just gets slow. Three tools say which, cheaply enough to poll per
//! request:
//!
//! - [`lag_probe`]: a future spawned on the executor to watch, woken by the
//!   crate's one timer thread (no runtime timer), that records how late its
//!   polls come ([`LagMonitor::lag`]) and shows a block while it is still
//!   going on ([`LagMonitor::overdue`]);
//! - [`Builder::on_starvation`]: a hook called once per episode of jobs
//!   waiting while every thread (or a limiter's every token) is busy and
//!   none finishes, on a thread of the crate's own;
//! - [`Stats::queue_wait`], [`Stats::run_time`], [`LimiterStats::token_wait`]
//!   and [`LimiterStats::run_time`]: [`Timing`] histograms, with
//!   [`Timing::since`] for a window.
//!
//! ```
//! use std::time::Duration;
//!
//! let pool = threadbridge::Pool::builder()
//!     .on_starvation(Duration::from_millis(250), |s| {
//!         eprintln!("all threads busy, oldest job waiting {:?}", s.oldest_wait);
//!     })
//!     .build()?;
//! let before = pool.stats();
//! # futures::executor::block_on(pool.run(|| ()));
//! let waits = pool.stats().queue_wait.since(&before.queue_wait);
//! println!("queue wait p99 over the window: {:?}", waits.quantile(0.99));
//! # Ok::<(), threadbridge::Error>(())
//! ```
//!
//! # Runtime independence
//! The crate depends on no executor. A [`Run`] is a plain `Future` that
//! wakes the latest waker it was polled with, exactly once when its job
//! ends; it works under tokio, smol, `futures::executor` or a hand-written
//! executor. A `Run` polled on a worker of its own pool (`block_on` inside a
//! job) runs its job inline, so nesting cannot deadlock on the thread cap.
//!
//! # Feature flags
//! - `tracing` (off by default): a job runs inside the
//!   [`tracing`](https://docs.rs/tracing) span that was current where it was
//!   submitted — where `run` was *called*, not where the `Run` is polled —
//!   and its events go to that thread's subscriber, even a task-scoped one.
//!   The span stays open while the job waits and runs, and is released
//!   when the job ends or is dropped before it starts. The observers speak
//!   too: a starvation episode and a slow poll are `WARN` events.
//!
//! ```
//! # #[cfg(feature = "tracing")]
//! # futures::executor::block_on(async {
//! let span = tracing::info_span!("request", id = 7);
//! let rows = {
//!     let _entered = span.enter();
//!     threadbridge::run(|| {
//!         tracing::debug!("querying"); // recorded inside `request`
//!         3
//!     })
//! };
//! assert_eq!(rows.await, 3);
//! # });
//! ```
//!
//! # Async I/O adapters
//! [`Unblock`] wraps a blocking `std::io::Read` / `Write` / `Seek` value
//! (a `File`, stdin, a child's pipe) as a `futures_io::AsyncRead` /
//! `AsyncWrite` / `AsyncSeek`, buffered; [`iter`] turns a blocking
//! iterator (lines of a file, rows of a cursor) into a `Stream`. Both make
//! their blocking calls in short jobs on a pool, reading ahead into a
//! bounded buffer, and give the thread back whenever the buffer is full
//! (or, writing, empty): a slow consumer holds no thread.
//!
//! ```
//! # futures::executor::block_on(async {
//! use futures::io::AsyncReadExt;
//!
//! let file = threadbridge::run(|| std::fs::File::open("Cargo.toml")).await?;
//! let mut text = String::new();
//! threadbridge::Unblock::new(file).read_to_string(&mut text).await?;
//! assert!(text.contains("[package]"));
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Environment
//! `THREADBRIDGE_MAX_THREADS` sets the global pool's `max_threads` when it
//! is built lazily. A value that is not a positive integer makes that first
//! use panic with a message naming the variable — never a silent default.
//!
//! # Compared with `spawn_blocking` and `unblock`
//! | | threadbridge | tokio `spawn_blocking` | smol `blocking::unblock` |
//! |---|---|---|---|
//! | executor | any | tokio only | any |
//! | thread cap | per pool, default 40, changeable at run time | per runtime, default 512 | global, default 500 (env var) |
//! | per-call-site limit | [`Limiter`] | a `Semaphore` by hand | no |
//! | bounded queue / `try_run` | yes | no | no |
//! | drop before start | job never runs | job never runs (`abort`) | job never runs |
//! | cancel flag for a running job | [`CancelToken`] | no | no |
//! | panics | resumed in the awaiter; hook for unawaited ones | `JoinError` | resumed in the awaiter |
//! | shutdown | drains accepted jobs; async or with a timeout | with the runtime | no |
//! | stats | [`Stats`], [`LimiterStats`] | runtime metrics (unstable) | no |
//!
//! Inside a tokio runtime, `spawn_blocking` integrates with tokio's own
//! shutdown and metrics; reach for this crate when code must run under more
//! than one executor, or needs the limits above.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod adapter;
mod builder;
mod cancel;
mod config;
mod deadline;
mod error;
mod fault;
mod global;
mod iter;
mod job;
mod limiter;
mod observe;
mod pool;
mod queue;
mod reserve;
mod run;
mod shutdown;
mod state;
mod stats;
mod sync;
mod timer;
mod unblock;
mod worker;

pub use builder::Builder;
pub use cancel::CancelToken;
pub use config::{DEFAULT_IDLE_SPIN, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS, MAX_IDLE_SPIN};
pub use error::{Error, Expired, TryRunError};
pub use global::MAX_THREADS_ENV;
pub use iter::{Iter, DEFAULT_ITER_CAPACITY};
pub use limiter::Limiter;
pub use observe::lag::{lag_probe, LagMonitor, LagProbe};
pub use observe::timing::Timing;
pub use observe::watch::{on_slow_poll, watch, SlowPoll, SlowPollWatch, Watched};
pub use pool::Pool;
pub use run::Run;
pub use shutdown::Shutdown;
pub use stats::{LimiterStats, Starvation, Stats};
pub use unblock::{IntoInner, Unblock, WithMut, DEFAULT_UNBLOCK_CAPACITY};

/// Runs `f` on the [`global`] pool; `.await` the [`Run`] for its result.
///
/// # Panics
/// If the global pool cannot be built (an invalid
/// `THREADBRIDGE_MAX_THREADS`), or as [`Pool::run`].
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let n = threadbridge::run(|| 21 * 2).await;
/// assert_eq!(n, 42);
/// # });
/// ```
pub fn run<F, T>(f: F) -> Run<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    global().run(f)
}

/// Runs `f` on the [`global`] pool unless `deadline` passes first: see
/// [`Pool::run_by`].
///
/// # Panics
/// As [`run`].
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// # futures::executor::block_on(async {
/// let budget = Instant::now() + Duration::from_secs(5);
/// match threadbridge::run_by(budget, |_token| 6 * 7).await {
///     Ok(answer) => assert_eq!(answer, 42),
///     Err(expired) => eprintln!("no thread within the budget: {expired}"),
/// }
/// # });
/// ```
pub fn run_by<F, T>(deadline: std::time::Instant, f: F) -> Run<Result<T, Expired<F>>>
where
    F: FnOnce(&CancelToken) -> T + Send + 'static,
    T: Send + 'static,
{
    global().run_by(deadline, f)
}

/// A [`Stream`](futures_core::Stream) of `iter`'s items, its blocking
/// `next()` calls made on the [`global`] pool: Starlette's
/// `iterate_in_threadpool`, batched. See [`Iter`] and [`Pool::iter`].
///
/// # Panics
/// As [`run`].
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// use futures::StreamExt;
///
/// let entries = threadbridge::run(|| std::fs::read_dir(".")).await?;
/// let names: Vec<_> = threadbridge::iter(entries)
///     .filter_map(|entry| async move { entry.ok() })
///     .map(|entry| entry.file_name())
///     .collect()
///     .await;
/// assert!(names.iter().any(|name| name == "Cargo.toml"));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub fn iter<I>(iter: I) -> Iter<I::Item>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    global().iter(iter)
}

/// A [`Limiter`] on the [`global`] pool.
///
/// # Panics
/// If `limit` is 0, or as [`global`].
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// static DB: std::sync::OnceLock<threadbridge::Limiter> = std::sync::OnceLock::new();
/// let db = DB.get_or_init(|| threadbridge::limiter(10));
/// assert_eq!(db.run(|| "row").await, "row");
/// # });
/// ```
pub fn limiter(limit: usize) -> Limiter {
    global().limiter(limit)
}

/// The global pool, built on first use with the defaults and
/// `THREADBRIDGE_MAX_THREADS`, unless [`Builder::build_global`] installed
/// one first.
///
/// # Panics
/// If `THREADBRIDGE_MAX_THREADS` is set but not a positive integer.
///
/// # Examples
/// ```
/// let stats = threadbridge::global().stats();
/// assert!(stats.max_threads >= 1);
/// ```
pub fn global() -> &'static Pool {
    global::get()
}
