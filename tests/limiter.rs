//! Limiters: a cap on how many of *their* jobs run at once, sharing the
//! pool's threads; FIFO waiters; tokens held until the closure returns;
//! `set_limit`. DESIGN semantic 3.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;

#[test]
fn limiter_job_starts_even_if_its_run_is_never_polled() {
    with_limiter(4, 2, |_pool, limiter| {
        let started = Gate::new();
        let run = {
            let started = started.clone();
            limiter.run(move || started.open())
        };
        assert!(
            started.wait_timeout(DEADLINE),
            "a limiter job with a free token did not start until polled"
        );
        block_on(run);
    });
}

#[test]
fn peak_running_limiter_jobs_equals_the_limit() {
    with_limiter(16, 3, |pool, limiter| {
        let gate = Gate::new();
        let conc = Concurrency::new();
        let runs: Vec<_> = (0..12)
            .map(|i| limiter.run(conc.tracked(&gate, move || i)))
            .collect();
        wait_until("3 limiter jobs running", || conc.now() == 3);
        wait_until("limiter stats (limit 3, running 3, waiting 9)", || {
            let s = limiter.stats();
            (s.limit, s.running, s.waiting) == (3, 3, 9)
        });
        assert_stays(SETTLE, "no more than 3 limiter jobs run", || {
            conc.now() == 3
        });
        let stats = pool.stats();
        assert_eq!(stats.running, 3, "{stats:?}");
        assert_eq!(
            stats.queued, 0,
            "limiter waiters must not sit in the pool queue: {stats:?}"
        );

        let out = release(&gate, runs);
        assert_eq!(out, (0..12).collect::<Vec<_>>());
        assert_eq!(conc.peak(), 3, "peak concurrency of the limiter's jobs");
        let s = limiter.stats();
        assert_eq!((s.limit, s.running, s.waiting), (3, 0, 0), "{s:?}");
    });
}

#[test]
fn limiter_waiters_hold_no_thread_plain_jobs_still_run() {
    with_limiter(2, 1, |pool, limiter| {
        let gate = Gate::new();
        let runs: Vec<_> = (0..5).map(|_| limiter.run(gate.waiter())).collect();
        wait_until("1 limiter job running, 4 waiting", || {
            let s = limiter.stats();
            (s.running, s.waiting) == (1, 4)
        });
        // The pool's second thread is free: a plain job gets it at once,
        // while the limiter's job still blocks.
        assert_eq!(block_on(pool.run(|| 99)), 99);
        let stats = pool.stats();
        assert_eq!(stats.queued, 0, "{stats:?}");
        assert!(!gate.is_open());
        release(&gate, runs);
    });
}

#[test]
fn two_limiters_on_one_pool_are_independent() {
    with_pool(4, |pool| {
        let a = pool.limiter(1);
        let b = pool.limiter(1);
        let gate = Gate::new();
        let held = a.run(gate.waiter());
        wait_until("limiter A's job running", || a.stats().running == 1);
        assert_eq!(block_on(b.run(|| 5)), 5, "limiter B blocked by limiter A");
        gate.open();
        block_on(held);
    });
}

#[test]
fn limiter_waiters_run_in_submission_order() {
    with_limiter(4, 1, |_pool, limiter| {
        let gate = Gate::new();
        let order = Order::new();
        let first = limiter.run(gate.waiter());
        wait_until("the first limiter job running", || {
            limiter.stats().running == 1
        });
        let runs: Vec<_> = (0..15).map(|i| limiter.run(order.job(i))).collect();
        wait_until("15 limiter waiters", || limiter.stats().waiting == 15);
        gate.open();
        block_on(first);
        block_on(futures::future::join_all(runs));
        order.assert_fifo(15);
    });
}

#[test]
fn an_abandoned_running_job_keeps_its_token_until_it_returns() {
    with_limiter(4, 1, |_pool, limiter| {
        let started = Gate::new();
        let gate = Gate::new();
        let run = limiter.run(started_then_held(&started, &gate, || ()));
        started.wait();
        drop(run); // abandoned after it started: it keeps running
        let second_started = Arc::new(AtomicBool::new(false));
        let second = {
            let flag = second_started.clone();
            limiter.run(move || flag.store(true, Ordering::SeqCst))
        };
        assert_stays(SETTLE, "the abandoned job still holds the token", || {
            let s = limiter.stats();
            s.running == 1 && s.waiting == 1 && !second_started.load(Ordering::SeqCst)
        });
        gate.open();
        block_on(second);
        assert!(second_started.load(Ordering::SeqCst));
        wait_until("all tokens returned", || limiter.stats().running == 0);
    });
}

