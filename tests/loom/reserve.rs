//! Reservations: a reserved job never waits behind ordinary ones, ordinary
//! jobs never run on more than `max_threads` threads, and a reservation
//! shrunk or dropped while its jobs run loses no thread and no token.

use std::sync::Arc;

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

use crate::{alone, finish, model_on_pool, pool, Gate};

/// A reserved job runs on a thread set aside while the pool's one
/// ordinary thread is held and an ordinary job is queued; the reservation
/// is dropped while its job runs. The queued ordinary job never runs
/// beside the held one (not even on the set-aside thread once it is
/// free), and every thread exits at the end.
#[test]
fn reservation_dropped_while_its_job_runs() {
    model_on_pool(1, |pool| {
        let urgent = pool.reserve(1);
        let ordinary = Arc::new(AtomicUsize::new(0));
        let gate = Gate::default();
        let held = pool.run(held_inside(
            &ordinary,
            &gate,
            "two ordinary jobs on a pool of 1",
        ));
        let queued = pool.run(alone(&ordinary, "two ordinary jobs on a pool of 1"));
        let reserved = urgent.run(|| 7);
        let dropper = thread::spawn(move || drop(urgent));
        // Not behind the held job: it has a thread of its own.
        assert_eq!(block_on(reserved), 7);
        dropper.join().unwrap();
        assert_eq!(pool.stats().reserved, 0);
        gate.open();
        block_on(held);
        block_on(queued);
    });
}

/// A reservation shrunk to 0 (paused) and grown back while its job runs
/// and another waits: the waiter runs once, after the resize, and the
/// pool ends with the reservation it was given.
#[test]
fn reservation_shrunk_and_grown_while_its_job_runs() {
    loom::model(|| {
        let pool = pool(1);
        let urgent = pool.reserve(1);
        let inside = Arc::new(AtomicUsize::new(0));
        let gate = Gate::default();
        let first = urgent.run(held_inside(&inside, &gate, "one token, two jobs"));
        let second = urgent.run(alone(&inside, "one token, two jobs"));
        let u = urgent.clone();
        let resizer = thread::spawn(move || {
            u.set_limit(0).unwrap();
            u.set_limit(1).unwrap();
        });
        gate.open();
        block_on(first);
        block_on(second);
        resizer.join().unwrap();
        check_reservation(&pool, &urgent);
        finish(&pool);
    });
}

/// A job that counts itself in `inside` (alone there), holds until `gate`
/// opens, then counts itself out.
fn held_inside(
    inside: &Arc<AtomicUsize>,
    gate: &Gate,
    what: &'static str,
) -> impl FnOnce() + Send + 'static {
    let (inside, hold) = (inside.clone(), gate.waiter());
    move || {
        assert_eq!(inside.fetch_add(1, SeqCst), 0, "{what}");
        hold();
        inside.fetch_sub(1, SeqCst);
    }
}

/// The pool ends with the reservation it was given, every token back.
#[inline(never)]
fn check_reservation(pool: &threadbridge::Pool, urgent: &threadbridge::Limiter) {
    assert_eq!(pool.stats().reserved, 1);
    let l = urgent.stats();
    assert_eq!((l.limit, l.running, l.waiting), (1, 0, 0));
}
