//! `iter` / `Pool::iter`: a blocking iterator as a `Stream`. The lines of
//! a file under tokio and smol; order and completeness under every
//! executor; batching (jobs per item); a drop that stops the job after at
//! most the current `next()`; a slow consumer that holds no thread; panics
//! resumed in the consumer; nesting inside a job of the same pool.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use common::*;
use futures::stream::{FusedStream, Stream};
use futures::{FutureExt, StreamExt};

fn lines_file(n: usize) -> (TempFile, Vec<String>) {
    let file = TempFile::new("lines");
    let lines: Vec<String> = (0..n)
        .map(|i| format!("line {i}: {}", "x".repeat(i % 50)))
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file.0).unwrap());
    for line in &lines {
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    (file, lines)
}

/// An endless iterator: counts its `next()` calls, blocks in call number
/// `block_at` until its probe's gate opens, and records being dropped.
struct Counting {
    probe: Probe,
    block_at: usize,
}

impl Iterator for Counting {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        let n = self.probe.call();
        if n == self.block_at {
            self.probe.gate.wait();
        }
        Some(n)
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.probe.mark_dropped();
    }
}

fn counting(block_at: usize) -> (Counting, Probe) {
    let probe = Probe::new();
    let it = Counting {
        probe: probe.clone(),
        block_at,
    };
    (it, probe)
}

// ---------------------------------------------------------------------------
// Lines of a file
// ---------------------------------------------------------------------------

#[test]
#[cfg_attr(
    miri,
    ignore = "touches the filesystem; items_arrive_in_order_under_every_executor covers it in memory"
)]
fn the_lines_of_a_file_stream_under_tokio() {
    on_executors(TOKIO, |ex| async move {
        let (file, expected) = lines_file(5_000);
        let path = file.0.clone();
        let handle = threadbridge::run(move || std::fs::File::open(path))
            .await
            .expect("open the file");
        let got = threadbridge::iter(BufReader::new(handle).lines())
            .collect::<Vec<std::io::Result<String>>>()
            .await
            .into_iter()
            .collect::<std::io::Result<Vec<String>>>();
        assert!(got.expect("read the lines") == expected, "{ex:?}");
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "touches the filesystem; items_arrive_in_order_under_every_executor covers it in memory"
)]
fn the_lines_of_a_file_stream_under_smol() {
    guard(|| {
        let (file, expected) = lines_file(5_000);
        let path = file.0.clone();
        let pool = pool(2);
        let got = smol::block_on(async move {
            let handle = pool.run(move || std::fs::File::open(path)).await?;
            let mut lines = pool.iter_with_capacity(7, BufReader::new(handle).lines());
            let mut got = Vec::new();
            while let Some(line) = lines.next().await {
                got.push(line?);
            }
            std::io::Result::Ok(got)
        });
        assert!(got.expect("read the lines") == expected);
    });
}

// ---------------------------------------------------------------------------
// Order, batching, termination
// ---------------------------------------------------------------------------

#[test]
fn items_arrive_in_order_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(2);
        let n = sized(3_000, 200);
        for cap in [1, 2, 5, 64, 10_000] {
            let got: Vec<usize> = pool.iter_with_capacity(cap, 0..n).collect().await;
            assert!(got == (0..n).collect::<Vec<_>>(), "capacity {cap}");
        }
        let strings: Vec<String> = pool
            .iter(vec!["a".to_owned(), "b".to_owned()])
            .collect()
            .await;
        assert_eq!(strings, ["a", "b"]);
        let none: Vec<u8> = pool.iter(std::iter::empty::<u8>()).collect().await;
        assert!(none.is_empty());
    });
}

/// Items travel in batches: each job fills the buffer, so the jobs are
/// far fewer than the items (one per item would be Starlette's cost).
#[test]
fn items_are_fetched_in_batches_not_one_job_each() {
    on_every_executor(|_| async {
        let pool = pool(2);
        let n: u64 = sized(10_000, 500);
        let cap = 64;
        let sum: u64 = pool
            .iter_with_capacity(cap, 0..n)
            .fold(0, |a, b| async move { a + b })
            .await;
        assert_eq!(sum, n * (n - 1) / 2);
        let jobs = pool.stats().completed;
        // The first job fetches up to `cap`, every later one at least
        // `cap / 2`, plus one that finds the end.
        let bound = 2 + n / (cap as u64 / 2);
        assert!(jobs <= bound, "{jobs} jobs for {n} items (bound {bound})");
    });
}

#[test]
fn a_finished_stream_is_terminated_and_stays_so() {
    guard(|| {
        block_on(async {
            let mut s = pool(1).iter([1, 2]);
            assert!(!s.is_terminated());
            assert_eq!(s.next().await, Some(1));
            assert_eq!(s.next().await, Some(2));
            assert_eq!(s.next().await, None);
            assert!(s.is_terminated());
            assert_eq!(Stream::size_hint(&s), (0, Some(0)));
            assert_eq!(s.next().await, None);
        });
    });
}

