//! What the pool does when user code fails: drops that may panic, panics
//! nobody awaits, hooks and wakers that panic, and the texts of the pool's
//! own panics.
//!
//! # Every place the pool calls user code
//! Each is either *guarded* — a panic is caught, the pool's accounting
//! stays exact, and the payload goes to [`on_panic`](crate::Builder::on_panic)
//! or (for wakers and drops, whose panic std's panic hook has already
//! printed) is dropped — or the *caller's own*: it runs in the caller's
//! poll or call, where its panic resumes. None runs under the pool lock
//! or a job's lock.
//!
//! | user code | where it runs | on a panic |
//! |---|---|---|
//! | the job's closure | a worker, or inline in a nested poll | guarded: resumes in the awaiting task, or goes to `on_panic` if nobody awaits |
//! | `Waker::wake` of a `Run`, a limiter job taken back inline, a `Shutdown` | a worker finishing a job; any thread whose critical section woke it (a submit, a drop, a shutdown) | guarded ([`wake`](crate::sync::wake)): the other wake-ups still go out, the thread goes on |
//! | `Waker::wake` in an adapter's job ([`Iter`](crate::Iter), [`Unblock`](crate::Unblock)) | a worker | guarded ([`wake`](crate::sync::wake)) |
//! | `Waker::clone` / `drop` of a poll's waker | the polling thread, outside the pool's and the job's locks | the caller's own: resumes from its poll |
//! | `Drop` of a result, a closure never run, a panic payload | a worker, or the thread that drops the `Run` | guarded ([`drop_quietly`](crate::sync::drop_quietly)) |
//! | `on_thread_start`, `on_thread_stop` | the worker | guarded ([`call_hook`]): the thread serves, or exits, anyway |
//! | `on_panic` | where the panic nobody awaits is dropped | guarded: its own panic is dropped |
//! | `thread_name` | the thread that starts a worker | guarded: the default name is used |
//! | `Iterator::next` of an [`Iter`](crate::Iter) | a worker | guarded: the stream yields the items before it, then resumes the panic in its poll |
//! | `Iterator`'s and an `Unblock`'s inner `Drop` | the job's worker, or where the adapter is dropped | guarded: a job's panic goes to its `Run` |
//! | an `Unblock`'s inner `Read` / `Write` / `Seek` / `flush` | a worker | guarded: the value is lost, the panic resumes in the next poll |
//! | a `with_mut` closure | a worker | guarded: as the inner value's methods |

use std::any::Any;
use std::fmt::Display;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use crate::config::{Config, Hook};
use crate::sync::drop_quietly;

/// Drops an outcome nobody will take: a value quietly, a panic payload
/// through the pool's `on_panic` hook.
pub(crate) fn discard<T>(config: &Config, outcome: thread::Result<T>) {
    match outcome {
        Ok(value) => drop_quietly(value),
        Err(payload) => report_panic(config, payload),
    }
}

/// Hands a panic nobody awaits to the `on_panic` hook, if there is one.
pub(crate) fn report_panic(config: &Config, payload: Box<dyn Any + Send>) {
    match &config.on_panic {
        Some(hook) => {
            let hook = hook.clone();
            drop_quietly(panic::catch_unwind(AssertUnwindSafe(move || hook(payload))));
        }
        None => drop_quietly(payload),
    }
}

/// Calls a thread hook (`on_thread_start`, `on_thread_stop`); a panic in
/// it is caught and dropped.
pub(crate) fn call_hook(hook: Option<&Hook>) {
    if let Some(hook) = hook {
        drop_quietly(panic::catch_unwind(AssertUnwindSafe(|| hook())));
    }
}

/// `run`'s panic on a pool that is shut down.
pub(crate) fn closed() -> ! {
    panic!("threadbridge: run() on a pool that is shut down; use try_run() to get the closure back instead")
}

/// What went wrong when a pool with no thread could not start one.
pub(crate) fn no_thread(err: impl Display) -> String {
    format!("the pool has no thread and could not start one: {err}")
}
