//! loom models of every concurrent protocol in the pool and its adapters
//! (`iter`, `Unblock`), driven through the public API so they check the
//! code that ships.
//!
//! Run (release, bounded; see CONTRIBUTING.md):
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg threadbridge_loom" cargo test --release --test loom`
//!
//! Each model keeps to loom's limit of 4 threads, main included: pools have
//! 1–2 workers. A model ends with `shutdown_timeout`, so every worker must
//! exit: a stranded job, a lost wake-up or a thread that never leaves shows
//! up as a loom deadlock.
//!
//! Which protocol each model covers:
//!
//! | protocol | models |
//! |---|---|
//! | job state (claim, withdraw, run once, result once) | `jobs::job_runs_once_and_result_arrives_once`, `jobs::run_dropped_at_any_stage` |
//! | a `Run`'s waker hand-off | `jobs::latest_waker_is_woken` |
//! | backpressure (queue space) | `jobs::backpressure_admission_completion_and_drop` |
//! | shutdown vs. submit, last handle | `jobs::shutdown_racing_submit`, `jobs::last_handle_dropped_drains_and_exits` |
//! | the `Shutdown` future's waiter | `faults::shutdown_polled_while_the_last_worker_exits`, `faults::shutdown_dropped_while_the_last_worker_exits` |
//! | the cancel token | `jobs::cancel_token_vs_completion` |
//! | nesting (a `Run` taken back inline) | `jobs::nested_run_is_taken_inline` |
//! | idle / park, submit vs. going idle | `threads::submit_racing_worker_going_idle` |
//! | keep-alive expiry vs. new job | `threads::keep_alive_expiry_racing_new_job` |
//! | wake chaining, fan-out, backlog growth, spinner relay | `threads::woken_thread_wakes_the_next`, `threads::fan_out_wakes_every_parked_thread`, `threads::backlog_grows_the_pool`, `threads::spin_relay_hands_the_next_job_over`, `threads::the_most_recently_idle_thread_takes_the_next_job_while_another_spins` |
//! | lowering the cap | `threads::lowered_cap_holds_for_queued_jobs` |
//! | limiter tokens and waiters, raised limit | `limiter::limiter_tokens_are_never_lost_or_doubled`, `limiter::dropped_waiter_ahead_of_a_live_one_is_passed_over`, `limiter::raised_limit_grants_waiter` |
//! | pause (`set_limit(0)`) then resume with a waiter, vs. the release of the last token | `limiter::paused_limiter_grants_only_after_resume` |
//! | reservations: a reserved job beside a held pool, the ordinary cap, the reservation dropped or resized while its jobs run | `reserve::reservation_dropped_while_its_job_runs`, `reserve::reservation_shrunk_and_grown_while_its_job_runs` |
//! | deadlines: expiry vs. start, vs. the thread (and queue space) that frees up, vs. a token hand-off | `deadline::loom_models::{a_job_never_both_expires_and_starts, expiry_vs_the_thread_that_frees_up, expiry_vs_token_hand_off}` (in `src/`, `--lib`: the deadline's passing is the check fired by hand) |
//! | a waker that panics on a worker vs. submit and shutdown | `faults::a_panicking_wake_vs_submit_and_shutdown` |
//! | `iter`'s read-ahead hand-back | `adapters::iter_restarts_read_ahead_without_losing_an_item` |
//! | `Unblock`'s job hand-back (read, write, flush, drop) | `adapters::unblock_write_flush_and_into_inner`, `adapters::unblock_dropped_mid_read_ends_its_job`, `adapters::unblock_written_bytes_reach_the_writer_without_a_flush` |
//! | `Unblock`'s close job | `adapters::unblock_close_drops_the_value_once_and_wakes` |
//! | starvation episodes vs. the job that ends one; the hook outside the pool lock | `observe::starvation::loom_models::an_episode_vs_the_job_that_ends_it` (in `src/`, `--lib`: it fires the timer by hand) |
//! | a lag probe's poll vs. its tick vs. its last monitor's drop | `observe::lag::loom_models::poll_vs_tick_vs_last_monitor_dropped` (in `src/`, `--lib`) |
//! | a watched poll vs. the slow-poll scan (at most one report while it runs, one when it returns, none after, none for an exited thread) | `observe::watch::loom_models::a_poll_vs_the_scan` (in `src/`, `--lib`) |
//! | a `SlowPollWatch` dropped while the scan reports to it | `observe::watch::loom_models::a_watch_dropped_while_reported_to` (in `src/`, `--lib`) |
//! | `Timing` recording vs. a snapshot | recorded under the pool lock with the counters, so every model that checks `stats()` after a job covers it |
#![cfg(threadbridge_loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Condvar, Mutex};
use threadbridge::{Pool, Run};

mod adapters;
mod faults;
mod jobs;
mod limiter;
mod reserve;
mod threads;

const LONG: Duration = Duration::from_secs(3600);

fn pool(max_threads: usize) -> Pool {
    Pool::builder().max_threads(max_threads).build().unwrap()
}

fn finish(pool: &Pool) {
    assert!(pool.shutdown_timeout(LONG), "every worker exits");
    let stats = pool.stats();
    assert_eq!(
        (stats.threads, stats.running, stats.queued, stats.waiting),
        (0, 0, 0, 0),
        "nothing left counted as alive, running or queued"
    );
}

/// A model on a fresh [`pool`] of `max_threads`: `body` drives it, then
/// the pool must [`finish`] (every worker exits, nothing left counted).
fn model_on_pool(max_threads: usize, body: impl Fn(&Pool) + Send + Sync + 'static) {
    loom::model(move || {
        let pool = pool(max_threads);
        body(&pool);
        finish(&pool);
    });
}

/// Counts its drops: a value dropped twice or never shows in the count.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A waker that records that it was woken, with a condvar to wait on.
#[derive(Default)]
struct Flag {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Flag {
    /// Waits for a wake-up and consumes it.
    fn wait(&self) {
        let mut woken = self.woken.lock().unwrap();
        while !*woken {
            woken = self.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let flag = Arc::new(Flag::default());
    (flag.clone(), Waker::from(flag))
}

fn poll<T>(run: &mut Run<T>, waker: &Waker) -> Poll<T> {
    Pin::new(run).poll(&mut Context::from_waker(waker))
}

/// A gate a job can block on until the model opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
    /// A job that blocks until the gate opens.
    fn waiter(&self) -> impl FnOnce() + Send + 'static {
        let gate = self.clone();
        move || gate.wait()
    }
}

/// A job that asserts (with `what`) that no other job made by this helper
/// on the same `inside` counter runs at the same time.
fn alone(inside: &Arc<AtomicUsize>, what: &'static str) -> impl FnOnce() + Send + 'static {
    let inside = inside.clone();
    move || {
        assert_eq!(inside.fetch_add(1, SeqCst), 0, "{what}");
        inside.fetch_sub(1, SeqCst);
    }
}
