//! The timeout guard every test body runs under, and panic payloads.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use threadbridge::{Limiter, Pool};

use super::{pool, DEADLINE, TEST_SECS};

/// Runs `f` on its own thread and returns its result; panics with a clear
/// message if it does not finish within `secs` seconds. A panic inside `f`
/// is resumed in the caller with its original payload.
///
/// On a timeout the body's thread is leaked (it may be stuck for good); the
/// test fails instead of hanging.
pub fn with_timeout<R, F>(secs: u64, f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let name = thread::current().name().unwrap_or("test").to_owned();
    let body = thread::Builder::new()
        .name(format!("{name} (body)"))
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .expect("could not start the test body's thread");
    let result = rx.recv_timeout(Duration::from_secs(secs));
    if result.is_ok() {
        // The body has sent its result: let its thread end too, so no
        // thread of a finished test lingers (Miri fails a test binary
        // whose threads outlive `main`).
        let _ = body.join();
    }
    match result {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(RecvTimeoutError::Timeout) => panic!(
            "TIMEOUT: test `{name}` did not finish within {secs} s: \
             a hang (deadlock, lost wake-up or a job that never ran)"
        ),
        Err(RecvTimeoutError::Disconnected) => {
            panic!("test body thread of `{name}` vanished without a result")
        }
    }
}

/// [`with_timeout`] with the default deadline.
pub fn guard<R, F>(f: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    with_timeout(TEST_SECS, f)
}

/// [`guard`] for a body that starts from a fresh [`pool`] of `max_threads`
/// (made on the guarded thread, as the body's first step).
pub fn with_pool<R, F>(max_threads: usize, body: F) -> R
where
    F: FnOnce(Pool) -> R + Send + 'static,
    R: Send + 'static,
{
    guard(move || body(pool(max_threads)))
}

/// [`with_pool`] for a body that starts from a pool already shut down:
/// `shutdown_timeout` has returned `true`, every worker is gone.
pub fn with_shut_down_pool<R, F>(max_threads: usize, body: F) -> R
where
    F: FnOnce(Pool) -> R + Send + 'static,
    R: Send + 'static,
{
    with_pool(max_threads, move |pool| {
        assert!(pool.shutdown_timeout(DEADLINE));
        body(pool)
    })
}

/// [`with_pool`] plus a limiter of `limit` on that pool.
pub fn with_limiter<R, F>(max_threads: usize, limit: usize, body: F) -> R
where
    F: FnOnce(Pool, Limiter) -> R + Send + 'static,
    R: Send + 'static,
{
    with_pool(max_threads, move |pool| {
        let limiter = pool.limiter(limit);
        body(pool, limiter)
    })
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs `f`, expects it to panic, and returns the panic's message.
pub fn expect_panic<R>(what: &str, f: impl FnOnce() -> R) -> String {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic from {what}, but it returned normally"),
        Err(payload) => panic_message(&*payload),
    }
}
