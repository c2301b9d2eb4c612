//! Snapshots of what a pool and a limiter are doing.

use std::time::Duration;

use crate::Timing;

/// A snapshot of a pool, from [`Pool::stats`](crate::Pool::stats).
///
/// Gauges (`usize`) say what is true now; totals (`u64`) count since the
/// pool was built. A job's totals are updated before its
/// [`Run`](crate::Run) becomes ready, so right after `.await` returns the
/// job is already counted.
///
/// Every accepted job ends in exactly one of `completed`, `panicked` or
/// `cancelled`; every refused one counts in `rejected`.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let pool = threadbridge::Pool::builder().build()?;
/// pool.run(|| ()).await;
/// let stats = pool.stats();
/// assert_eq!(stats.completed, 1);
/// assert_eq!(stats.running, 0);
/// # Ok::<(), threadbridge::Error>(())
/// # }).unwrap();
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Worker threads alive (busy, idle or starting).
    pub threads: usize,
    /// Worker threads idle, waiting for a job (spinning or parked).
    pub idle_threads: usize,
    /// Idle threads still spinning: watching for a job for
    /// [`Builder::idle_spin`](crate::Builder::idle_spin) (default 20 µs)
    /// before they park, so that one which comes soon costs no wake-up. At
    /// most two, and 0 once the pool has been idle for longer than that:
    /// an idle pool burns no CPU.
    pub spinning_threads: usize,
    /// The current cap on `threads`.
    pub max_threads: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs in the pool's queue waiting for a thread, up to
    /// [`queue_capacity`](crate::Builder::queue_capacity). Jobs waiting for a
    /// limiter's token count in [`LimiterStats::waiting`] instead.
    pub queued: usize,
    /// Jobs submitted with `run` to a full queue, waiting for space.
    pub waiting: usize,
    /// Jobs whose closure returned.
    pub completed: u64,
    /// Jobs whose closure panicked.
    pub panicked: u64,
    /// Jobs whose [`Run`](crate::Run) was dropped before they started.
    pub cancelled: u64,
    /// Jobs refused: `try_run` on a full pool, or no thread could be started.
    pub rejected: u64,
    /// From the moment `run`/`try_run` accepted a job to the moment its
    /// closure started, limiter and queue-space waits included: the wait a
    /// request feels. One entry per started job.
    pub queue_wait: Timing,
    /// How long closures ran. One entry per started job.
    pub run_time: Timing,
    /// Starvation episodes so far, of the pool and its limiters together
    /// (see [`Builder::on_starvation`](crate::Builder::on_starvation); 0
    /// without a detector).
    pub starved: u64,
    /// [`run_by`](crate::Pool::run_by) jobs whose deadline passed before
    /// they started (limiter jobs included): they never ran.
    pub expired: u64,
    /// Threads set aside beyond `max_threads` for the live
    /// [reservations](crate::Pool::reserve): the sum of their limits.
    pub reserved: usize,
}

/// A snapshot of a [`Limiter`](crate::Limiter), from
/// [`Limiter::stats`](crate::Limiter::stats).
///
/// # Examples
/// ```
/// let pool = threadbridge::Pool::builder().build()?;
/// let limiter = pool.limiter(3);
/// let stats = limiter.stats();
/// assert_eq!((stats.limit, stats.running, stats.waiting), (3, 0, 0));
/// # Ok::<(), threadbridge::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// How many of the limiter's jobs may run at once.
    pub limit: usize,
    /// Tokens held: jobs started or granted a token and queued for a thread.
    pub running: usize,
    /// Jobs waiting for a token.
    pub waiting: usize,
    /// The part of a job's wait spent waiting for one of the limiter's
    /// tokens (0 for a job that got one at once). One entry per started job
    /// of the limiter.
    pub token_wait: Timing,
    /// How long the limiter's closures ran. One entry per started job.
    pub run_time: Timing,
    /// [`run_by`](crate::Limiter::run_by) jobs of the limiter whose
    /// deadline passed before they started.
    pub expired: u64,
}

/// What [`Builder::on_starvation`](crate::Builder::on_starvation)'s hook is
/// told when a pool, or one of its limiters, starts starving: jobs have
/// waited for a thread (or a token) for the whole `after` while every
/// thread the pool may have (every token of the limiter) was busy and no
/// job of it finished.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let pool = threadbridge::Pool::builder()
///     .on_starvation(Duration::from_millis(100), |s: &threadbridge::Starvation| {
///         match &s.limiter {
///             Some(limiter) => eprintln!("a limiter of {} starves: {:?}", limiter.limit, s.oldest_wait),
///             None => eprintln!("all {} threads busy; waiting {:?}", s.stats.max_threads, s.oldest_wait),
///         }
///     })
///     .build()?;
/// # Ok::<(), threadbridge::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Starvation {
    /// The pool's stats as the episode starts (`starved` already counts it).
    pub stats: Stats,
    /// The starving limiter's stats, if a limiter starves; `None` if the
    /// pool itself does.
    pub limiter: Option<LimiterStats>,
    /// How long the oldest waiting job (of the pool, or of the limiter) has
    /// waited since it was accepted.
    pub oldest_wait: Duration,
}