#[test]
fn items_are_fetched_ahead_up_to_the_capacity() {
    with_pool(1, |pool| {
        let (it, probe) = counting(usize::MAX);
        probe.gate.open();
        let s = pool.iter_with_capacity(10, it);
        // Submitted at once, like `run`: the job fills the buffer unpolled.
        wait_stats(&pool, "the first job done", |s| s.completed == 1);
        assert_eq!(probe.calls(), 10);
        assert_eq!(Stream::size_hint(&s), (10, None));
        assert_eq!(s.capacity(), 10);
        assert!(format!("{s:?}").contains("buffered: 10"));
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the global pool's threads outlive main, which Miri reports as a leak"
)]
fn iter_runs_on_the_global_pool() {
    guard(|| {
        let s = threadbridge::iter(vec![3, 1, 2]);
        assert_eq!(s.capacity(), threadbridge::DEFAULT_ITER_CAPACITY);
        assert_eq!(block_on(s.collect::<Vec<_>>()), [3, 1, 2]);
    });
}

// ---------------------------------------------------------------------------
// Dropping and threads
// ---------------------------------------------------------------------------

/// Dropped while `next()` blocks: that call finishes, no other starts, the
/// iterator is dropped and the thread is free.
#[test]
fn dropping_mid_stream_stops_after_the_current_next() {
    with_pool(2, |pool| {
        let (it, probe) = counting(3);
        let mut s = pool.iter_with_capacity(1000, it);
        assert_eq!(block_on(s.next()), Some(1));
        assert_eq!(block_on(s.next()), Some(2));
        wait_until("next() number 3 blocked", || probe.calls() == 3);
        drop(s);
        probe.assert_stops_after_call(
            &pool,
            3,
            "next() was called again after the stream was dropped",
        );
    });
}

#[test]
fn dropping_before_the_job_starts_means_next_is_never_called() {
    with_pool(1, |pool| {
        let holder = HeldThread::new(&pool);
        let (it, probe) = counting(usize::MAX);
        let s = pool.iter(it);
        assert_eq!(pool.stats().queued, 1);
        drop(s);
        assert!(probe.dropped());
        assert_eq!(pool.stats().cancelled, 1);
        block_on(holder.release());
        assert_eq!(probe.calls(), 0);
    });
}

/// A consumer that takes its time holds no thread: the job stops once the
/// buffer is full, and the pool's only thread serves other jobs.
#[test]
fn a_slow_consumer_holds_no_thread() {
    on_every_executor(|_| async {
        let pool = pool(1);
        let (it, probe) = counting(usize::MAX);
        probe.gate.open();
        let mut s = pool.iter_with_capacity(8, it);
        assert_eq!(s.next().await, Some(1));
        assert_eq!(pool.run(|| "served").await, "served");
        assert_eq!(pool.stats().running, 0);
        assert!(probe.calls() <= 9);
        // Draining past half restarts the fetching.
        for want in 2..=100 {
            assert_eq!(s.next().await, Some(want));
        }
    });
}

#[test]
fn an_iter_driven_inside_a_job_of_its_own_pool_does_not_deadlock() {
    with_pool(1, |pool| {
        let inner = pool.clone();
        let n = sized(1_000, 100);
        let got = block_on(pool.run(move || {
            futures::executor::block_on(inner.iter_with_capacity(4, 0..n).collect::<Vec<_>>())
        }));
        assert!(got == (0..n).collect::<Vec<_>>());
    });
}

// ---------------------------------------------------------------------------
// Panics and refusals
// ---------------------------------------------------------------------------

#[test]
fn a_panic_in_next_resumes_in_the_consumer_after_the_items_before_it() {
    on_every_executor(|_| async {
        let pool = pool(1);
        let it = (1..).map(|i| {
            if i == 4 {
                panic!("iterator exploded at {i}")
            } else {
                i
            }
        });
        let mut s = pool.iter_with_capacity(16, it);
        for want in 1..=3 {
            assert_eq!(s.next().await, Some(want));
        }
        let payload = AssertUnwindSafe(s.next())
            .catch_unwind()
            .await
            .expect_err("the panic did not reach the consumer");
        assert_eq!(panic_message(&*payload), "iterator exploded at 4");
        assert!(s.is_terminated());
        assert_eq!(s.next().await, None);
        assert_eq!(pool.stats().panicked, 1);
        assert_eq!(pool.run(|| 1).await, 1, "the worker died");
    });
}

#[test]
fn capacity_zero_is_a_clear_panic() {
    let pool = pool(1);
    let msg = expect_panic("capacity 0", || pool.iter_with_capacity(0, 0..1));
    assert_eq!(
        msg,
        "threadbridge: an Iter's capacity must be at least 1, got 0"
    );
}

#[test]
fn a_shut_down_pool_refuses_like_run() {
    with_shut_down_pool(1, |pool| {
        let msg = expect_panic("iter on a shut-down pool", || pool.iter(0..1));
        assert!(msg.contains("shut down"), "{msg}");
    });
}

#[test]
fn a_stream_polled_once_and_dropped_leaves_nothing_running() {
    with_pool(1, |pool| {
        let (it, probe) = counting(usize::MAX);
        probe.gate.open();
        let mut s = pool.iter_with_capacity(4, it);
        let _ = poll_noop(Pin::new(&mut s.next()));
        drop(s);
        wait_stats(&pool, "nothing running", |s| {
            s.running == 0 && s.queued == 0
        });
        wait_until("the iterator dropped", || probe.dropped());
    });
}
