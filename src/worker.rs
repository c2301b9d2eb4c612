//! The worker thread: starting one, its loop (run jobs, park LIFO, expire
//! after `keep_alive`), its hooks, and the marker that lets a nested `Run`
//! know it is polled on a worker of its own pool.

use std::cell::Cell;
use std::io;
use std::panic::{self, AssertUnwindSafe};
#[cfg(not(any(threadbridge_loom, miri)))]
use std::time::Duration;
use std::time::Instant;

use crate::config::Config;
use crate::config::Hook;
use crate::job::drop_quietly;
use crate::job::After;
use crate::shared::{Parker, Shared, State, NONE, WORK};
use crate::sync::{thread, thread_local, unlocked, Arc, MutexGuard, Ordering};

#[cfg(not(threadbridge_loom))]
thread_local! {
    /// The address of the pool this thread works for; 0 elsewhere.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

#[cfg(threadbridge_loom)]
thread_local! {
    static CURRENT: Cell<usize> = Cell::new(0);
}

/// Whether the calling thread is a worker of `shared`'s pool.
pub(crate) fn is_worker_of(shared: &Arc<Shared>) -> bool {
    let me = Arc::as_ptr(shared) as usize;
    CURRENT.try_with(|c| c.get() == me).unwrap_or(false)
}

/// Starts a worker thread (already counted in the pool's `threads`).
pub(crate) fn spawn(shared: Arc<Shared>, index: usize) -> io::Result<()> {
    let config = &shared.config;
    let name = panic::catch_unwind(AssertUnwindSafe(|| (config.thread_name)(index)))
        .unwrap_or_else(|_| format!("threadbridge-{index}"))
        .replace('\0', "");
    let mut builder = thread::Builder::new().name(name);
    if let Some(size) = config.stack_size {
        builder = builder.stack_size(size);
    }
    builder.spawn(move || main(shared)).map(drop)
}

fn main(shared: Arc<Shared>) {
    CURRENT.with(|c| c.set(Arc::as_ptr(&shared) as usize));
    call_hook(shared.config.on_thread_start.as_ref());
    serve(&shared);
    call_hook(shared.config.on_thread_stop.as_ref());
    CURRENT.with(|c| c.set(0));
    // Out of `exiting` last, so a finished `shutdown` means every hook ran.
    let mut st = shared.lock();
    st.exiting -= 1;
    shared.exited_locked(&mut st);
    let _ = shared.unlock(st);
}

/// Runs jobs until the pool closes, this thread is surplus, or it stays
/// idle for `keep_alive` while above `min_threads`.
///
/// The thread leaves `threads` in the same critical section in which it
/// decides to exit: a submitter that sees it counted may rely on it to
/// check the queue once more, so it must not be counted once it won't.
fn serve(shared: &Arc<Shared>) {
    let config = &shared.config;
    let parker = Arc::new(Parker::new());
    let mut st = shared.lock();
    st.starting -= 1;
    loop {
        if st.threads > st.max_threads {
            // Surplus after `set_max_threads` lowered the cap: leave, and
            // make sure an idle thread looks at anything still queued.
            st.wake_next();
            return exit(shared, st);
        }
        if let Some(job) = st.pop_claim() {
            st.wake_next();
            st.grow_for_backlog();
            // A thread reserved here fails to start only by refusing jobs.
            let _ = shared.unlock_and_start(st);
            let mut after = job.execute(Some(&parker));
            while let After::Next(job) = after {
                after = job.execute(Some(&parker));
            }
            st = shared.lock();
            if matches!(after, After::Idle) && !wait_idle(&mut st, &parker, config) {
                return exit(shared, st);
            }
            continue;
        }
        if st.closed {
            return exit(shared, st);
        }
        if !st.nothing_deferred() {
            // Parking releases the lock without sending what this section
            // decided (a spinner relay may have reserved a thread): send it.
            let _ = shared.unlock_and_start(st);
            st = shared.lock();
            continue;
        }
        st.go_idle(&parker);
        if !wait_idle(&mut st, &parker, config) {
            return exit(shared, st);
        }
    }
}

/// The idle phase of a thread already on the idle stack: spin if it may,
/// then park until popped off the stack or the keep-alive expires, spinning
/// again whenever a spinner handed a job relays spinning to it. Returns
/// `false` if it expired (and left the stack), `true` if it was popped.
fn wait_idle(st: &mut MutexGuard<'_, State>, parker: &Arc<Parker>, config: &Config) -> bool {
    let deadline = Instant::now().checked_add(config.keep_alive);
    let mut timed_out = false;
    loop {
        if parker.spinning.load(Ordering::Relaxed) {
            // Watch for a hand-off without the lock for a few microseconds: a
            // job that comes soon then costs no futex wake on either side.
            unlocked(st, || spin_for_work(parker));
            st.stop_spinning(parker);
        }
        match parker.notified.load(Ordering::Relaxed) {
            NONE => {}
            WORK => {
                st.waking -= 1;
                return true;
            }
            _ => return true, // close or resize: the caller decides
        }
        if timed_out && st.threads > config.min_threads {
            st.remove_idle(parker);
            return false;
        }
        // Parking releases the lock without `Shared::unlock`: nothing may
        // be left for it to send.
        debug_assert!(
            st.nothing_deferred(),
            "a wake-up or thread start would wait for the next unlock"
        );
        // Only a thread above `min_threads` can expire.
        let expiry = deadline.filter(|_| st.threads > config.min_threads);
        timed_out = parker.event.wait(st, expiry);
    }
}

/// How long an idle thread watches for a hand-off before it parks.
#[cfg(not(any(threadbridge_loom, miri)))]
const SPIN: Duration = Duration::from_micros(20);

/// Spins until `parker` is handed something or [`SPIN`] passes, yielding
/// the core between looks: on a busy machine the thread that will submit
/// the next job may be waiting for this very core.
#[cfg(not(any(threadbridge_loom, miri)))]
fn spin_for_work(parker: &Parker) {
    let start = Instant::now();
    loop {
        for _ in 0..16 {
            if parker.notified.load(Ordering::Acquire) != NONE {
                return;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= SPIN {
            return;
        }
        std::thread::yield_now();
    }
}

/// Under loom, spinning is one look at `notified`: the window in which a
/// submitter may hand work over without a notify is what the models need,
/// and a forced yield would bias which interleavings loom explores. Miri
/// runs real threads, so it gets one yield.
#[cfg(threadbridge_loom)]
fn spin_for_work(parker: &Parker) {
    let _ = parker.notified.load(Ordering::Acquire);
}

#[cfg(all(miri, not(threadbridge_loom)))]
fn spin_for_work(_parker: &Parker) {
    thread::yield_now();
}

/// Leaves `threads` (see [`serve`]) and releases the lock the way every
/// critical section ends: wake-ups decided in it (a surplus thread handing
/// queued work on) go out now, not after the stop hook.
fn exit(shared: &Arc<Shared>, mut st: MutexGuard<'_, State>) {
    st.threads -= 1;
    st.exiting += 1;
    let _ = shared.unlock_and_start(st);
}

fn call_hook(hook: Option<&Hook>) {
    if let Some(hook) = hook {
        drop_quietly(panic::catch_unwind(AssertUnwindSafe(|| hook())));
    }
}
