//! The worker thread: starting one, its loop (run jobs, park LIFO, expire
//! after `keep_alive`), its hooks, and the marker that lets a nested `Run`
//! know it is polled on a worker of its own pool.

use std::cell::Cell;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::builder::Hook;
use crate::job::drop_quietly;
use crate::shared::{Parker, Shared, State};
use crate::sync::{thread, thread_local, Arc, Ordering};

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
    loop {
        if let Some(job) = st.pop_claim() {
            drop(st);
            let mut next = Some(job);
            while let Some(job) = next {
                next = job.execute(true);
            }
            st = shared.lock();
            continue;
        }
        if st.closed || st.threads > st.max_threads {
            return exit(&mut st);
        }

        // Park on top of the idle stack: the next job wakes this thread first.
        parker.notified.store(false, Ordering::Relaxed);
        st.idle.push(Arc::clone(&parker));
        let deadline = Instant::now().checked_add(config.keep_alive);
        loop {
            let timed_out = match deadline {
                Some(deadline) if st.threads > config.min_threads => parker.cv.wait_until(&mut st, deadline),
                _ => {
                    parker.cv.wait(&mut st);
                    false
                }
            };
            if parker.notified.load(Ordering::Relaxed) {
                break; // popped off the stack: work, close or resize
            }
            if timed_out && st.threads > config.min_threads {
                st.remove_idle(&parker);
                return exit(&mut st);
            }
        }
    }
}

fn exit(st: &mut State) {
    st.threads -= 1;
    st.exiting += 1;
}

fn call_hook(hook: Option<&Hook>) {
    if let Some(hook) = hook {
        drop_quietly(panic::catch_unwind(AssertUnwindSafe(|| hook())));
    }
}
