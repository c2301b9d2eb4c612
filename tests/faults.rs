//! Faults: the OS refusing threads gives `Spawn(f, err)` / a panic with the
//! OS error, never a hang; hooks that panic do not kill the pool.
//! DESIGN semantic 8.

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::FutureExt;
use threadbridge::{Pool, TryRunError};

/// A stack no OS will map (1 PiB): every thread start fails.
const ABSURD_STACK: usize = 1 << 50;

/// Checks that `pool` has no thread, and no job running or queued; returns
/// its stats.
fn assert_nothing_started(pool: &Pool) -> threadbridge::Stats {
    let stats = pool.stats();
    assert_eq!(
        (stats.threads, stats.running, stats.queued),
        (0, 0, 0),
        "{stats:?}"
    );
    stats
}

fn unspawnable_pool() -> Pool {
    Pool::builder()
        .max_threads(2)
        .stack_size(ABSURD_STACK)
        .build()
        .expect("building is lazy: no thread starts yet")
}

/// The error std itself gets for such a stack, to compare messages.
fn os_error() -> std::io::Error {
    std::thread::Builder::new()
        .stack_size(ABSURD_STACK)
        .spawn(|| ())
        .expect_err("this machine started a thread with a 1 PiB stack")
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri starts a thread whatever its stack_size, so no thread start can fail"
)]
fn try_run_gives_spawn_error_with_the_closure_when_no_thread_can_start() {
    guard(|| {
        let pool = unspawnable_pool();
        match pool.try_run(|| 17) {
            Err(TryRunError::Spawn(f, err)) => {
                assert_eq!(f(), 17, "the closure must come back intact");
                assert_eq!(err.kind(), os_error().kind(), "{err}");
                let text = err.to_string();
                assert!(
                    text.contains(&format!("stack_size {ABSURD_STACK}")),
                    "{text}"
                );
            }
            Err(other) => panic!("expected Spawn, got {other:?}"),
            Ok(_) => panic!("try_run accepted a job with no thread able to start"),
        }
        assert_nothing_started(&pool);
        // Debug prints the variant without needing F: Debug.
        let err = pool.try_run(|| 1).unwrap_err();
        assert!(format!("{err:?}").starts_with("Spawn("), "{err:?}");
        assert!(!err.is_full() && !err.is_closed());
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri starts a thread whatever its stack_size, so no thread start can fail"
)]
fn run_panics_with_the_os_error_when_no_thread_can_start() {
    guard(|| {
        let pool = unspawnable_pool();
        // run() itself panics: it must not hand back a Run that can never
        // complete (an orphaned job).
        let msg = expect_panic("run() with no thread able to start", || pool.run(|| 1));
        let os = os_error().to_string();
        assert!(
            msg.contains(&os),
            "panic message {msg:?} does not carry the OS error {os:?}"
        );
        assert_nothing_started(&pool);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri starts a thread whatever its stack_size, so no thread start can fail"
)]
fn an_unspawnable_pool_never_hangs_or_orphans_jobs() {
    guard(|| {
        let pool = unspawnable_pool();
        for _ in 0..20 {
            let _ = pool.try_run(|| ());
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| block_on(pool.run(|| ()))));
        }
        let stats = assert_nothing_started(&pool);
        assert_eq!(stats.completed, 0, "{stats:?}");
        // Shutdown of a pool that never had a thread is immediate.
        assert!(pool.shutdown_timeout(DEADLINE));
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri starts a thread whatever its stack_size, so no thread start can fail"
)]
fn limiter_on_an_unspawnable_pool_gives_spawn_error() {
    guard(|| {
        let pool = unspawnable_pool();
        let limiter = pool.limiter(2);
        match limiter.try_run(|| 5) {
            Err(TryRunError::Spawn(f, _)) => assert_eq!(f(), 5),
            Err(other) => panic!("expected Spawn, got {other:?}"),
            Ok(_) => panic!("accepted a job with no thread able to start"),
        }
        let msg = expect_panic("limiter.run() with no thread able to start", || {
            limiter.run(|| 6)
        });
        assert!(msg.contains(&os_error().to_string()), "{msg:?}");
        // No token was leaked.
        let s = limiter.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    });
}

/// A hook that counts its calls in `calls`, then panics with `msg`.
fn panicking_hook(calls: &Arc<AtomicUsize>, msg: &'static str) -> impl Fn() + Send + Sync {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        panic!("{msg}");
    }
}

fn quiet_hook_pool(builder: threadbridge::Builder) -> Pool {
    builder.max_threads(2).build().unwrap()
}

#[test]
fn a_panicking_on_thread_start_hook_does_not_kill_the_pool() {
    guard(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let hook = panicking_hook(&calls, "on_thread_start hook panics");
        let pool = quiet_hook_pool(Pool::builder().on_thread_start(hook));
        let runs: Vec<_> = (0..10).map(|i| pool.run(move || i * 3)).collect();
        let out = block_on(futures::future::join_all(runs));
        assert_eq!(out, (0..10).map(|i| i * 3).collect::<Vec<_>>());
        assert!(calls.load(Ordering::SeqCst) >= 1, "the hook never ran");
        assert!(pool.stats().threads <= 2);
    });
}

#[test]
fn a_panicking_on_thread_stop_hook_does_not_kill_the_pool() {
    guard(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let pool = Pool::builder()
            .max_threads(1)
            .keep_alive(Duration::from_millis(20))
            .on_thread_stop(panicking_hook(&calls, "on_thread_stop hook panics"))
            .build()
            .unwrap();
        for round in 1..=3 {
            assert_eq!(block_on(pool.run(|| 1)), 1);
            // The idle worker expires and its stop hook panics; the pool must
            // account for the exit and start a fresh thread next time.
            wait_stats(&pool, "the idle worker to exit", |s| s.threads == 0);
            wait_until("the stop hook to run", || {
                calls.load(Ordering::SeqCst) >= round
            });
        }
        assert_eq!(block_on(pool.run(|| 2)), 2);
    });
}

#[test]
fn a_panicking_on_panic_hook_does_not_kill_the_pool() {
    guard(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let hook = panicking_hook(&calls, "on_panic hook panics too");
        let pool = Pool::builder()
            .max_threads(1)
            .on_panic(move |_| hook())
            .build()
            .unwrap();
        for _ in 0..3 {
            pool.run(|| panic!("unawaited")).detach();
        }
        wait_until("the on_panic hook to run 3 times", || {
            calls.load(Ordering::SeqCst) == 3
        });
        assert_eq!(block_on(pool.run(|| 7)), 7);
        let r = block_on(AssertUnwindSafe(pool.run(|| panic!("awaited"))).catch_unwind());
        assert_eq!(panic_message(&*r.unwrap_err()), "awaited");
        assert_eq!(block_on(pool.run(|| 8)), 8);
        let stats = pool.stats();
        assert_eq!(stats.panicked, 4, "{stats:?}");
        assert_eq!(stats.threads, 1, "{stats:?}");
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri starts a thread whatever its stack_size, so no thread start can fail"
)]
fn a_refused_stack_size_at_build_names_the_setting() {
    let err = Pool::builder()
        .min_threads(1)
        .stack_size(ABSURD_STACK)
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("stack_size {ABSURD_STACK} was refused")),
        "{text}"
    );
}
