//! A real SQLite file behind the handler of `examples/sqlite`: the same
//! code (`db.rs` and `handler.rs` are included from the example), under
//! tokio and smol. Every variant answers right, and the pooled one's
//! limiter keeps its queries within the connections while more are in
//! flight: the rest wait for a token holding no thread, and none waits
//! for a connection on a thread.
//!
//! Not under Miri: SQLite is C, reached through FFI, which Miri cannot
//! run. Not under ThreadSanitizer (`.ci/tsan` sets `threadbridge_tsan`):
//! SQLite reads its WAL index header without a lock on purpose (two
//! copies and a checksum catch a torn read), and TSan, which cannot see
//! the barriers in its uninstrumented C, reports that read as a race.
#![cfg(not(any(miri, threadbridge_tsan)))]

mod common;

#[path = "../examples/sqlite/db.rs"]
#[allow(dead_code)] // the example's own helpers
mod db;
#[path = "../examples/sqlite/handler.rs"]
#[allow(dead_code)]
mod handler;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures::future::join_all;

use common::*;
use db::{sku_name, Expected, Query, Shape, TempDb};
use handler::{Handler, Variant};

/// Small, so the test is quick in debug: 2,000 orders, 200 customers
/// with 10 orders each, 20 products with 100 each.
const SHAPE: Shape = Shape { rows: 2_000 };

/// A seeded database in a directory of its own, named for the test and
/// the executor (the tests of this binary run in parallel).
fn seeded(test: &str, ex: Executor) -> TempDb {
    let db = TempDb::new(&format!("test-{test}-{ex:?}")).expect("a temp directory");
    db::seed(db.path(), SHAPE).expect("seed the database");
    db
}

/// Lookups and scans, known keys and unknown ones.
fn queries() -> Vec<Query> {
    let (customers, skus) = (SHAPE.customers(), SHAPE.skus());
    vec![
        Query::Customer(1),
        Query::Customer(customers / 2),
        Query::Customer(customers),
        Query::Customer(customers + 1), // no such customer
        Query::Sku(sku_name(0)),
        Query::Sku(sku_name(skus - 1)),
        Query::Sku(sku_name(skus)), // no such product
        Query::Sku("not a sku".into()),
    ]
}

/// Each answer is the one the seed says, and no query failed.
fn check(
    what: &str,
    expected: &Expected,
    keys: &[Query],
    answers: Vec<rusqlite::Result<db::Answer>>,
) {
    assert_eq!(answers.len(), keys.len(), "{what}");
    for (query, answer) in keys.iter().zip(answers) {
        let answer = answer.unwrap_or_else(|err| panic!("{what} {query:?}: {err}"));
        assert_eq!(answer, expected.answer(query), "{what} {query:?}");
    }
}

#[test]
fn every_variant_answers_right() {
    on_executors(TWO, |ex| async move {
        let db = seeded("answers", ex);
        let expected = Expected::new(SHAPE);
        // The generator itself: every customer 10 orders, every product 100.
        assert_eq!(expected.answer(&Query::Customer(1)).orders, 10);
        assert_eq!(expected.answer(&Query::Sku(sku_name(0))).orders, 100);
        let pool = pool(4);
        for variant in Variant::ALL {
            let handler = Handler::new(variant, db.path(), &pool, 2, 2).expect("connect");
            // All at once, as concurrent requests would be.
            let keys = queries();
            let answers = join_all(keys.iter().map(|q| handler.query(q.clone()))).await;
            check(&format!("{variant:?}"), &expected, &keys, answers);
        }
    });
}

#[test]
fn the_limiter_keeps_queries_within_the_connections() {
    /// Connections, and the limiter's limit.
    const N: usize = 3;
    /// Queries in flight at once: more than N.
    const M: usize = 8;
    on_executors(TWO, |ex| async move {
        let db = seeded("limit", ex);
        let expected = Expected::new(SHAPE);
        // Threads enough for every query: only the limiter can hold them back.
        let pool = pool(M + 2);
        let handler = Handler::new(Variant::Pooled, db.path(), &pool, N, N).expect("connect");
        let limiter = handler.limiter().expect("a limiter").clone();
        let conns = Arc::clone(handler.connections().expect("a connection pool"));

        // The gate: the test holds every connection, so the queries that
        // get a token block in `get`, running, until it lets go.
        let held: Vec<_> = (0..N).map(|_| conns.get()).collect();

        // `running` sampled for as long as the queries are in flight.
        let done = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let sampler = {
            let (limiter, done, peak) = (limiter.clone(), done.clone(), peak.clone());
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    peak.fetch_max(limiter.stats().running, Ordering::SeqCst);
                    thread::sleep(Duration::from_micros(100));
                }
            })
        };

        let keys: Vec<Query> = (0..M)
            .map(|i| match i % 2 {
                0 => Query::Customer(i as u32 + 1),
                _ => Query::Sku(sku_name(i as u32)),
            })
            .collect();
        let queries = join_all(keys.iter().map(|q| handler.query(q.clone())));

        // Off the executor (a blocking wait, so on a thread of the global
        // pool, not `pool`): once N queries are blocked in `get` and the
        // other M - N wait for a token, look, then give the connections
        // back.
        let gate = {
            let (limiter, pool, conns) = (limiter.clone(), pool.clone(), conns.clone());
            threadbridge::run(move || {
                wait_until("N queries in `get`, the rest waiting for a token", || {
                    conns.waits() == N as u64 && limiter.stats().waiting == M - N
                });
                let (at_gate, threads_busy) = (limiter.stats(), pool.stats().running);
                drop(held);
                (at_gate, threads_busy)
            })
        };
        let (answers, (at_gate, threads_busy)) = futures::join!(queries, gate);
        check("held at the gate", &expected, &keys, answers);
        assert_eq!((at_gate.limit, at_gate.running), (N, N), "{at_gate:?}");
        // The queries waiting for a token held no thread: only the N in
        // `get` did.
        assert_eq!(threads_busy, N, "pool threads busy at the gate");
        assert_eq!(conns.idle(), N, "every connection back in the pool");

        // Again with every connection free: the limiter lets no more
        // queries run than there are connections, so none waits for one.
        // (During the release above one may have: the test gives its N
        // connections back one by one, and a query that gets a token in
        // between can find none idle.)
        let waits = conns.waits();
        check(
            "free",
            &expected,
            &keys,
            join_all(keys.iter().map(|q| handler.query(q.clone()))).await,
        );
        assert_eq!(conns.waits(), waits, "queries waited for a connection");

        done.store(true, Ordering::SeqCst);
        sampler.join().expect("the sampler");
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            peak <= N,
            "the limiter ran {peak} queries at once, limit {N}"
        );
        let after = limiter.stats();
        assert_eq!((after.running, after.waiting), (0, 0), "{after:?}");
        // Every query waited for its token or got it at once: one entry each.
        assert_eq!(after.token_wait.count(), 2 * M as u64, "{after:?}");
    });
}
