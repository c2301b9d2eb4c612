//! The thread the observers' user hooks run on (`on_starvation`'s,
//! `on_slow_poll`'s): never a worker, never the timer thread, never under
//! a lock of the crate's. Started on the first hook call. A hook that
//! blocks delays only the hook calls after it, never a tick.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
#[cfg(not(threadbridge_loom))]
use std::sync::OnceLock;

use crate::sync::drop_quietly;
#[cfg(not(threadbridge_loom))]
use crate::sync::thread;
use crate::sync::{AtomicBool, Condvar, Mutex, Ordering};

type Call = Box<dyn FnOnce() + Send>;

#[cfg_attr(threadbridge_loom, allow(dead_code))]
struct Hooks {
    queue: Mutex<VecDeque<Call>>,
    cv: Condvar,
}

#[cfg(not(threadbridge_loom))]
fn get() -> &'static Hooks {
    static HOOKS: OnceLock<&'static Hooks> = OnceLock::new();
    HOOKS.get_or_init(|| {
        let hooks: &'static Hooks = Box::leak(Box::new(Hooks {
            queue: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
        }));
        thread::Builder::new()
            .name("threadbridge-hooks".into())
            .spawn(move || serve(hooks))
            .expect("threadbridge: could not start the hook thread");
        hooks
    })
}

std::thread_local! {
    /// Set on the hook thread.
    static ON_HOOK_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is the hook thread (a hook calling back).
pub(crate) fn is_current() -> bool {
    ON_HOOK_THREAD.try_with(|on| on.get()).unwrap_or(false)
}

#[cfg_attr(threadbridge_loom, allow(dead_code))]
fn serve(hooks: &Hooks) {
    ON_HOOK_THREAD.with(|on| on.set(true));
    let mut queue = hooks.queue.lock();
    loop {
        match queue.pop_front() {
            Some(call) => {
                drop(queue);
                // Each call catches its hook's panic itself (`UserHook`);
                // this is the last guard, for the call's own drops.
                drop_quietly(panic::catch_unwind(AssertUnwindSafe(call)));
                queue = hooks.queue.lock();
            }
            None => hooks.cv.wait(&mut queue),
        }
    }
}

/// Runs `call` on the hook thread, after the calls queued before it.
/// (Under loom, on the calling thread: the models check that it runs
/// outside every lock of the crate.)
#[cfg(threadbridge_loom)]
pub(crate) fn call(call: impl FnOnce() + Send + 'static) {
    call();
}

/// Runs `call` on the hook thread, after the calls queued before it.
#[cfg(not(threadbridge_loom))]
pub(crate) fn call(call: impl FnOnce() + Send + 'static) {
    let hooks = get();
    hooks.queue.lock().push_back(Box::new(call));
    hooks.cv.notify_one();
}

/// Calls a user's hook (here, on the hook thread): a panic in it is
/// caught and reported once on stderr (`reported` remembers), and the hook
/// stays installed.
pub(crate) fn call_user(name: &str, reported: &AtomicBool, hook: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(hook)) {
        // ORDERING: a flag that only has to flip once.
        if !reported.swap(true, Ordering::Relaxed) {
            eprintln!("threadbridge: the {name} hook panicked; it stays installed (reported once)");
        }
        drop_quietly(payload);
    }
}
