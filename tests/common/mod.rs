//! Shared helpers for the integration tests.
//!
//! - `timeout`: [`with_timeout`] / [`guard`], so every test body runs under
//!   a deadline and a bug fails the test instead of hanging CI; panic
//!   payloads ([`panic_message`], [`expect_panic`]).
//! - `exec`: the executor matrix, [`Executor`] and [`on_every_executor`]
//!   (tokio current-thread and multi-thread, smol, async-executor,
//!   `futures`, and [`block_on_counting`]).
//! - `waker`: wakers that count, manual polling, and the hand-written
//!   [`block_on_counting`] that counts polls and wake-ups.
//! - `gate`: [`Gate`], [`Counter`], [`Concurrency`], [`held`] /
//!   [`occupy`], [`HeldThread`]: hold blocking jobs and release them
//!   deterministically; every wait has a deadline.
//! - `wait`: [`wait_until`], [`wait_stats`], [`assert_stays`]: wait for an
//!   event (polling with a short sleep and a generous deadline), never
//!   assert timing.
//! - `files`: [`TempFile`] and [`pattern`] bytes, for the adapters' tests.
//! - `probe`: [`Probe`], what a test sees of the value an adapter's job
//!   drives (its calls, the gate it blocks on, its drop).
//! - here: [`SLOWDOWN`], [`sized`]: under Miri every deadline stretches and
//!   job and loop counts shrink (`.ci/miri`); [`pool`] and friends.

#![allow(dead_code, unused_imports)]

mod exec;
mod files;
mod gate;
mod probe;
mod timeout;
mod wait;
mod waker;

use std::future::Future;
use std::time::Duration;

use threadbridge::Pool;

pub use exec::*;
pub use files::*;
pub use gate::*;
pub use probe::*;
pub use timeout::*;
pub use wait::*;
pub use waker::*;

/// How many times slower than a native debug build the suite may run:
/// Miri interprets every step (100–1000x slower), so under `cfg(miri)`
/// every deadline stretches 20x. Sizes shrink separately, see [`sized`].
pub const SLOWDOWN: u64 = if cfg!(miri) { 20 } else { 1 };

/// How long any single wait may take before the test is declared hung.
/// Generous: the suite runs on 2 cores in debug mode, tests in parallel.
pub const DEADLINE: Duration = Duration::from_secs(20 * SLOWDOWN);

/// Default per-test deadline in seconds for [`with_timeout`].
pub const TEST_SECS: u64 = 40 * SLOWDOWN;

/// `full` natively, `miri` under Miri: job and loop counts shrink so Miri
/// walks the same code paths (every job stage, panics, limiters, shutdown,
/// nesting) in seconds instead of hours.
pub const fn sized<T: Copy>(full: T, miri: T) -> T {
    if cfg!(miri) {
        miri
    } else {
        full
    }
}

/// `futures::executor::block_on`, for sync test bodies (already guarded).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    futures::executor::block_on(fut)
}

/// A pool with `max_threads(n)` and everything else default.
pub fn pool(max_threads: usize) -> Pool {
    Pool::builder()
        .max_threads(max_threads)
        .build()
        .expect("build a test pool")
}

/// A pool with `max_threads` and a bounded queue of `queue_capacity`.
pub fn bounded_pool(max_threads: usize, queue_capacity: usize) -> Pool {
    Pool::builder()
        .max_threads(max_threads)
        .queue_capacity(queue_capacity)
        .build()
        .expect("build a bounded test pool")
}
