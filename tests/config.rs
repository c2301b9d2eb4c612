//! Configuration: builder validation and its errors, defaults, the global
//! pool's `build_global`, and the shape of the public types.

mod common;

use std::error::Error as StdError;
use std::thread;

use common::*;
use threadbridge::{CancelToken, Error, Limiter, LimiterStats, Pool, Run, Stats, TryRunError};

fn build_err(builder: threadbridge::Builder) -> Error {
    match builder.build() {
        Ok(_) => panic!("the builder accepted an invalid setting"),
        Err(err) => err,
    }
}

#[test]
fn max_threads_zero_is_an_error_naming_the_setting_and_bound() {
    let err = build_err(Pool::builder().max_threads(0));
    let msg = err.to_string();
    assert!(msg.contains("max_threads"), "{msg:?}");
    assert!(msg.contains('0'), "{msg:?}");
    assert!(
        msg.contains('1'),
        "the bound (at least 1) is not named: {msg:?}"
    );
}

#[test]
fn idle_spin_above_its_bound_is_an_error_naming_the_setting_and_bound() {
    let too_long = threadbridge::MAX_IDLE_SPIN + std::time::Duration::from_micros(1);
    let msg = build_err(Pool::builder().idle_spin(too_long)).to_string();
    assert!(msg.contains("idle_spin"), "{msg:?}");
    assert!(msg.contains("10ms"), "the bound is not named: {msg:?}");
    assert!(msg.contains("10.001ms"), "the value is not named: {msg:?}");
    let at_bound = Pool::builder()
        .idle_spin(threadbridge::MAX_IDLE_SPIN)
        .build();
    assert!(at_bound.is_ok(), "the bound itself was refused");
}

#[test]
fn min_threads_above_max_threads_is_an_error() {
    let err = build_err(Pool::builder().max_threads(2).min_threads(5));
    let msg = err.to_string();
    assert!(msg.contains("min_threads"), "{msg:?}");
    assert!(msg.contains("max_threads"), "{msg:?}");
    assert!(
        msg.contains('5') && msg.contains('2'),
        "values not named: {msg:?}"
    );
}

#[test]
fn min_threads_equal_to_max_threads_is_fine() {
    let pool = Pool::builder()
        .max_threads(2)
        .min_threads(2)
        .build()
        .unwrap();
    guard(move || assert_eq!(block_on(pool.run(|| 1)), 1));
}

#[test]
fn set_max_threads_zero_is_an_error_and_changes_nothing() {
    with_pool(3, |pool| {
        let err = pool
            .set_max_threads(0)
            .expect_err("set_max_threads(0) accepted");
        let msg = err.to_string();
        assert!(msg.contains("max_threads") && msg.contains('0'), "{msg:?}");
        // The cap is still 3.
        let gate = Gate::new();
        let runs = held(&pool, 5, &gate);
        let s = wait_stats(&pool, "3 running", |s| s.running == 3);
        assert_eq!((s.threads, s.queued), (3, 2), "{s:?}");
        release(&gate, runs);
    });
}

#[test]
fn limiter_zero_panics_with_a_clear_message() {
    let pool = pool(2);
    let msg = expect_panic("pool.limiter(0)", || pool.limiter(0));
    assert!(msg.contains("limit"), "{msg:?}");
    assert!(msg.contains('0'), "{msg:?}");
}

#[test]
fn default_max_threads_is_40() {
    guard(|| {
        let pool = Pool::builder().build().unwrap();
        let gate = Gate::new();
        let runs = held(&pool, 45, &gate);
        let s = wait_stats(&pool, "40 running", |s| s.running == 40);
        assert_eq!((s.threads, s.queued), (40, 5), "{s:?}");
        assert_stays(SETTLE, "no 41st thread", || pool.stats().threads == 40);
        release(&gate, runs);
    });
}

#[test]
fn thread_name_names_every_worker() {
    guard(|| {
        let pool = Pool::builder()
            .max_threads(3)
            .thread_name(|i| format!("cfg-worker-{i}"))
            .build()
            .unwrap();
        let gate = Gate::new();
        let runs: Vec<_> = (0..3)
            .map(|_| pool.run(gate.then(|| thread::current().name().map(str::to_owned))))
            .collect();
        wait_stats(&pool, "3 threads running", |s| {
            s.threads == 3 && s.running == 3
        });
        let mut names: Vec<String> = release(&gate, runs)
            .into_iter()
            .map(|n| n.expect("an unnamed worker"))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 3, "workers share a name: {names:?}");
        for n in &names {
            assert!(n.starts_with("cfg-worker-"), "{n:?}");
        }
    });
}

#[test]
fn thread_hooks_run_on_the_worker_threads() {
    guard(|| {
        let (starts, stops) = (Counter::new(), Counter::new());
        let pool = {
            let count_start = starts.hook();
            Pool::builder()
                .max_threads(2)
                .thread_name(|i| format!("hooked-{i}"))
                .on_thread_start(move || {
                    let name = thread::current().name().map(str::to_owned);
                    assert!(name.unwrap_or_default().starts_with("hooked-"));
                    count_start();
                })
                .on_thread_stop(stops.hook())
                .build()
                .unwrap()
        };
        assert_eq!(block_on(pool.run(|| 1)), 1);
        wait_until("on_thread_start to run", || starts.get() == 1);
        assert!(pool.shutdown_timeout(DEADLINE));
        assert_eq!(stops.get(), 1);
    });
}

