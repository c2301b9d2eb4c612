//! `run`: submission, results, FIFO order, the thread cap, thread reuse
//! (LIFO), shrinking after a burst and `set_max_threads`.
//! DESIGN semantics 1, 2 and 9.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::*;
use threadbridge::{Pool, Stats};

#[test]
fn job_starts_even_if_its_run_is_never_polled() {
    with_pool(2, |pool| {
        let started = Gate::new();
        let run = pool.run(opens_then(&started, || 7));
        // The Run is held but never polled: the job must start anyway.
        assert!(
            started.wait_timeout(DEADLINE),
            "the job did not start although run() was called (its Run was not polled)"
        );
        assert_eq!(block_on(run), 7);
    });
}

#[test]
fn run_returns_at_once_while_the_job_blocks() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        // If run() blocked on the job, this would hang until the guard fires.
        let run = pool.run(gate.then(|| "done"));
        gate.open();
        assert_eq!(block_on(run), "done");
    });
}

#[test]
fn returns_the_closures_value() {
    with_pool(4, |pool| {
        assert_eq!(block_on(pool.run(|| 6 * 7)), 42);
        assert_eq!(block_on(pool.run(|| String::from("hi"))), "hi");
        let v = block_on(pool.run(|| vec![1u8; 1000]));
        assert_eq!(v.len(), 1000);
        block_on(pool.run(|| ()));
    });
}

#[test]
fn job_runs_on_a_named_worker_thread_not_the_caller() {
    guard(|| {
        let pool = Pool::builder()
            .max_threads(2)
            .thread_name(|i| format!("tb-test-worker-{i}"))
            .build()
            .unwrap();
        let caller = thread::current().id();
        let (id, name) = block_on(pool.run(|| {
            let t = thread::current();
            (t.id(), t.name().map(str::to_owned))
        }));
        assert_ne!(id, caller, "the job ran on the caller's thread");
        let name = name.expect("worker thread has no name");
        assert!(
            name.starts_with("tb-test-worker-"),
            "worker name {name:?} not from thread_name"
        );
    });
}

#[test]
fn the_latest_waker_is_woken_and_not_an_earlier_one() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let mut run = Box::pin(pool.run(gate.then(|| 5)));
        let a = CountingWaker::new();
        let b = CountingWaker::new();
        assert!(poll_with(run.as_mut(), &a.waker()).is_pending());
        assert!(poll_with(run.as_mut(), &b.waker()).is_pending());
        gate.open();
        wait_until("the latest waker (B) to be woken", || b.wakes() >= 1);
        assert_eq!(a.wakes(), 0, "the stale waker A was woken too");
        assert_eq!(b.wakes(), 1, "waker B woken more than once");
        assert_eq!(poll_with(run.as_mut(), &b.waker()), Poll::Ready(5));
    });
}

#[test]
fn a_waker_registered_after_completion_still_sees_ready() {
    with_pool(1, |pool| {
        let done = Gate::new();
        let mut run = Box::pin(pool.run(opens_then(&done, || 9)));
        done.wait();
        // The result must not be lost whether or not it was stored yet.
        let w = CountingWaker::new();
        match poll_with(run.as_mut(), &w.waker()) {
            Poll::Ready(v) => assert_eq!(v, 9),
            Poll::Pending => {
                wait_until("a wake-up after the job finished", || w.wakes() >= 1);
                assert_eq!(poll_with(run.as_mut(), &w.waker()), Poll::Ready(9));
            }
        }
    });
}

#[test]
fn peak_concurrency_equals_max_threads() {
    with_pool(4, |pool| {
        let gate = Gate::new();
        let conc = Concurrency::new();
        let runs: Vec<_> = (0..32)
            .map(|i| pool.run(conc.tracked(&gate, move || i)))
            .collect();
        wait_until("4 jobs running", || conc.now() == 4);
        let stats = wait_stats(&pool, "4 running, 28 queued", |s| {
            s.running == 4 && s.queued == 28
        });
        assert_eq!(stats.threads, 4, "{stats:?}");
        assert_eq!(stats.idle_threads, 0, "{stats:?}");
        assert_stays(SETTLE, "no more than 4 jobs run / threads alive", || {
            conc.now() == 4 && pool.stats().threads <= 4
        });

        // Watch the thread count while the burst drains.
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (pool, stop) = (pool.clone(), stop.clone());
            thread::spawn(move || {
                let mut max = 0;
                while !stop.load(Ordering::SeqCst) {
                    max = max.max(pool.stats().threads);
                    thread::yield_now();
                }
                max
            })
        };
        let results = release(&gate, runs);
        stop.store(true, Ordering::SeqCst);
        let max_threads_seen = watcher.join().unwrap();

        assert_eq!(results, (0..32).collect::<Vec<_>>());
        assert_eq!(conc.peak(), 4, "peak concurrency");
        assert!(
            max_threads_seen <= 4,
            "saw {max_threads_seen} threads > max_threads 4"
        );
    });
}

