//! Runtime independence: the same `Run` works under tokio (current-thread
//! and multi-thread), smol, async-executor, `futures` and a hand-written
//! executor that counts polls and wake-ups. DESIGN semantic 1.

mod common;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use futures::FutureExt;
use threadbridge::Run;

#[test]
fn run_returns_its_value_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(4);
        assert_eq!(pool.run(|| 6 * 7).await, 42);
        let s = pool.run(|| "x".repeat(3)).await;
        assert_eq!(s, "xxx");
    });
}

#[test]
fn many_concurrent_runs_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(3);
        let n = sized(200u64, 40);
        let runs: Vec<_> = (0..n).map(|i| pool.run(move || i * 2)).collect();
        let out = futures::future::join_all(runs).await;
        assert_eq!(out, (0..n).map(|i| i * 2).collect::<Vec<_>>());
        let stats = pool.stats();
        assert_eq!(stats.completed, n, "{stats:?}");
    });
}

#[test]
fn job_does_not_run_on_the_executor_thread_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(2);
        let here = thread::current().id();
        let there = pool.run(|| thread::current().id()).await;
        assert_ne!(here, there, "the job ran on the executor's thread");
    });
}

/// In one task, a job blocks until a sibling future in the *same task*
/// opens its gate. If `run` or polling the `Run` blocked the executor's
/// thread, the sibling could never run: the guard would fire.
#[test]
fn awaiting_a_run_never_blocks_the_executor_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(1);
        let gate = Gate::new();
        let job = pool.run(gate.then(|| 1));
        let opener = async {
            smol::future::yield_now().await; // let the Run be polled first
            gate.open();
            2
        };
        let (a, b) = futures::join!(job, opener);
        assert_eq!((a, b), (1, 2));
    });
}

/// Awaits `first` (a job held on `gate`, giving 1) and `second` (waiting
/// behind it, giving 2) in one task, beside a future that opens the gate
/// once both have been polled, and checks all three outputs. If waiting
/// blocked the executor's thread, the gate would never open: the guard
/// would fire.
async fn assert_waiting_never_blocks(
    gate: &Gate,
    first: impl Future<Output = u32>,
    second: impl Future<Output = u32>,
) {
    let opener = async {
        smol::future::yield_now().await; // let the Runs be polled first
        gate.open();
        3
    };
    let (a, b, c) = futures::join!(first, second, opener);
    assert_eq!((a, b, c), (1, 2, 3));
}

/// A job for [`waiting_never_blocks_under_every_executor`]'s call sites.
type Job = Box<dyn FnOnce() -> u32 + Send>;

/// Under every executor: `setup` makes something scarce (a thread, a token,
/// queue space), `run` submits through it a job held on a gate and one that
/// must wait behind it, and [`assert_waiting_never_blocks`] checks that the
/// wait never blocks the executor.
fn waiting_never_blocks_under_every_executor<S: Send + 'static>(
    setup: fn() -> S,
    run: fn(&S, Job) -> Run<u32>,
) {
    on_every_executor(move |_| async move {
        let site = setup();
        let gate = Gate::new();
        let first = run(&site, Box::new(gate.then(|| 1)));
        let second = run(&site, Box::new(|| 2));
        assert_waiting_never_blocks(&gate, first, second).await;
    });
}

#[test]
fn waiting_for_a_thread_never_blocks_the_executor_under_every_executor() {
    // One thread: the second job waits for it.
    waiting_never_blocks_under_every_executor(|| pool(1), |pool, job| pool.run(job));
}

#[test]
fn waiting_for_a_limiter_token_never_blocks_the_executor_under_every_executor() {
    // Threads to spare, one token: the second job waits for the token.
    waiting_never_blocks_under_every_executor(
        || pool(4).limiter(1),
        |limiter, job| limiter.run(job),
    );
}

#[test]
fn waiting_for_queue_space_never_blocks_the_executor_under_every_executor() {
    // One thread and no queue: the second job waits (asynchronously) for
    // the thread.
    waiting_never_blocks_under_every_executor(|| bounded_pool(1, 0), |pool, job| pool.run(job));
}

#[test]
fn panics_resume_in_the_awaiting_task_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(1);
        let result = AssertUnwindSafe(pool.run(|| -> u32 { panic!("matrix boom") }))
            .catch_unwind()
            .await;
        let payload = result.expect_err("the job's panic did not reach the awaiter");
        assert_eq!(panic_message(&*payload), "matrix boom");
        // The pool still works in the same task.
        assert_eq!(pool.run(|| 1).await, 1);
    });
}