#[test]
fn stack_size_is_applied_to_workers() {
    guard(|| {
        // A job that needs ~4 MiB of stack runs with a 16 MiB stack. Miri
        // does not bound stacks by size (so this checks only that the
        // setting is passed through) and would take minutes to sum 4 MiB:
        // it gets a 4 KiB buffer.
        const BUF: usize = sized(4 << 20, 4 << 10);
        let pool = Pool::builder()
            .max_threads(1)
            .stack_size(16 << 20)
            .build()
            .unwrap();
        let v = block_on(pool.run(|| {
            let buf = [1u8; BUF];
            std::hint::black_box(&buf)
                .iter()
                .map(|&b| b as usize)
                .sum::<usize>()
        }));
        assert_eq!(v, BUF);
    });
}

#[test]
fn build_global_installs_once_then_fails() {
    guard(|| {
        // The only test in this binary that touches the global pool.
        Pool::builder()
            .max_threads(3)
            .build_global()
            .expect("the first build_global must succeed");
        let err = Pool::builder()
            .max_threads(5)
            .build_global()
            .expect_err("a second build_global must fail");
        assert!(!err.to_string().is_empty());
        assert_eq!(block_on(threadbridge::run(|| 2)), 2);
        // The installed pool is the global one: its cap is 3.
        let gate = Gate::new();
        let runs: Vec<_> = (0..5).map(|_| threadbridge::run(gate.waiter())).collect();
        let s = wait_stats(threadbridge::global(), "3 running", |s| s.running == 3);
        assert_eq!((s.threads, s.queued), (3, 2), "{s:?}");
        release(&gate, runs);
        let limiter = threadbridge::limiter(1);
        assert_eq!(block_on(limiter.run(|| 9)), 9);
        let msg = expect_panic("threadbridge::limiter(0)", || threadbridge::limiter(0));
        assert!(msg.contains("limit"), "{msg:?}");
        // The global pool is never dropped: shut it down so no worker
        // outlives `main` (Miri fails a binary whose threads do).
        assert!(threadbridge::global().shutdown_timeout(DEADLINE));
    });
}

// ----- the shape of the public types -----

fn assert_send_sync_static<T: Send + Sync + 'static>() {}

#[test]
fn error_is_a_send_sync_static_std_error() {
    fn assert_error<E: StdError + Send + Sync + 'static>() {}
    assert_error::<Error>();
    let err = build_err(Pool::builder().max_threads(0));
    let boxed: Box<dyn StdError + Send + Sync> = Box::new(err);
    assert!(!format!("{boxed:?}").is_empty());
    assert!(!boxed.to_string().is_empty());
}

struct NotDebug;

#[test]
fn try_run_error_needs_no_debug_on_the_closure() {
    fn assert_error<E: StdError + Send + Sync + 'static>() {}
    assert_error::<TryRunError<NotDebug>>();

    let full: TryRunError<NotDebug> = TryRunError::Full(NotDebug);
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert!(full.is_full() && !full.is_closed());
    let _: NotDebug = full.into_inner();

    let closed: TryRunError<NotDebug> = TryRunError::Closed(NotDebug);
    assert_eq!(format!("{closed:?}"), "Closed(..)");
    assert!(closed.is_closed() && !closed.is_full());
    assert!(!closed.to_string().is_empty());
    let _: NotDebug = closed.into_inner();

    let io = std::io::Error::other("no threads");
    let spawn: TryRunError<NotDebug> = TryRunError::Spawn(NotDebug, io);
    let dbg = format!("{spawn:?}");
    assert!(dbg.starts_with("Spawn("), "{dbg}");
    assert!(!spawn.is_full() && !spawn.is_closed());
    assert!(
        spawn.source().is_some(),
        "Spawn should expose the io::Error as its source"
    );
    let _: NotDebug = spawn.into_inner();
}

#[test]
fn public_handles_are_send_sync_and_clone() {
    fn assert_clone<T: Clone>() {}
    assert_send_sync_static::<Pool>();
    assert_send_sync_static::<Limiter>();
    assert_send_sync_static::<Stats>();
    assert_send_sync_static::<LimiterStats>();
    assert_clone::<Pool>();
    assert_clone::<Limiter>();
    fn assert_send_future<F: std::future::Future + Send + 'static>() {}
    assert_send_future::<Run<u32>>();
    assert_send_future::<Run<String>>();
    assert_send_future::<threadbridge::Shutdown>();
    fn assert_debug<T: std::fmt::Debug>() {}
    assert_debug::<Run<NotDebug>>();
    assert_debug::<threadbridge::Shutdown>();
    let _ = |t: &CancelToken| t.is_cancelled();
}
