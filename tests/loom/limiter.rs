//! Limiter tokens: never lost or doubled, passed over dropped waiters,
//! granted by a raised limit.

use std::sync::Arc;

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use threadbridge::{Limiter, Pool, Run};

use crate::{alone, finish, pool, Gate};

/// 5. Limiter tokens: two jobs on a limiter of 1 never overlap, a waiter
/// whose Run is dropped never runs and frees its place, and `set_limit`
/// racing a release neither loses nor duplicates a token.
#[test]
fn limiter_tokens_are_never_lost_or_doubled() {
    loom::model(|| {
        let pool = pool(2);
        let limiter = pool.limiter(1);
        let inside = Arc::new(AtomicUsize::new(0));
        let a = limiter.run(alone(&inside, "limit of 1 held"));
        let b = limiter.run(alone(&inside, "limit of 1 held"));
        drop(b); // waiting (never runs), or granted and running (keeps its token)
        block_on(a);
        let c = limiter.run(alone(&inside, "limit of 1 held"));
        let l = limiter.clone();
        let setter = thread::spawn(move || l.set_limit(1).unwrap());
        block_on(c);
        setter.join().unwrap();
        finish(&pool);
        let stats = limiter.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "every token back");
    });
}

/// A pool of `threads` and a limiter of 1 whose only token a gated job
/// takes at submit: whatever the limiter runs next waits for that token.
fn held_limiter(threads: usize) -> (Pool, Limiter, Gate, Run<()>) {
    let pool = pool(threads);
    let limiter = pool.limiter(1);
    let gate = Gate::default();
    let holder = limiter.run(gate.waiter());
    (pool, limiter, gate, holder)
}

/// 5. A waiter dropped while another waits behind it stays in the queue as a
/// tombstone: the released token must pass over it to the live waiter.
#[test]
fn dropped_waiter_ahead_of_a_live_one_is_passed_over() {
    loom::model(|| {
        let (pool, limiter, gate, holder) = held_limiter(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let dropped = limiter.run(move || r.store(1, SeqCst));
        let live = limiter.run(|| 3);
        drop(dropped);
        gate.open();
        assert_eq!(block_on(live), 3, "the live waiter got the token");
        block_on(holder);
        finish(&pool);
        assert_eq!(ran.load(SeqCst), 0, "a dropped waiter ran");
        let stats = limiter.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "every token back");
    });
}

/// 5. set_limit raised while a waiter waits: the waiter is granted at once.
#[test]
fn raised_limit_grants_waiter() {
    loom::model(|| {
        let (pool, limiter, gate, holder) = held_limiter(2);
        let waiter = limiter.run(|| 2);
        let l = limiter.clone();
        let setter = thread::spawn(move || l.set_limit(2).unwrap());
        assert_eq!(block_on(waiter), 2, "granted by the raise, not the release");
        gate.open();
        block_on(holder);
        setter.join().unwrap();
        finish(&pool);
    });
}

/// A paused limiter (`set_limit(0)`) grants nothing: the token its running
/// job frees goes to nobody until the limit is raised, racing that job's
/// end; then the waiter runs (no token lost).
#[test]
fn paused_limiter_grants_only_after_resume() {
    loom::model(|| {
        let (pool, limiter, gate, holder) = held_limiter(1);
        limiter.set_limit(0).unwrap();
        let resumed = Arc::new(AtomicUsize::new(0));
        let seen = resumed.clone();
        let waiter = limiter.run(move || {
            assert_eq!(seen.load(SeqCst), 1, "a paused limiter granted a token");
        });
        let (l, r) = (limiter.clone(), resumed.clone());
        let resumer = thread::spawn(move || {
            r.store(1, SeqCst);
            l.set_limit(1).unwrap();
        });
        gate.open();
        block_on(holder);
        block_on(waiter);
        resumer.join().unwrap();
        finish(&pool);
        let stats = limiter.stats();
        assert_eq!((stats.limit, stats.running, stats.waiting), (1, 0, 0));
    });
}
