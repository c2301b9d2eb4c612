//! [`Pool`]: the handle users hold, and the submit path every job takes.

use std::fmt;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;
use crate::config::Config;
use crate::deadline;
use crate::error::{Error, Expired, TryRunError};
use crate::fault;
use crate::job::JobCell;
use crate::job::{Cancellable, Deadline, Plain, Work};
use crate::queue::{Admit, Loc, Task, Tokens};
use crate::run::Run;
use crate::shutdown::Shutdown;
use crate::state::{self, Shared, State};
use crate::stats::Stats;
use crate::sync::{Arc, Ordering, WAKE};
use crate::worker;

/// A bounded pool of worker threads that async code hands blocking work to.
///
/// A cheap handle: clones share one pool. Dropping the last handle (and the
/// last [`Limiter`](crate::Limiter)) closes the pool without blocking: accepted jobs still
/// run, then the threads exit.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// use threadbridge::Pool;
///
/// let pool = Pool::builder().max_threads(4).build()?;
/// let text = pool.run(|| std::fs::read_to_string("Cargo.toml")).await?;
/// assert!(text.contains("threadbridge"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    pub(crate) fn from_config(config: Config) -> Result<Self, Error> {
        let min = config.min_threads;
        let pool = Self {
            shared: Shared::new(config),
        };
        if min > 0 {
            let mut st = pool.shared.lock();
            st.threads = min;
            st.starting = min;
            drop(st);
            if let Err(err) = worker::start_threads(&pool.shared, min) {
                pool.shared.close();
                return Err(Error::spawn(err));
            }
        }
        Ok(pool)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs `f` on a worker thread; `.await` the [`Run`] for its result.
    ///
    /// Submits at once, like a spawn: the job runs even if the `Run` is
    /// never polled. If every thread is busy the job waits in the queue
    /// (FIFO) — the caller's thread never blocks.
    ///
    /// # Panics
    /// If the pool is shut down (use [`try_run`](Pool::try_run) to get the
    /// closure back instead), or if it has no thread and the OS refuses to
    /// start one.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().build()?;
    /// let digest = pool.run(|| (0..1_000u64).map(|i| i * i).sum::<u64>()).await;
    /// assert_eq!(digest, 332_833_500);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn run<F, T>(&self, f: F) -> Run<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        expect_run(submit(&self.shared, None, Plain(f), false))
    }

    /// Like [`run`](Pool::run), but refuses instead of queueing beyond
    /// [`queue_capacity`](crate::Builder::queue_capacity), and returns errors
    /// instead of panicking.
    ///
    /// # Errors
    /// [`TryRunError::Full`] if the queue is full and no thread is free or
    /// can start, [`TryRunError::Closed`] after shutdown,
    /// [`TryRunError::Spawn`] if the pool has no thread and the OS refuses
    /// to start one. The closure comes back in every case.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().queue_capacity(100).build()?;
    /// let answer = match pool.try_run(|| 6 * 7) {
    ///     Ok(run) => run.await,
    ///     Err(refused) => (refused.into_inner())(), // shed load: run it here
    /// };
    /// assert_eq!(answer, 42);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn try_run<F, T>(&self, f: F) -> Result<Run<T>, TryRunError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        submit(&self.shared, None, Plain(f), true).map_err(|err| err.map(|Plain(f)| f))
    }

    /// Like [`run`](Pool::run), but the closure gets a [`CancelToken`] that
    /// turns on when the `Run` is dropped, so a long job can stop early.
    ///
    /// # Panics
    /// As [`run`](Pool::run).
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().build()?;
    /// let steps = pool
    ///     .run_cancellable(|token| (0..100).take_while(|_| !token.is_cancelled()).count())
    ///     .await;
    /// assert_eq!(steps, 100);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn run_cancellable<F, T>(&self, f: F) -> Run<T>
    where
        F: FnOnce(&CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        expect_run(submit(&self.shared, None, Cancellable(f), false))
    }

    /// Runs `f` unless `deadline` passes first: a job whose deadline passes
    /// while it waits (for a thread, a limiter token or queue space) never
    /// starts, and its `Run` resolves to `Err(`[`Expired`]`)` with the
    /// closure and how long it waited — within a few milliseconds of the
    /// deadline, even if no thread ever frees up — while its place goes
    /// to the next job. A deadline already past expires at once.
    ///
    /// This is what wrapping `run(f)` in an executor's timeout cannot do:
    /// that answers the caller, but the job still starts later and holds
    /// a thread for work nobody awaits.
    ///
    /// A job that started runs to its end: `f`'s
    /// [`CancelToken`] turns [cancelled](CancelToken::is_cancelled) once
    /// the deadline passes (awaited or not), and
    /// [`deadline`](CancelToken::deadline) returns it, so `f` can budget
    /// its work. Each accepted job ends in exactly one of completed,
    /// panicked, cancelled (its `Run` dropped before it started) or
    /// expired ([`Stats::expired`]); a detached job that expires drops its
    /// closure. Jobs without a deadline pay nothing for this.
    ///
    /// # Panics
    /// As [`run`](Pool::run): on a pool that is shut down.
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, Instant};
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().max_threads(1).build()?;
    /// let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    /// let busy = pool.run({ let gate = gate.clone(); move || { gate.wait(); } });
    /// // The only thread is busy past this job's 10 ms budget:
    /// let late = pool.run_by(Instant::now() + Duration::from_millis(10), |_| "too late");
    /// let expired = late.await.unwrap_err();
    /// assert!(expired.waited() >= Duration::from_millis(10));
    /// gate.wait();
    /// busy.await;
    /// assert_eq!(pool.stats().expired, 1);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn run_by<F, T>(&self, deadline: Instant, f: F) -> Run<Result<T, Expired<F>>>
    where
        F: FnOnce(&CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        expect_run(submit(&self.shared, None, Deadline(f, deadline), false))
    }

    /// Changes the cap on threads. Raising it starts threads for queued jobs
    /// at once; lowering it lets surplus threads finish their job and exit.
    ///
    /// Threads are started as the pool's threads always are: if the OS
    /// refuses one, the cap is still raised and the pool keeps serving with
    /// the threads it has (a later submit tries again), so this returns
    /// `Ok`; a pool left with no thread at all refuses its queued jobs, as
    /// [`try_run`](Pool::try_run)'s [`TryRunError::Spawn`] describes.
    ///
    /// # Errors
    /// `n` of 0, or below the pool's `min_threads` (the message names the
    /// bound).
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().max_threads(4).build()?;
    /// pool.set_max_threads(64)?;
    /// assert_eq!(pool.stats().max_threads, 64);
    /// assert!(pool.set_max_threads(0).is_err());
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn set_max_threads(&self, n: usize) -> Result<(), Error> {
        let min = self.shared.config.min_threads;
        if n == 0 {
            return Err(Error::invalid("max_threads must be at least 1, got 0"));
        }
        if n < min {
            return Err(Error::invalid(format!(
                "max_threads must be at least min_threads ({min}), got {n}"
            )));
        }
        let mut st = self.shared.lock();
        st.max_threads = n;
        st.resize();
        // A thread that cannot start leaves its jobs refused, not hanging.
        let _ = worker::unlock_and_start(&self.shared, st);
        Ok(())
    }

    /// A snapshot of the pool's threads, queue and totals.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().build()?;
    /// pool.run(|| ()).await;
    /// let stats = pool.stats();
    /// assert_eq!((stats.completed, stats.running, stats.queued), (1, 0, 0));
    /// println!("{} of {} threads idle", stats.idle_threads, stats.max_threads);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> Stats {
        snapshot(&self.shared, &self.shared.lock())
    }

    /// Closes the pool to new jobs at once and returns a future that
    /// resolves when every worker has exited. Jobs already accepted —
    /// queued, waiting for a limiter or for queue space — all run first.
    ///
    /// After this, [`run`](Pool::run) panics and [`try_run`](Pool::try_run)
    /// gives [`TryRunError::Closed`]. Awaiting it inside one of the pool's
    /// own jobs never resolves.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().build()?;
    /// pool.run(|| ()).detach();
    /// pool.shutdown().await;
    /// assert!(pool.try_run(|| ()).unwrap_err().is_closed());
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn shutdown(&self) -> Shutdown {
        self.shared.close();
        Shutdown::new(Arc::clone(&self.shared))
    }

    /// The blocking form of [`shutdown`](Pool::shutdown), for sync code:
    /// closes the pool and waits up to `timeout` for every worker to exit.
    /// Returns `true` if they all did. Called on one of the pool's own
    /// threads, it closes the pool and returns `false` at once.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = threadbridge::Pool::builder().build()?;
    /// pool.run(|| ()).detach();
    /// assert!(pool.shutdown_timeout(Duration::from_secs(10)));
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.shared.close();
        if state::is_worker_of(&self.shared) {
            return false;
        }
        self.shared.wait_exit(Instant::now().checked_add(timeout))
    }
}

