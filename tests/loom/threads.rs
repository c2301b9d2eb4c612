//! The workers: a submit racing a worker going idle, keep-alive expiry,
//! wake chaining and fan-out, the spin relay, and a lowered cap.

use std::sync::Arc;
use std::time::Duration;

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::thread;
use threadbridge::Pool;

use crate::{alone, finish, model_on_pool, Gate};

/// 3. Idle claim: a job submitted while the only worker finishes its last
/// job and parks is never stranded in the queue (tokio#8056's class).
#[test]
fn submit_racing_worker_going_idle() {
    model_on_pool(1, |pool| {
        let first = pool.run(|| 1);
        let p = pool.clone();
        let submitter = thread::spawn(move || block_on(p.run(|| 2)));
        assert_eq!(block_on(first), 1);
        assert_eq!(submitter.join().unwrap(), 2);
        assert!(pool.stats().threads <= 1);
    });
}

/// 4. Keep-alive expiry racing a new job: with a zero keep-alive the worker
/// expires as soon as it parks; a job submitted meanwhile is run by it or
/// by a new thread, never lost, and the cap holds throughout.
#[test]
fn keep_alive_expiry_racing_new_job() {
    loom::model(|| {
        let pool = Pool::builder()
            .max_threads(1)
            .keep_alive(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(block_on(pool.run(|| 1)), 1);
        let second = pool.run(|| 2);
        assert!(pool.stats().threads <= 1);
        assert_eq!(block_on(second), 2);
        finish(&pool);
        assert_eq!(pool.stats().completed, 2);
    });
}

/// 3. Wake chaining: with two idle threads, two jobs submitted together must
/// both run at once (the first blocks until the second starts). The second
/// submit wakes nobody while the first thread is on its way; that thread
/// must wake the next one when it finds more work queued.
#[test]
fn woken_thread_wakes_the_next() {
    model_on_pool(2, |pool| {
        // Start both threads and let them go idle.
        let (g1, g2) = (Gate::default(), Gate::default());
        let (a, b) = (g1.clone(), g2.clone());
        let w1 = pool.run(move || {
            b.open();
            a.wait();
        });
        let w2 = pool.run(g2.waiter());
        g1.open();
        block_on(w1);
        block_on(w2);
        // Both idle now; these two need both threads at once.
        let gate = Gate::default();
        let h = gate.clone();
        let first = pool.run(gate.waiter());
        let second = pool.run(move || h.open());
        block_on(second);
        block_on(first);
    });
}

/// 2. Lowering `max_threads` while both threads are busy: the surplus
/// thread finishes its job and exits instead of taking queued work, so the
/// jobs queued afterwards never run two at a time, and the pool is back to
/// one thread without waiting for a keep-alive.
#[test]
fn lowered_cap_holds_for_queued_jobs() {
    model_on_pool(2, |pool| {
        let gate = Gate::default();
        let a = pool.run(gate.waiter());
        let b = pool.run(gate.waiter());
        pool.set_max_threads(1).unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let c = pool.run(alone(&inside, "one thread after the cap was lowered"));
        let d = pool.run(alone(&inside, "one thread after the cap was lowered"));
        gate.open();
        block_on(a);
        block_on(b);
        block_on(c);
        block_on(d);
        while pool.stats().threads > 1 {
            thread::yield_now(); // the surplus thread is on its way out
        }
    });
}

/// 3. A backlog grows the pool: two parked threads are woken one after
/// the other while three jobs arrive, so the submits start no thread; the
/// jobs can only finish together, so a woken thread must start the third.
/// (Three workers: bounded to one preemption to stay small.)
#[test]
fn backlog_grows_the_pool() {
    check_three_that_finish_together(3, 2);
}

/// 3. Spin relay: two idle threads, jobs one at a time. A spinning thread
/// handed a job tells the parked one to spin in its place (a notify, since
/// it is parked); the next job may be handed to that thread without one, so
/// the relay's notify must not be lost, and the pool must still shut down.
#[test]
fn spin_relay_hands_the_next_job_over() {
    loom::model(|| {
        let pool = parked_pool(2, 2);
        assert_eq!(block_on(pool.run(|| 1)), 1);
        assert_eq!(block_on(pool.run(|| 2)), 2);
        finish(&pool);
    });
}

/// 9. LIFO with spinners: two idle threads, jobs one at a time. The
/// thread that ran the first job is the most recently idle when the
/// second is submitted, so it takes it, whichever of the two spins then
/// (the other may spin in its place: the relay) and however their spins
/// end.
#[test]
fn the_most_recently_idle_thread_takes_the_next_job_while_another_spins() {
    loom::model(|| {
        let pool = parked_pool(2, 2);
        let first = block_on(pool.run(|| thread::current().id()));
        let second = block_on(pool.run(|| thread::current().id()));
        assert_eq!(
            first, second,
            "the next job skipped the most recently idle thread"
        );
        finish(&pool);
    });
}

/// 3. Fan-out: three parked threads, three jobs that can only finish
/// together. Once more jobs run than there are cores (loom's pools count
/// one), each woken thread wakes up to two more; every thread must still
/// be woken, none twice. (Three workers: one preemption.)
#[test]
fn fan_out_wakes_every_parked_thread() {
    check_three_that_finish_together(3, 3);
}

/// Checks [`three_that_finish_together`] on a [`parked_pool`] of up to
/// `max` threads with `parked` idle, then its shutdown, bounded to one
/// preemption (three workers make a big model).
fn check_three_that_finish_together(max: usize, parked: usize) {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(1);
    model.check(move || {
        let pool = parked_pool(max, parked);
        three_that_finish_together(&pool);
        finish(&pool);
    });
}

/// A pool of up to `max` threads with `parked` of them started and idle.
fn parked_pool(max: usize, parked: usize) -> Pool {
    let pool = Pool::builder()
        .max_threads(max)
        .min_threads(parked)
        .build()
        .unwrap();
    while pool.stats().idle_threads < parked {
        loom::thread::yield_now();
    }
    pool
}

/// Submits three jobs that can only finish together (two wait for the
/// third to open a gate) and awaits them all.
fn three_that_finish_together(pool: &Pool) {
    let gate = Gate::default();
    let i = gate.clone();
    let first = pool.run(gate.waiter());
    let second = pool.run(gate.waiter());
    let third = pool.run(move || i.open());
    block_on(third);
    block_on(first);
    block_on(second);
}