#[test]
fn jobs_start_in_submission_order() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let order = Order::new();
        let first = pool.run(gate.waiter());
        let runs: Vec<_> = (0..20).map(|i| pool.run(order.job(i))).collect();
        wait_stats(&pool, "20 queued", |s| s.queued == 20);
        gate.open();
        block_on(first);
        block_on(futures::future::join_all(runs));
        order.assert_fifo(20);
    });
}

/// A stream of one-at-a-time jobs keeps the pool small: one thread runs the
/// job, and on a multi-core machine at most one more spins for the next
/// (started once if the pool has no other thread).
#[test]
fn sequential_jobs_use_at_most_two_threads() {
    with_pool(8, |pool| {
        let ids: HashSet<ThreadId> = block_on(async {
            let mut ids = HashSet::new();
            for _ in 0..200 {
                ids.insert(pool.run(|| thread::current().id()).await);
            }
            ids
        });
        let most = if thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            2
        } else {
            1
        };
        assert!(
            ids.len() <= most,
            "sequential jobs ran on {} threads",
            ids.len()
        );
        assert!(pool.stats().threads <= most, "{:?}", pool.stats());
    });
}

fn burst(pool: &Pool, n: usize) {
    let gate = Gate::new();
    let runs = occupy(pool, n, &gate);
    release(&gate, runs);
}

#[test]
fn pool_shrinks_back_to_min_threads_after_a_burst() {
    guard(|| {
        let pool = Pool::builder()
            .max_threads(4)
            .min_threads(1)
            .keep_alive(Duration::from_millis(50))
            .build()
            .unwrap();
        burst(&pool, 4);
        wait_stats(&pool, "threads back to min_threads (1)", |s| s.threads == 1);
        // min_threads are kept, however long they idle.
        assert_stays(Duration::from_millis(300), "one thread kept alive", || {
            pool.stats().threads == 1
        });
        // And the pool still serves after shrinking.
        assert_eq!(block_on(pool.run(|| 3)), 3);
    });
}

#[test]
fn pool_shrinks_to_zero_threads_with_min_threads_zero() {
    guard(|| {
        let pool = Pool::builder()
            .max_threads(4)
            .keep_alive(Duration::from_millis(50))
            .build()
            .unwrap();
        burst(&pool, 4);
        wait_stats(&pool, "threads back to 0", |s| {
            s.threads == 0 && s.idle_threads == 0
        });
        assert_eq!(
            block_on(pool.run(|| 3)),
            3,
            "pool serves again after shrinking to 0"
        );
    });
}

/// Starts 3 jobs on 3 threads, lets them finish in `finish_order`, and
/// returns (thread of each job, thread the next job ran on).
fn lifo_case(finish_order: [usize; 3]) -> (Vec<ThreadId>, ThreadId) {
    let pool = pool(3);
    let gates: Vec<_> = (0..3).map(|_| Gate::new()).collect();
    let all_started = Counter::new();
    let release_all = Gate::new();
    let runs: Vec<_> = (0..3)
        .map(|i| {
            let (gate, all_started, release_all) =
                (gates[i].clone(), all_started.clone(), release_all.clone());
            pool.run(move || {
                all_started.incr();
                // Hold until all three run, so they sit on distinct threads.
                release_all.wait();
                gate.wait();
                thread::current().id()
            })
        })
        .collect();
    all_started.wait_for(3);
    release_all.open();
    for (k, &i) in finish_order.iter().enumerate() {
        gates[i].open();
        wait_stats(&pool, "the released thread to park", |s| {
            s.idle_threads == k + 1 && s.spinning_threads == 0
        });
    }
    let ids = block_on(futures::future::join_all(runs));
    let next = block_on(pool.run(|| thread::current().id()));
    (ids, next)
}

#[test]
fn the_most_recently_idle_thread_takes_the_next_job() {
    guard(|| {
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let (ids, next) = lifo_case(order);
            let last = ids[order[2]];
            assert_eq!(
                next, last,
                "finish order {order:?}: next job did not run on the most recently idle thread"
            );
        }
    });
}

#[test]
fn lifo_keeps_using_the_same_warm_thread() {
    with_pool(3, |pool| {
        burst(&pool, 3);
        let parked = |s: &Stats| s.idle_threads == 3 && s.spinning_threads == 0;
        wait_stats(&pool, "3 parked threads", parked);
        let first = block_on(pool.run(|| thread::current().id()));
        for _ in 0..10 {
            wait_stats(&pool, "3 parked threads", parked);
            let id = block_on(pool.run(|| thread::current().id()));
            assert_eq!(id, first, "an idle pool did not reuse its warmest thread");
        }
    });
}

/// Jobs that can only finish together: each waits (bounded) until all `n`
/// have started, and reports whether they did.
fn rendezvous(pool: &Pool, n: usize) -> Vec<threadbridge::Run<bool>> {
    let conc = Concurrency::new();
    (0..n)
        .map(|_| {
            let conc = conc.clone();
            pool.run(move || {
                conc.enter();
                let deadline = std::time::Instant::now() + DEADLINE;
                while conc.started() < n && std::time::Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                conc.exit();
                conc.started() >= n
            })
        })
        .collect()
}

