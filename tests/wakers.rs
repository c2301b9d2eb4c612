//! Wake-ups never happen while the pool holds a lock: an executor whose
//! waker touches the pool (or polls the woken future right away) must not
//! deadlock. The waker here calls `pool.stats()`, which takes the pool lock.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use common::{wait_until, with_pool, Gate};
use threadbridge::Pool;

struct TouchesPool {
    pool: Pool,
    woken: AtomicBool,
}

impl Wake for TouchesPool {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.pool.stats(); // deadlocks if woken under the pool lock
        self.woken.store(true, SeqCst);
    }
}

fn touching_waker(pool: &Pool) -> (Arc<TouchesPool>, Waker) {
    let w = Arc::new(TouchesPool {
        pool: pool.clone(),
        woken: AtomicBool::new(false),
    });
    (w.clone(), Waker::from(w))
}

#[test]
fn shutdown_waker_is_woken_outside_the_pool_lock() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        pool.run(gate.waiter()).detach();
        let mut shutdown = pool.shutdown();
        let (flag, waker) = touching_waker(&pool);
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut shutdown).poll(&mut cx).is_pending());
        gate.open();
        wait_until("the shutdown waker was woken", || flag.woken.load(SeqCst));
        assert!(Pin::new(&mut shutdown).poll(&mut cx).is_ready());
    });
}

#[test]
fn run_waker_is_woken_outside_the_pool_lock() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let mut run = pool.run(gate.then(|| 7));
        let (flag, waker) = touching_waker(&pool);
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut run).poll(&mut cx).is_pending());
        gate.open();
        wait_until("the Run's waker was woken", || flag.woken.load(SeqCst));
        assert_eq!(Pin::new(&mut run).poll(&mut cx), Poll::Ready(7));
    });
}