/// A stream of one-at-a-time jobs (the spinner relay's case) uses at most
/// two threads, one spinning for the next job, and the pool then parks.
#[test]
fn sequential_jobs_stay_on_two_threads_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(8);
        let mut ids = std::collections::HashSet::new();
        for _ in 0..sized(200, 20) {
            ids.insert(pool.run(|| thread::current().id()).await);
        }
        assert!(
            ids.len() <= 2,
            "one-at-a-time jobs ran on {} threads",
            ids.len()
        );
        let stats = pool.stats();
        assert!(
            stats.threads <= 2 && stats.spinning_threads <= 2,
            "{stats:?}"
        );
        wait_stats(&pool, "the idle threads parked", |s| {
            s.spinning_threads == 0
        });
    });
}

/// Runs `n_tasks` tokio tasks on `rt`, each awaiting `step(t, i)` for `i`
/// in `0..per_task` one after the other, and sums every output.
fn sum_of_tokio_tasks<F, Fut>(
    rt: &tokio::runtime::Runtime,
    n_tasks: u64,
    per_task: u64,
    step: F,
) -> u64
where
    F: Fn(u64, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = u64> + Send,
{
    rt.block_on(async {
        let tasks: Vec<_> = (0..n_tasks)
            .map(|t| {
                let step = step.clone();
                tokio::spawn(async move {
                    let mut sum = 0;
                    for i in 0..per_task {
                        sum += step(t, i).await;
                    }
                    sum
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    })
}

#[test]
fn tokio_multi_thread_tasks_share_a_pool() {
    guard(|| {
        let rt = tokio_multi_thread();
        let pool = pool(3);
        let (n_tasks, per_task) = (sized(16u64, 4), sized(50u64, 10));
        let total = sum_of_tokio_tasks(&rt, n_tasks, per_task, {
            let pool = pool.clone();
            move |t, i| pool.run(move || t * 1000 + i)
        });
        let expected: u64 = (0..n_tasks)
            .flat_map(|t| (0..per_task).map(move |i| t * 1000 + i))
            .sum();
        assert_eq!(total, expected);
    });
}

#[test]
fn async_executor_tasks_share_a_pool() {
    guard(|| {
        let ex = Arc::new(async_executor::Executor::new());
        let pool = pool(2);
        let (n_tasks, per_task) = (sized(8u64, 4), sized(25u64, 10));
        let tasks: Vec<_> = (0..n_tasks)
            .map(|t| {
                let pool = pool.clone();
                ex.spawn(async move {
                    let mut sum = 0;
                    for i in 0..per_task {
                        sum += pool.run(move || t + i).await;
                    }
                    sum
                })
            })
            .collect();
        let total: u64 = smol_block_on(ex.run(async {
            let mut total = 0;
            for t in tasks {
                total += t.await;
            }
            total
        }));
        let expected: u64 = (0..n_tasks)
            .flat_map(|t| (0..per_task).map(move |i| t + i))
            .sum();
        assert_eq!(total, expected);
    });
}

// ----- the counting executor: wake-ups and spinning -----

#[test]
fn a_simple_await_completes_with_at_most_one_wake_up() {
    with_pool(1, |pool| {
        let counts = Counts::new();
        let v = block_on_counting(&counts, pool.run(|| 11));
        assert_eq!(v, 11);
        assert!(
            counts.wakes() <= 1,
            "more than one wake-up for one job: {counts:?}"
        );
        assert!(
            counts.polls() <= 2,
            "more than two polls for one job: {counts:?}"
        );
    });
}

/// A thread that waits for the counting executor's first poll, gives a
/// spinning implementation every chance to show it (200 ms), notes the
/// polls and wake-ups so far, then opens `gate`.
fn open_after_idling(gate: &Arc<Gate>, counts: &Counts) -> thread::JoinHandle<(usize, usize)> {
    let (gate, counts) = (gate.clone(), counts.clone());
    thread::spawn(move || {
        wait_until("the executor's first poll", || counts.polls() >= 1);
        thread::sleep(Duration::from_millis(200));
        let idle = (counts.polls(), counts.wakes());
        gate.open();
        idle
    })
}

#[test]
fn a_blocked_job_gets_exactly_one_wake_up_and_no_spin() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let counts = Counts::new();
        let opener = open_after_idling(&gate, &counts);
        let v = block_on_counting(&counts, pool.run(gate.then(|| "late")));
        let (idle_polls, idle_wakes) = opener.join().unwrap();
        assert_eq!(v, "late");
        assert_eq!(
            idle_wakes, 0,
            "woken while the job was still blocked: {counts:?}"
        );
        assert_eq!(
            idle_polls, 1,
            "polled while the job was still blocked: {counts:?}"
        );
        assert_eq!(
            counts.wakes(),
            1,
            "expected exactly one wake-up: {counts:?}"
        );
        assert_eq!(counts.polls(), 2, "expected exactly two polls: {counts:?}");
    });
}

#[test]
fn a_queued_job_waits_without_spinning() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let blocker = pool.run(gate.waiter());
        let counts = Counts::new();
        let opener = open_after_idling(&gate, &counts);
        // Queued behind the blocker: waits for a thread.
        assert_eq!(block_on_counting(&counts, pool.run(|| 3)), 3);
        let (_, idle_wakes) = opener.join().unwrap();
        assert_eq!(idle_wakes, 0, "woken while queued: {counts:?}");
        assert!(counts.wakes() <= 1, "{counts:?}");
        block_on(blocker);
    });
}

