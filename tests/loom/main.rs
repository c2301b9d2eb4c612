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
//! - `jobs`: one job's life (state, wakers, cancel, backpressure, shutdown,
//!   nesting);
//! - `threads`: the workers (going idle, keep-alive, wake chaining, the cap);
//! - `limiter`: tokens and waiters;
//! - `adapters`: `iter` and `Unblock`.
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
mod jobs;
mod limiter;
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
