//! [`Limiter`]: the handle that caps how many of one call site's jobs run
//! at once, sharing the pool's threads. Its tokens and FIFO waiters are
//! [`Tokens`], which the pool lock guards (`queue.rs`).

use std::fmt;

use std::time::Instant;

use crate::cancel::CancelToken;
use crate::error::{Error, Expired, TryRunError};
use crate::job::{Cancellable, Deadline, Plain, Work};
use crate::pool::{self, Pool};
use crate::queue::Tokens;
use crate::run::Run;
use crate::state::State;
use crate::stats::LimiterStats;
use crate::sync::Arc;
use crate::worker;

impl Pool {
    /// A [`Limiter`] that lets at most `limit` of its jobs run at once on
    /// this pool.
    ///
    /// # Panics
    /// If `limit` is 0.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().build()?;
    /// let limiter = pool.limiter(10);
    /// assert_eq!(limiter.stats().limit, 10);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn limiter(&self, limit: usize) -> Limiter {
        Limiter::new(self.clone(), limit)
    }
}

/// A view of a [`Pool`] that runs at most `limit` of its own jobs at once.
///
/// Like anyio's `CapacityLimiter` or Kotlin's `limitedParallelism`: jobs
/// run on the pool's threads, but a job waiting for one of the limiter's
/// tokens holds no thread and no queue slot. Waiters are served in order.
/// A token is held until the closure *returns* — even if its [`Run`] was
/// dropped after the job started — so `running` never exceeds the limit.
///
/// Limiters are independent: several may together allow more jobs than the
/// pool has threads; the pool's `max_threads` still caps them all.
///
/// A `Limiter` keeps its pool alive (it holds a [`Pool`] handle). Cloning
/// one gives another handle to the same tokens.
///
/// # Sizing a limiter
/// Size it to the resource behind the call site: with a database pool of 10
/// connections, `pool.limiter(10)` lets ten queries run and parks the
/// eleventh caller, asynchronously and without tying up a thread, instead
/// of having it block a thread while it waits for a connection.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let pool = threadbridge::Pool::builder().max_threads(16).build()?;
/// let db = pool.limiter(10); // at most 10 queries at once
/// let rows = db.run(|| 42 /* a blocking query */).await;
/// assert_eq!(rows, 42);
/// # Ok::<(), threadbridge::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Limiter {
    tokens: Arc<Tokens>,
    pool: Pool,
    /// For [`Pool::reserve`]'s limiters: the reservation (`reserve.rs`),
    /// a guard that ends it when the last clone is dropped.
    reservation: Option<Arc<dyn Send + Sync>>,
}

impl Limiter {
    pub(crate) fn new(pool: Pool, limit: usize) -> Self {
        assert!(
            limit > 0,
            "threadbridge: a limiter's limit must be at least 1, got 0"
        );
        let tokens = Arc::new(Tokens::new(limit));
        let mut st = pool.shared().lock();
        if st.watched {
            // The starvation detector checks every limiter of its pool.
            st.limiters.push(Arc::downgrade(&tokens));
        }
        drop(st);
        Self {
            tokens,
            pool,
            reservation: None,
        }
    }

    pub(crate) fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    pub(crate) fn with_reservation(mut self, reservation: Arc<dyn Send + Sync>) -> Self {
        self.reservation = Some(reservation);
        self
    }

