//! Reserved threads ([`Pool::reserve`]): a limiter whose jobs never wait
//! for a pool thread.
//!
//! # The caps
//! Jobs, not threads, are capped. At most `max_threads` *ordinary* jobs
//! (the pool's own and those of unreserved limiters) run at once; at most
//! the sum of the live reserved limits (`reserved`) of reserved jobs. So
//! `threads <= max_threads + reserved`, and an ordinary job never takes
//! the thread a reservation needs: while `max_threads` ordinary jobs run,
//! a worker leaves the queue alone, and an idle thread stays idle for the
//! next reserved job.
//!
//! # A reserved job's way
//! Granted its token, it goes to `urgent`, not the queue (it takes no
//! queue slot, and `queue_capacity` never refuses it): the next thread to
//! look takes it before any queued job. It is handed to the most recently
//! idle thread, or, with none, to a thread started for it — one of those
//! set aside beyond `max_threads` if every thread ordinary jobs may have
//! is busy. While it holds its token a thread is always free or on its
//! way for it: the running reserved jobs, plus this one, are fewer than
//! `reserved`, and ordinary ones hold at most `max_threads` threads.
//!
//! A claimed reserved job is `Loc::Reserved` until it ends, counted in
//! `running_reserved`, whatever happens to its reservation meanwhile.
//!
//! # Resizing and dropping
//! `set_limit` changes `reserved` by the difference (0 pauses the call
//! site and reserves nothing); idle threads beyond the new cap exit at
//! once, busy ones after their job. When the last handle of a
//! reservation is dropped, its limiter stops being reserved: `reserved`
//! drops at once, surplus idle threads exit, and its waiters run as
//! ordinary jobs.

use std::fmt;

use crate::limiter::Limiter;
use crate::pool::Pool;
use crate::queue::{Loc, Task, Tokens};
use crate::state::Shared;
use crate::state::State;
use crate::sync::Arc;
use crate::worker;

impl Pool {
    /// A [`Limiter`] of `n` tokens whose jobs never wait for a pool thread
    /// and never enter the pool's queue: each takes an idle thread, else
    /// starts one of `n` threads set aside beyond `max_threads` (Kotlin's
    /// elastic `limitedParallelism` views). For the calls that must get
    /// through while the pool is saturated: a health check, an admin
    /// endpoint, the write that frees everything else.
    ///
    /// The caps are on jobs: at most `max_threads` ordinary jobs (the
    /// pool's own and unreserved limiters') run at once, never on a
    /// set-aside thread, and at most the reserved limits' sum of reserved
    /// jobs. Reserved jobs pass ahead of queued ordinary jobs, take no
    /// queue slot, and their `try_run` is
    /// [`Full`](crate::TryRunError::Full) only when their own tokens are
    /// taken. Beyond `n`, jobs wait for a token like any limiter's (FIFO),
    /// and [`set_limit`](Limiter::set_limit) resizes the reservation (0
    /// pauses it and reserves nothing). [`Stats::reserved`](crate::Stats::reserved)
    /// is the sum of the live reservations; `threads <= max_threads +
    /// reserved`, except while threads made surplus (a lowered cap or a
    /// smaller reservation) finish their job. Clones share one
    /// reservation; when the last is dropped, its idle set-aside threads
    /// exit at once and its waiting jobs run as ordinary ones.
    ///
    /// Set-aside threads are the pool's workers: a nested `Run` in a
    /// reserved job runs inline, and they are not threads ordinary jobs
    /// may have for the starvation signal. If the OS refuses a thread, a
    /// reserved job waits for any thread of the pool.
    ///
    /// # Panics
    /// If `n` is 0.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().max_threads(1).build()?;
    /// let health = pool.reserve(1);
    /// let gate = std::sync::Arc::new(std::sync::Barrier::new(2));
    /// // The pool's only ordinary thread is busy, and more work is queued:
    /// let busy = pool.run({ let gate = gate.clone(); move || { gate.wait(); } });
    /// let queued = pool.run(|| "after the busy one");
    /// // The health check does not wait behind them.
    /// assert_eq!(health.run(|| "ok").await, "ok");
    /// assert_eq!(pool.stats().reserved, 1);
    /// gate.wait();
    /// busy.await;
    /// assert_eq!(queued.await, "after the busy one");
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn reserve(&self, n: usize) -> Limiter {
        assert!(
            n > 0,
            "threadbridge: reserve(n) needs n of at least 1, got 0 (a reservation of no thread reserves nothing; set_limit(0) pauses one)"
        );
        let limiter = Limiter::new(self.clone(), n);
        let shared = self.shared();
        let mut st = shared.lock();
        limiter.tokens().set_reserved(true);
        st.reserved += n;
        drop(st);
        let reservation = Arc::new(Reservation {
            tokens: Arc::clone(limiter.tokens()),
            shared: Arc::clone(shared),
        });
        limiter.with_reservation(reservation)
    }
}

/// One reservation, shared by the clones of its [`Limiter`]; dropped with
/// the last of them.
struct Reservation {
    tokens: Arc<Tokens>,
    shared: Arc<Shared>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        self.tokens.set_reserved(false);
        st.reserved -= self.tokens.limit();
        // Surplus idle threads exit now, not after keep-alive.
        st.resize();
        let _ = worker::unlock_and_start(&self.shared, st);
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation").finish_non_exhaustive()
    }
}

impl State {
    /// A reserved job holding its token: ahead of the queue, to the most
    /// recently idle thread, or to a thread started for it.
    pub(crate) fn enqueue_urgent(&mut self, job: Task, dispatch: bool) {
        job.set_loc(Loc::Urgent);
        self.urgent.push_back(job);
        self.urgent_live += 1;
        if !dispatch {
            return; // the worker that freed its token takes it next
        }
        match self.idle.last() {
            Some(top) if self.waking < self.urgent_live || top.is_spinning() => self.wake_top(),
            Some(_) => {} // threads on their way take it before any queued job
            None if self.threads < self.thread_cap() && self.starting < self.urgent_live => {
                self.reserve(1)
            }
            // A thread is starting for it, or (the OS refused one) the next
            // thread to finish takes it.
            None => {}
        }
    }

    /// A limiter's limit changes: a reservation's changes `reserved`
    /// by the difference.
    pub(crate) fn resize_reservation(&mut self, limiter: &Tokens, limit: usize) {
        if limiter.is_reserved() {
            self.reserved = self.reserved - limiter.limit() + limit;
        }
    }
}
