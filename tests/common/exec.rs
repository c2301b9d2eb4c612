//! The executor matrix: every runtime an async test body runs under.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use super::{block_on_counting, panic_message, with_timeout, Counts, TEST_SECS};

/// A tokio multi-thread runtime with 2 workers and every driver enabled:
/// [`Executor::TokioMultiThread`], and the tests that spawn many tasks.
pub fn tokio_multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio multi-thread runtime")
}

/// smol's `block_on`, which also drives async-io's reactor. Miri cannot
/// create that reactor (its epoll set-up calls `timerfd_create`, which Miri
/// does not support), so under Miri this is futures-lite's `block_on`, the
/// same park-and-poll loop without the reactor (the suite does no I/O).
pub fn smol_block_on<F: Future>(fut: F) -> F::Output {
    if cfg!(miri) {
        smol::future::block_on(fut)
    } else {
        smol::block_on(fut)
    }
}

/// Every executor the suite runs async bodies under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// `tokio` current-thread runtime, body run by `block_on`.
    TokioCurrentThread,
    /// `tokio` multi-thread runtime with 2 workers, body spawned on it.
    TokioMultiThread,
    /// `smol::block_on`.
    SmolBlockOn,
    /// An `async_executor::Executor` run by two threads, body spawned on it.
    AsyncExecutorTwoThreads,
    /// `futures::executor::block_on`.
    FuturesBlockOn,
    /// [`block_on_counting`].
    Counting,
}

/// The matrix. Under Miri [`Executor::SmolBlockOn`] is left out: it is
/// the reactor-driving `smol::block_on` Miri cannot run (see
/// [`smol_block_on`]), and its stand-in would only repeat `FuturesBlockOn`.
pub const EXECUTORS: &[Executor] = if cfg!(miri) {
    &[
        Executor::TokioCurrentThread,
        Executor::TokioMultiThread,
        Executor::AsyncExecutorTwoThreads,
        Executor::FuturesBlockOn,
        Executor::Counting,
    ]
} else {
    &[
        Executor::TokioCurrentThread,
        Executor::TokioMultiThread,
        Executor::SmolBlockOn,
        Executor::AsyncExecutorTwoThreads,
        Executor::FuturesBlockOn,
        Executor::Counting,
    ]
};

impl Executor {
    /// Runs `fut` to completion on this executor, on the calling thread
    /// (plus the executor's own threads). Panics inside `fut` resume here.
    pub fn block_on<Fut>(self, fut: Fut) -> Fut::Output
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        match self {
            Executor::TokioCurrentThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio current-thread runtime")
                .block_on(fut),
            Executor::TokioMultiThread => {
                let rt = tokio_multi_thread();
                let task = rt.spawn(fut);
                match rt.block_on(task) {
                    Ok(out) => out,
                    Err(err) if err.is_panic() => panic::resume_unwind(err.into_panic()),
                    Err(err) => panic!("tokio task failed: {err}"),
                }
            }
            Executor::SmolBlockOn => smol::block_on(fut),
            Executor::AsyncExecutorTwoThreads => {
                let ex = Arc::new(async_executor::Executor::new());
                let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
                let helper = {
                    let ex = ex.clone();
                    thread::spawn(move || {
                        smol_block_on(ex.run(async move {
                            let _ = stop_rx.recv().await;
                        }))
                    })
                };
                let task = ex.spawn(fut);
                let out = smol_block_on(ex.run(task));
                drop(stop_tx);
                helper.join().expect("async-executor helper thread");
                out
            }
            Executor::FuturesBlockOn => futures::executor::block_on(fut),
            Executor::Counting => block_on_counting(&Counts::new(), fut),
        }
    }
}

/// Runs the async test body produced by `body` under every executor in
/// [`EXECUTORS`], each under its own timeout guard; a failure names the
/// executor.
pub fn on_every_executor<F, Fut>(body: F)
where
    F: Fn(Executor) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    on_executors(EXECUTORS, body);
}

/// [`on_every_executor`] for the two tokio runtimes only (tests of tokio's
/// own I/O adapters).
pub const TOKIO: &[Executor] = &[Executor::TokioCurrentThread, Executor::TokioMultiThread];

/// Two executors unlike each other: tokio's current-thread runtime and
/// smol's `block_on` (`futures`' under Miri, which cannot run smol's
/// reactor).
pub const TWO: &[Executor] = &[
    Executor::TokioCurrentThread,
    if cfg!(miri) {
        Executor::FuturesBlockOn
    } else {
        Executor::SmolBlockOn
    },
];

/// [`on_every_executor`] over `executors` only.
pub fn on_executors<F, Fut>(executors: &[Executor], body: F)
where
    F: Fn(Executor) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let body = Arc::new(body);
    for &ex in executors {
        let body = body.clone();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            with_timeout(TEST_SECS, move || ex.block_on(body(ex)))
        }));
        if let Err(payload) = result {
            panic!("under {ex:?}: {}", panic_message(&*payload));
        }
    }
}
