//! The crate's one timer thread: it wakes lag probes when their tick is
//! due and runs the starvation checks (and, later, whatever else must
//! happen at a time rather than on an event). Started on first need; with
//! nothing due it parks without a timeout, so an idle process pays nothing.
//!
//! An entry holds a [`Weak`] reference to what is [`Due`]: something
//! dropped meanwhile (a probe whose future was dropped, a pool that was
//! shut down) is skipped when its time comes, never kept alive by the
//! timer. What fires runs on the timer thread, outside its lock, and must
//! be short: user hooks go to the hook thread (`observe/hook_thread.rs`),
//! never here.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
#[cfg(not(threadbridge_loom))]
use std::sync::OnceLock;
use std::sync::Weak;
use std::time::Instant;

use crate::sync::drop_quietly;
#[cfg(not(threadbridge_loom))]
use crate::sync::thread;
use crate::sync::{Condvar, Mutex};

/// Something the timer calls back at a time.
pub(crate) trait Due: Send + Sync {
    /// Its time (`now` or earlier) came: act, and say when it is due next
    /// (`None`: not again, until someone schedules it anew).
    fn fire(&self, now: Instant) -> Option<Instant>;
}

struct Entry {
    at: Instant,
    /// Keeps entries of the same instant in the order they came.
    seq: u64,
    what: Weak<dyn Due>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    /// Reversed: `BinaryHeap` is a max-heap, the earliest entry goes first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

/// The timer: a queue of entries and the thread that serves it.
pub(crate) struct Timer {
    queue: Mutex<Queue>,
    cv: Condvar,
}

impl Timer {
    #[cfg_attr(threadbridge_loom, allow(dead_code))]
    fn new() -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
        }
    }

    /// Calls `what` back at `at` (at once if `at` is past).
    #[cfg_attr(threadbridge_loom, allow(dead_code))]
    fn schedule(&self, at: Instant, what: Weak<dyn Due>) {
        let mut q = self.queue.lock();
        q.seq += 1;
        let seq = q.seq;
        let earliest = q.heap.peek().map_or(true, |first| at < first.at);
        q.heap.push(Entry { at, seq, what });
        drop(q);
        if earliest {
            self.cv.notify_one();
        }
    }

    /// The timer thread's loop: fire what is due, park until the next entry.
    #[cfg_attr(threadbridge_loom, allow(dead_code))]
    fn serve(&self) {
        let mut q = self.queue.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while q.heap.peek().is_some_and(|first| first.at <= now) {
                due.extend(q.heap.pop());
            }
            if due.is_empty() {
                match q.heap.peek().map(|first| first.at) {
                    Some(at) => {
                        let _ = self.cv.wait_until(&mut q, at);
                    }
                    None => self.cv.wait(&mut q),
                }
                continue;
            }
            drop(q);
            let mut again = Vec::new();
            for entry in due {
                if let Some(what) = entry.what.upgrade() {
                    if let Some(at) = what.fire(now) {
                        again.push((at, entry.what));
                    }
                    // Its last reference may go here: drop it outside the
                    // queue's lock, and survive a Drop that panics.
                    drop_quietly(what);
                }
            }
            q = self.queue.lock();
            for (at, what) in again {
                q.seq += 1;
                let seq = q.seq;
                q.heap.push(Entry { at, seq, what });
            }
        }
    }
}

/// Calls `what` back at `at`, on the process's timer thread (started on
/// the first call).
///
/// Under loom there is no timer thread (loom has no clock and no statics
/// across executions): the models fire what they test themselves, and
/// nothing is scheduled.
pub(crate) fn schedule(at: Instant, what: Weak<dyn Due>) {
    #[cfg(not(threadbridge_loom))]
    get().schedule(at, what);
    #[cfg(threadbridge_loom)]
    drop((at, what));
}

/// The process's timer, its thread started on the first call.
#[cfg(not(threadbridge_loom))]
fn get() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer::new()));
        thread::Builder::new()
            .name("threadbridge-timer".into())
            .spawn(move || timer.serve())
            .expect("threadbridge: could not start the timer thread");
        timer
    })
}