// A panic cannot leave a handle half-updated: what it points to changes
// only under the pool's locks, in steps that run no user code (see
// `fault.rs`). So, like tokio's `JoinHandle`, it is unwind safe, and
// `run(f).catch_unwind()` compiles.
impl std::panic::UnwindSafe for Pool {}
impl std::panic::RefUnwindSafe for Pool {}

impl Clone for Pool {
    fn clone(&self) -> Self {
        // ORDERING: a handle count; closing synchronizes through the lock.
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // ORDERING: AcqRel so the last dropper sees every other handle gone.
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of the pool's threads, queue and totals, under the pool
/// lock the caller holds (`st`).
pub(crate) fn snapshot(shared: &Shared, st: &State) -> Stats {
    let live = st.queue_live();
    let queued = live.min(shared.config.queue_capacity);
    Stats {
        threads: st.threads,
        idle_threads: st.idle.len(),
        spinning_threads: st.spinning_idle(),
        max_threads: st.max_threads,
        running: st.running,
        queued,
        waiting: live - queued,
        completed: st.completed,
        panicked: st.panicked,
        cancelled: st.cancelled,
        rejected: st.rejected,
        queue_wait: st.queue_wait,
        run_time: st.run_time,
        starved: st.starved,
        expired: st.expired,
        reserved: st.reserved,
    }
}

impl State {
    /// After `max_threads` was raised, starts threads for queued jobs;
    /// after it was lowered, tells surplus idle threads (the coldest first)
    /// to exit. Busy surplus threads exit after their job.
    pub(crate) fn resize(&mut self) {
        let cap = self.thread_cap();
        if self.threads > cap {
            let surplus = (self.threads - cap).min(self.idle.len());
            for worker in self.idle.drain(..surplus) {
                worker.notify(WAKE);
            }
        } else if self.idle.is_empty() {
            let wanted = self.claimable().min(cap - self.threads);
            self.reserve(wanted);
        }
    }
}

/// The submit path of every `run`, `try_run` and `run_cancellable`, on a
/// pool or a limiter. `try_only` refuses where `run` would wait.
pub(crate) fn submit<W: Work>(
    shared: &Arc<Shared>,
    limiter: Option<&Arc<Tokens>>,
    work: W,
    try_only: bool,
) -> Result<Run<W::Output>, TryRunError<W>> {
    let deadline = work.deadline();
    if deadline.is_some() {
        deadline::prepare(shared);
    }
    let job = Arc::new(JobCell::new(work, Arc::clone(shared), limiter.cloned()));
    let mut st = shared.lock();
    if st.closed {
        drop(st);
        return Err(TryRunError::Closed(job.into_work()));
    }
    let task = || -> Task { job.clone() };
    if deadline.is_some_and(|d| Instant::now() >= d) {
        // Past already: it expires at once, without waiting anywhere.
        let task = task();
        if let Some(expiry) = task.expire_now() {
            st.expired(Loc::Nowhere, &task, expiry);
        }
        let _ = shared.unlock(st);
        return Ok(Run::new(job));
    }
    // A reservation's jobs take no queue slot: only their tokens refuse.
    let reserved = limiter.is_some_and(|limiter| limiter.is_reserved());
    let accepted = if try_only && !reserved && !st.has_room(shared.config.queue_capacity) {
        false
    } else {
        match limiter.map(|limiter| limiter.admit(task, try_only)) {
            None | Some(Admit::Token) => {
                st.enqueue(task(), true);
                true
            }
            Some(Admit::Waiting) => {
                st.watch();
                true
            }
            Some(Admit::Full) => false,
        }
    };
    if !accepted {
        st.rejected += 1;
        drop(st);
        return Err(TryRunError::Full(job.into_work()));
    }
    if let Some(deadline) = deadline {
        st.add_deadline(deadline, task());
    }
    if let Err(err) = worker::unlock_and_start(shared, st) {
        if let Some(work) = job.take_refused() {
            return Err(TryRunError::Spawn(work, err));
        }
    }
    Ok(Run::new(job))
}

/// `run`'s answer to a refusal: panic with what went wrong.
pub(crate) fn expect_run<T, W>(result: Result<Run<T>, TryRunError<W>>) -> Run<T> {
    match result {
        Ok(run) => run,
        Err(TryRunError::Closed(_)) => fault::closed(),
        Err(TryRunError::Spawn(_, err)) => panic!("threadbridge: {}", fault::no_thread(err)),
        Err(TryRunError::Full(_)) => unreachable!("run() waits for space instead of refusing"),
    }
}