#[test]
fn a_backlog_grows_the_pool_to_its_cap_after_submits_stop() {
    // Parked threads are woken one after the other (wake chaining) while
    // a burst arrives: the submits see idle threads and start none. The
    // woken threads must grow the pool for the rest of the burst, or jobs
    // that can only finish together would wait for good.
    guard(|| {
        let (idle, cap) = (sized(8, 3), sized(16, 6));
        let pool = pool(cap);
        burst(&pool, idle);
        wait_stats(&pool, "parked threads", |s| {
            s.idle_threads == idle && s.spinning_threads == 0
        });
        let all_met = block_on(futures::future::join_all(rendezvous(&pool, cap)));
        assert!(
            all_met.iter().all(|&met| met),
            "the pool never reached {cap} threads"
        );
        let stats = pool.stats();
        assert_eq!(stats.threads, cap, "{stats:?}");
    });
}

#[test]
fn set_max_threads_up_starts_queued_jobs_at_once() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let conc = Concurrency::new();
        let runs: Vec<_> = (0..3).map(|_| pool.run(conc.hold(&gate))).collect();
        wait_stats(&pool, "1 running, 2 queued", |s| {
            s.running == 1 && s.queued == 2
        });
        pool.set_max_threads(3).unwrap();
        // Nothing finishes while the gate is shut: only the raised cap can
        // start the queued jobs.
        wait_until("queued jobs to start after set_max_threads(3)", || {
            conc.now() == 3
        });
        let stats = pool.stats();
        assert_eq!(
            (stats.threads, stats.running, stats.queued),
            (3, 3, 0),
            "{stats:?}"
        );
        release(&gate, runs);
    });
}

#[test]
fn set_max_threads_down_lets_surplus_threads_finish_and_exit() {
    guard(|| {
        // keep_alive is the default (10 s): threads leaving now do so
        // because of the lower cap, not because they idled.
        let pool = pool(4);
        let first = Gate::new();
        let first_batch = occupy(&pool, 4, &first);
        pool.set_max_threads(2).unwrap();
        // Running jobs are not interrupted.
        assert_eq!(pool.stats().running, 4);

        let second = Gate::new();
        let conc = Concurrency::new();
        let second_batch: Vec<_> = (0..4).map(|_| pool.run(conc.hold(&second))).collect();
        release(&first, first_batch);
        wait_until("2 jobs of the second batch running", || {
            let n = conc.now();
            assert!(
                n <= 2,
                "{n} jobs of the second batch run above the lowered cap 2; {:?}",
                pool.stats()
            );
            n == 2
        });
        wait_stats(&pool, "threads down to the new cap (2)", |s| s.threads == 2);
        assert_stays(SETTLE, "at most 2 threads and 2 running", || {
            let s = pool.stats();
            s.threads <= 2 && conc.now() <= 2
        });
        release(&second, second_batch);
        assert_eq!(conc.peak(), 2, "the lowered cap was exceeded");
        assert!(pool.stats().threads <= 2, "{:?}", pool.stats());
    });
}

/// Starts `n` threads on `pool` and lets them all go idle (awaited, for
/// tests that run under an executor).
async fn warm(pool: &Pool, n: usize) {
    let gate = Gate::new();
    let runs = occupy(pool, n, &gate);
    gate.open();
    futures::future::join_all(runs).await;
}

#[test]
fn sequential_jobs_on_an_idle_pool_stay_on_its_warmest_thread_while_others_spin() {
    // DESIGN semantic 9 with spinners, without waiting for them to park:
    // each job is submitted once every thread is idle again, spinning or
    // not. The thread that ran the last job is the most recently idle, so
    // it takes the next one, every time. The pauses before each submit
    // (0 to 40 µs) let the spins of the threads end in every order.
    on_executors(TWO, |_| async {
        let pool = pool(4);
        warm(&pool, 4).await;
        let all_idle = |s: &Stats| s.idle_threads == 4;
        let mut ids = Vec::new();
        for i in 0..30 {
            wait_stats(&pool, "4 idle threads", all_idle);
            let pause = std::time::Instant::now();
            while pause.elapsed() < Duration::from_micros(10 * (i % 5)) {}
            ids.push(pool.run(|| thread::current().id()).await);
        }
        let threads: HashSet<_> = ids.iter().collect();
        assert_eq!(
            threads.len(),
            1,
            "sequential jobs on an idle pool moved between threads: {ids:?}"
        );
    });
}

#[test]
fn a_pool_that_never_spins_parks_at_once_and_still_reuses_its_warmest_thread() {
    on_executors(TWO, |_| async {
        let pool = Pool::builder()
            .max_threads(4)
            .idle_spin(Duration::ZERO)
            .build()
            .expect("build a pool that never spins");
        warm(&pool, 4).await;
        let mut ids = HashSet::new();
        for _ in 0..20 {
            ids.insert(pool.run(|| thread::current().id()).await);
            let stats = pool.stats();
            assert_eq!(stats.spinning_threads, 0, "a thread spun: {stats:?}");
        }
        assert_eq!(ids.len(), 1, "sequential jobs moved between threads");
    });
}