#[test]
fn sequential_awaits_take_at_most_one_wake_up_each() {
    with_pool(2, |pool| {
        let counts = Counts::new();
        let n = sized(100, 20);
        let sum = block_on_counting(&counts, async {
            let mut sum = 0;
            for i in 0..n {
                sum += pool.run(move || i).await;
            }
            sum
        });
        assert_eq!(sum, (0..n).sum::<usize>());
        assert!(
            counts.wakes() <= n,
            "more than one wake-up per job: {counts:?}"
        );
        assert!(counts.polls() <= n + 1, "{counts:?}");
    });
}

#[test]
fn joined_awaits_take_at_most_one_wake_up_each() {
    with_pool(4, |pool| {
        let counts = Counts::new();
        // At most 30: above that `join_all` runs on `FuturesUnordered`,
        // which wakes itself to yield when many futures are ready in one
        // pass (seen under load: 51 wake-ups for 50 jobs, on old code too).
        let n = sized(30, 20);
        let runs: Vec<_> = (0..n).map(|i| pool.run(move || i)).collect();
        let out = block_on_counting(&counts, futures::future::join_all(runs));
        assert_eq!(out, (0..n).collect::<Vec<_>>());
        assert!(counts.wakes() <= n, "more wake-ups than jobs: {counts:?}");
    });
}

// ----- lost wake-ups -----

#[test]
fn no_lost_wake_up_when_the_waker_changes_during_completion() {
    with_pool(2, |pool| {
        for i in 0..sized(500u32, 100) {
            let mut run = Box::pin(pool.run(move || i));
            let a = CountingWaker::new();
            if let std::task::Poll::Ready(v) = poll_with(run.as_mut(), &a.waker()) {
                assert_eq!(v, i);
                continue;
            }
            // Swap to a new waker while the job may be completing.
            let b = CountingWaker::new();
            match poll_with(run.as_mut(), &b.waker()) {
                std::task::Poll::Ready(v) => assert_eq!(v, i),
                std::task::Poll::Pending => {
                    wait_until("the swapped-in waker to be woken", || b.wakes() >= 1);
                    assert_eq!(
                        poll_with(run.as_mut(), &b.waker()),
                        std::task::Poll::Ready(i)
                    );
                }
            }
        }
    });
}

#[test]
fn no_lost_wake_ups_with_many_counting_executors_at_once() {
    with_limiter(2, 1, |pool, limiter| {
        // Each thread is its own executor; a lost wake-up makes
        // block_on_counting panic after its deadline.
        let per_thread = sized(300u64, 30);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (pool, limiter) = (pool.clone(), limiter.clone());
                thread::spawn(move || {
                    let counts = Counts::new();
                    let sum = block_on_counting(&counts, async move {
                        let mut sum = 0;
                        for i in 0..per_thread {
                            sum += if i % 3 == 0 {
                                limiter.run(move || i + t).await
                            } else {
                                pool.run(move || i + t).await
                            };
                        }
                        sum
                    });
                    assert!(
                        counts.wakes() <= per_thread as usize,
                        "more wake-ups than jobs: {counts:?}"
                    );
                    sum
                })
            })
            .collect();
        for (t, h) in threads.into_iter().enumerate() {
            let expected: u64 = (0..per_thread).map(|i| i + t as u64).sum();
            assert_eq!(h.join().unwrap(), expected);
        }
    });
}

#[test]
fn many_tokio_tasks_through_a_limiter_and_a_bounded_queue_never_hang() {
    guard(|| {
        let rt = tokio_multi_thread();
        let pool = bounded_pool(2, 2);
        let limiter = pool.limiter(3);
        let (n_tasks, per_task) = (sized(32u64, 8), sized(50u64, 10));
        // Every other job goes through the limiter.
        let total = sum_of_tokio_tasks(&rt, n_tasks, per_task, {
            let (pool, limiter) = (pool.clone(), limiter.clone());
            move |t, i| {
                if (i + t) % 2 == 0 {
                    limiter.run(move || i)
                } else {
                    pool.run(move || i)
                }
            }
        });
        assert_eq!(total, n_tasks * (0..per_task).sum::<u64>());
        let s = pool.stats();
        assert_eq!(
            (s.completed, s.queued, s.running),
            (n_tasks * per_task, 0, 0),
            "{s:?}"
        );
    });
}
