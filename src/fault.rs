//! What the pool does when user code fails: drops that may panic, panics
//! nobody awaits, hooks that panic, and the texts of the pool's own panics.
//!
//! Every place the pool calls user code goes through one of these (or
//! `catch_unwind` right where it calls it), so that no panic there costs a
//! worker, a token or a wake-up.

use std::any::Any;
use std::fmt::Display;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use crate::config::{Config, Hook};

/// Drops user data; a panicking `Drop` must not take a worker down.
pub(crate) fn drop_quietly<V>(value: V) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        // A payload whose own Drop panics would abort; leak it instead.
        mem::forget(payload);
    }
}

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
