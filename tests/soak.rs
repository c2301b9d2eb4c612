//! Soak: a million mixed jobs across several async tasks — awaited, dropped
//! at random moments, detached, panicking, limited, with the limit changing
//! under load. Afterwards: no job ran twice, every awaited job ran, and the
//! pool's totals account for every job exactly.
//!
//! A million jobs in release (`.ci/soak`), 20,000 in a debug `cargo test`.
#![cfg(not(miri))]

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use threadbridge::Pool;

const JOBS: usize = if cfg!(debug_assertions) {
    20_000
} else {
    1_000_000
};
const TASKS: usize = 8;
const MAX_LIMIT: usize = 6;

struct Ledger {
    ran: Vec<AtomicU8>,
    limited_inside: AtomicUsize,
    limited_peak: AtomicUsize,
}

impl Ledger {
    fn run(&self, id: usize) -> usize {
        assert_eq!(self.ran[id].fetch_add(1, SeqCst), 0, "job {id} ran twice");
        id
    }
}

/// xorshift: reproducible per task, no dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Default)]
struct Tally {
    awaited: Vec<usize>,
    panics_awaited: u64,
}

#[test]
fn a_million_mixed_jobs_lose_nothing_and_count_exactly() {
    // 5% of the jobs panic on purpose; silence those, and only those.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let planned = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("job "));
        if !planned {
            default_hook(info);
        }
    }));
    let pool = Pool::builder()
        .max_threads(8)
        .keep_alive(Duration::from_millis(5))
        .build()
        .unwrap();
    let limiter = pool.limiter(3);
    let ledger = Arc::new(Ledger {
        ran: (0..JOBS).map(|_| AtomicU8::new(0)).collect(),
        limited_inside: AtomicUsize::new(0),
        limited_peak: AtomicUsize::new(0),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let tallies: Vec<Tally> = runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (pool, limiter, ledger) = (pool.clone(), limiter.clone(), ledger.clone());
                tokio::spawn(async move {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                    let mut tally = Tally::default();
                    for id in (t..JOBS).step_by(TASKS) {
                        let l = ledger.clone();
                        match rng.below(100) {
                            0..=59 => {
                                assert_eq!(pool.run(move || l.run(id)).await, id);
                                tally.awaited.push(id);
                            }
                            60..=69 => {
                                // Dropped at once: may or may not have started.
                                drop(pool.run(move || l.run(id)));
                            }
                            70..=74 => {
                                let run = pool.run(move || {
                                    l.run(id);
                                    panic!("job {id}")
                                });
                                let err = AssertUnwindSafe(run).catch_unwind().await.unwrap_err();
                                assert_eq!(
                                    err.downcast_ref::<String>().unwrap(),
                                    &format!("job {id}")
                                );
                                tally.awaited.push(id);
                                tally.panics_awaited += 1;
                            }
                            75..=78 => pool.run(move || l.run(id)).detach(),
                            79 => {
                                let limit = 1 + rng.below(MAX_LIMIT as u64) as usize;
                                limiter.set_limit(limit).unwrap();
                                drop(pool.run(move || l.run(id)));
                            }
                            _ => {
                                let run = limiter.run(move || {
                                    let now = l.limited_inside.fetch_add(1, SeqCst) + 1;
                                    l.limited_peak.fetch_max(now, SeqCst);
                                    let id = l.run(id);
                                    l.limited_inside.fetch_sub(1, SeqCst);
                                    id
                                });
                                if rng.below(4) == 0 {
                                    drop(run); // a waiter or a running job, abandoned
                                } else {
                                    assert_eq!(run.await, id);
                                    tally.awaited.push(id);
                                }
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.unwrap());
        }
        tokio::time::timeout(Duration::from_secs(120), pool.shutdown())
            .await
            .expect("every worker exits");
        tallies
    });
    let _ = std::panic::take_hook();

    let ran = ledger.ran.iter().filter(|r| r.load(SeqCst) == 1).count() as u64;
    for tally in &tallies {
        for &id in &tally.awaited {
            assert_eq!(
                ledger.ran[id].load(SeqCst),
                1,
                "awaited job {id} did not run"
            );
        }
    }
    let stats = pool.stats();
    let panics: u64 = tallies.iter().map(|t| t.panics_awaited).sum();
    assert_eq!(
        stats.completed + stats.panicked + stats.cancelled,
        JOBS as u64,
        "{stats:?}"
    );
    assert_eq!(
        stats.completed + stats.panicked,
        ran,
        "every run counted once: {stats:?}"
    );
    assert_eq!(stats.panicked, panics, "only the panicking jobs panicked");
    assert_eq!(stats.rejected, 0);
    assert_eq!((stats.threads, stats.running, stats.queued), (0, 0, 0));
    let limited = limiter.stats();
    assert_eq!((limited.running, limited.waiting), (0, 0));
    assert!(ledger.limited_peak.load(SeqCst) <= MAX_LIMIT);
    eprintln!(
        "soak: {JOBS} jobs, {ran} ran ({} panicked), {} cancelled, limiter peak {}",
        stats.panicked,
        stats.cancelled,
        ledger.limited_peak.load(SeqCst)
    );
}