    /// Runs `f` on the pool once one of this limiter's tokens is free.
    ///
    /// Submits at once, like [`Pool::run`]; the job then waits for a token
    /// (holding no thread), then for a thread.
    ///
    /// # Panics
    /// If the pool is shut down or no thread can be started; see
    /// [`Pool::run`].
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let limiter = threadbridge::limiter(2);
    /// let a = limiter.run(|| 1);
    /// let b = limiter.run(|| 2);
    /// let c = limiter.run(|| 3); // waits for a token
    /// assert_eq!(a.await + b.await + c.await, 6);
    /// # });
    /// ```
    pub fn run<F, T>(&self, f: F) -> Run<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        pool::expect_run(self.try_submit(Plain(f), false))
    }

    /// Like [`run`](Limiter::run), but refuses instead of waiting: `Full` if
    /// no token is free (or the pool's queue is full), `Closed` after
    /// shutdown.
    ///
    /// # Errors
    /// See [`TryRunError`]; the closure comes back in every case.
    ///
    /// # Examples
    /// ```
    /// let limiter = threadbridge::Pool::builder().build()?.limiter(1);
    /// let first = limiter.try_run(|| std::thread::sleep(std::time::Duration::from_millis(50)));
    /// assert!(first.is_ok());
    /// let second = limiter.try_run(|| ());
    /// assert!(second.unwrap_err().is_full()); // the one token is taken
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn try_run<F, T>(&self, f: F) -> Result<Run<T>, TryRunError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_submit(Plain(f), true)
            .map_err(|err| err.map(|Plain(f)| f))
    }

    /// Like [`run`](Limiter::run), with a [`CancelToken`] for the closure.
    ///
    /// # Panics
    /// As [`run`](Limiter::run).
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let limiter = threadbridge::limiter(4);
    /// let done = limiter.run_cancellable(|token| !token.is_cancelled()).await;
    /// assert!(done);
    /// # });
    /// ```
    pub fn run_cancellable<F, T>(&self, f: F) -> Run<T>
    where
        F: FnOnce(&CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        pool::expect_run(self.try_submit(Cancellable(f), false))
    }

    /// As [`Pool::run_by`], under the limiter: a job whose deadline passes
    /// while it waits for a token (or, holding one, for a thread) never
    /// starts, and its token goes to the next waiter.
    /// [`LimiterStats::expired`] counts it (and [`Stats::expired`](crate::Stats::expired)).
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, Instant};
    /// # futures::executor::block_on(async {
    /// let db = threadbridge::limiter(4);
    /// let budget = Instant::now() + Duration::from_millis(250);
    /// let rows = db.run_by(budget, |_token| vec![1, 2, 3]).await;
    /// assert_eq!(rows.expect("4 free tokens: starts at once"), [1, 2, 3]);
    /// # });
    /// ```
    pub fn run_by<F, T>(&self, deadline: Instant, f: F) -> Run<Result<T, Expired<F>>>
    where
        F: FnOnce(&CancelToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        pool::expect_run(self.try_submit(Deadline(f, deadline), false))
    }

    fn try_submit<W: Work>(
        &self,
        work: W,
        try_only: bool,
    ) -> Result<Run<W::Output>, TryRunError<W>> {
        pool::submit(self.pool.shared(), Some(&self.tokens), work, try_only)
    }

    /// Changes the limit. Raising it starts waiters at once; lowering it
    /// takes effect as running jobs finish (none is interrupted).
    ///
    /// A limit of 0 **pauses** the call site (as anyio's and trio's
    /// limiters allow): new jobs wait (a [`run_by`](Limiter::run_by) job
    /// until its deadline), running ones finish, and nothing starts until
    /// the limit is raised again. A paused limiter is not
    /// [starved](crate::Builder::on_starvation). ([`Pool::limiter`] with
    /// 0 still panics: a limiter that can never run is a bug at creation.)
    ///
    /// # Errors
    /// None today; the `Result` is kept for limits a future version may
    /// refuse.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let limiter = threadbridge::limiter(2);
    /// limiter.set_limit(0)?; // pause
    /// let job = limiter.run(|| 42);
    /// assert_eq!(limiter.stats().waiting, 1);
    /// limiter.set_limit(8)?; // resume: the waiter starts at once
    /// assert_eq!(job.await, 42);
    /// assert_eq!(limiter.stats().limit, 8);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn set_limit(&self, n: usize) -> Result<(), Error> {
        let shared = self.pool.shared();
        let mut st = shared.lock();
        st.set_limit(&self.tokens, n);
        // A thread that cannot start leaves its jobs refused, not hanging.
        let _ = worker::unlock_and_start(shared, st);
        Ok(())
    }

    /// A snapshot of the limiter's tokens and waiters.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let db = threadbridge::Pool::builder().build()?.limiter(10);
    /// db.run(|| ()).await;
    /// let stats = db.stats();
    /// assert_eq!((stats.limit, stats.running, stats.waiting), (10, 0, 0));
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn stats(&self) -> LimiterStats {
        self.tokens.stats()
    }

    /// The pool this limiter runs its jobs on.
    ///
    /// # Examples
    /// ```
    /// let db = threadbridge::Pool::builder().max_threads(16).build()?.limiter(4);
    /// assert_eq!(db.pool().stats().max_threads, 16);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

// A panic cannot leave a handle half-updated: what it points to changes
// only under the pool's locks, in steps that run no user code (see
// `fault.rs`). So, like tokio's `JoinHandle`, it is unwind safe, and
// `run(f).catch_unwind()` compiles.
impl std::panic::UnwindSafe for Limiter {}
impl std::panic::RefUnwindSafe for Limiter {}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl State {
    /// Sets a limiter's limit, and grants the tokens that frees.
    pub(crate) fn set_limit(&mut self, limiter: &Tokens, limit: usize) {
        self.resize_reservation(limiter, limit);
        for job in limiter.set_limit(limit) {
            self.deferred.extend(job.inline_waker());
            self.enqueue(job, true);
        }
        // A smaller reservation: surplus idle threads exit now.
        self.resize();
    }
}
