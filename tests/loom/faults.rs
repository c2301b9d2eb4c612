//! Wakers the pool must survive, and the `Shutdown` future's waiter: a
//! waker that panics when a worker wakes it, racing a submit and a
//! shutdown; a `Shutdown` polled, or dropped, while the last worker exits.

use std::future::Future;
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Wake, Waker};

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use threadbridge::{Pool, Shutdown};

use crate::{finish, flag, poll, pool, Gate, LONG};

/// A waker whose wake panics (an executor that is gone). Its panics are
/// expected: their message is kept off the test output.
struct PanicsOnWake(Arc<AtomicUsize>);

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
        panic!("{HOSTILE}");
    }
}

const HOSTILE: &str = "a hostile waker";

fn hostile_waker() -> (Arc<AtomicUsize>, Waker) {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<String>().map(String::as_str) != Some(HOSTILE) {
                default(info);
            }
        }));
    });
    let wakes = Arc::new(AtomicUsize::new(0));
    (wakes.clone(), Waker::from(Arc::new(PanicsOnWake(wakes))))
}

/// A job's waker panics when the worker that ran it wakes it, while
/// another thread submits and the main thread shuts the pool down. The
/// worker survives: the second job, if accepted, runs; every worker exits;
/// the totals are exact.
#[test]
fn a_panicking_wake_vs_submit_and_shutdown() {
    loom::model(|| {
        let pool = pool(1);
        let mut first = pool.run(|| 1);
        let (wakes, hostile) = hostile_waker();
        let first_pending = poll(&mut first, &hostile).is_pending();
        let p = pool.clone();
        let submitter = thread::spawn(move || match p.try_run(|| 2) {
            Ok(run) => block_on(run) == 2,
            Err(err) => {
                assert!(err.is_closed());
                false
            }
        });
        let accepted = submitter.join().unwrap();
        finish(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed, 1 + u64::from(accepted));
        if first_pending {
            assert_eq!(wakes.load(SeqCst), 1, "the hostile waker was woken once");
        }
        drop(first);
    });
}

/// A one-thread pool shut down while its only worker runs a detached job
/// held on the returned gate: that worker exits once the gate opens.
fn shut_down_while_held() -> (Pool, Gate, Shutdown) {
    let pool = pool(1);
    let gate = Gate::default();
    pool.run(gate.waiter()).detach();
    let shutdown = pool.shutdown();
    (pool, gate, shutdown)
}

/// The `Shutdown` future polled while the last worker exits: it is either
/// ready at once or woken once the worker is gone (a registration that
/// could miss the exit would leave the model waiting: a loom deadlock).
#[test]
fn shutdown_polled_while_the_last_worker_exits() {
    loom::model(|| {
        let (pool, gate, mut shutdown) = shut_down_while_held();
        let (flag, waker) = flag();
        let opener = {
            let gate = gate.clone();
            thread::spawn(move || gate.open())
        };
        let mut cx = Context::from_waker(&waker);
        while std::pin::Pin::new(&mut shutdown).poll(&mut cx) == Poll::Pending {
            flag.wait();
        }
        assert_eq!(pool.stats().threads, 0, "ready means every worker exited");
        opener.join().unwrap();
    });
}

/// The `Shutdown` future dropped while the last worker exits (after it
/// registered its waker): the pool still winds down, and a second waiter
/// is still woken.
#[test]
fn shutdown_dropped_while_the_last_worker_exits() {
    loom::model(|| {
        let (pool, gate, mut first) = shut_down_while_held();
        let (_, waker) = flag();
        let _ = std::pin::Pin::new(&mut first).poll(&mut Context::from_waker(&waker));
        let dropper = thread::spawn(move || drop(first));
        gate.open();
        dropper.join().unwrap();
        block_on(pool.shutdown());
        assert!(pool.shutdown_timeout(LONG));
    });
}