#[test]
fn a_dropped_waiter_never_runs_and_the_next_token_passes_over_it() {
    with_limiter(4, 1, |pool, limiter| {
        let gate = Gate::new();
        let first = limiter.run(gate.waiter());
        wait_until("the first limiter job running", || {
            limiter.stats().running == 1
        });
        let ran = Arc::new(AtomicBool::new(false));
        let waiter = {
            let ran = ran.clone();
            limiter.run(move || ran.store(true, Ordering::SeqCst))
        };
        // Queued behind the dropped one, so that one's entry stays in the
        // queue as a tombstone the next token must pass over.
        let behind = limiter.run(|| 7);
        wait_until("two waiters", || limiter.stats().waiting == 2);
        drop(waiter);
        assert_eq!(
            limiter.stats().waiting,
            1,
            "the dropped waiter is still counted"
        );
        assert_eq!(pool.stats().cancelled, 1, "{:?}", pool.stats());
        gate.open();
        block_on(first);
        assert_eq!(block_on(behind), 7, "the waiter behind it got the token");
        // Another job through the same limiter runs after where the dropped
        // one would have.
        block_on(limiter.run(|| ()));
        assert!(!ran.load(Ordering::SeqCst), "a dropped waiter ran");
        assert_eq!(limiter.stats().running, 0);
    });
}

#[test]
fn set_limit_up_starts_waiters_at_once() {
    with_limiter(8, 1, |_pool, limiter| {
        let gate = Gate::new();
        let conc = Concurrency::new();
        let runs: Vec<_> = (0..5).map(|_| limiter.run(conc.hold(&gate))).collect();
        wait_until("1 running, 4 waiting", || {
            let s = limiter.stats();
            (s.running, s.waiting) == (1, 4)
        });
        limiter.set_limit(3).unwrap();
        // Nothing finishes while the gate is shut: only the new limit can
        // start the waiters.
        wait_until("3 limiter jobs running after set_limit(3)", || {
            conc.now() == 3
        });
        let s = limiter.stats();
        assert_eq!((s.limit, s.running, s.waiting), (3, 3, 2), "{s:?}");
        release(&gate, runs);
        assert_eq!(conc.peak(), 3);
    });
}

#[test]
fn set_limit_down_takes_effect_as_jobs_finish() {
    with_limiter(8, 3, |_pool, limiter| {
        let gates: Vec<_> = (0..3).map(|_| Gate::new()).collect();
        let conc = Concurrency::new();
        let running: Vec<_> = gates.iter().map(|g| limiter.run(conc.hold(g))).collect();
        wait_until("3 running", || conc.now() == 3);
        let later = Gate::new();
        let waiters: Vec<_> = (0..3).map(|_| limiter.run(conc.hold(&later))).collect();
        wait_until("3 waiting", || limiter.stats().waiting == 3);

        limiter.set_limit(1).unwrap();
        // Running jobs are not interrupted.
        let s = limiter.stats();
        assert_eq!((s.limit, s.running, s.waiting), (1, 3, 3), "{s:?}");

        gates[0].open();
        wait_until("2 tokens held", || limiter.stats().running == 2);
        assert_stays(SETTLE, "no waiter starts while 2 > limit 1", || {
            conc.started() == 3 && limiter.stats().waiting == 3
        });
        gates[1].open();
        wait_until("1 token held", || {
            limiter.stats().running == 1 && conc.now() == 1
        });
        assert_stays(SETTLE, "no waiter starts while 1 == limit 1", || {
            conc.started() == 3 && limiter.stats().waiting == 3
        });
        gates[2].open();
        wait_until("one waiter starts", || conc.started() == 4);
        assert_stays(SETTLE, "only one waiter runs under limit 1", || {
            conc.now() == 1
        });
        release(&later, running);
        block_on(futures::future::join_all(waiters));
        let s = limiter.stats();
        assert_eq!((s.limit, s.running, s.waiting), (1, 0, 0), "{s:?}");
    });
}

#[test]
fn limiter_clones_share_one_limit() {
    with_limiter(8, 2, |_pool, limiter| {
        let clone = limiter.clone();
        let gate = Gate::new();
        let conc = Concurrency::new();
        let runs: Vec<_> = (0..6)
            .map(|i| {
                let l = if i % 2 == 0 { &limiter } else { &clone };
                l.run(conc.hold(&gate))
            })
            .collect();
        wait_until("2 running", || conc.now() == 2);
        assert_stays(SETTLE, "clones share the limit of 2", || conc.now() == 2);
        assert_eq!(clone.stats().waiting, 4);
        release(&gate, runs);
        assert_eq!(conc.peak(), 2);
    });
}

#[test]
fn limiter_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(4);
        let limiter = pool.limiter(2);
        let runs: Vec<_> = (0..20).map(|i| limiter.run(move || i + 1)).collect();
        let out = futures::future::join_all(runs).await;
        assert_eq!(out, (1..=20).collect::<Vec<_>>());
        let s = limiter.stats();
        assert_eq!((s.running, s.waiting), (0, 0), "{s:?}");
    });
}

#[test]
fn a_full_limiter_says_what_is_full() {
    with_pool(4, |pool| {
        let limiter = pool.limiter(1);
        let gate = Gate::new();
        let g = gate.clone();
        let held = limiter.run(move || g.wait());
        wait_until("the limiter's one token is taken", || {
            limiter.stats().running == 1
        });
        let err = limiter.try_run(|| ()).unwrap_err();
        assert!(err.is_full());
        let text = err.to_string();
        assert!(text.contains("token of the limiter"), "{text}");
        gate.open();
        block_on(held);
    });
}
