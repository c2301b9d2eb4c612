//! A flood of slow requests at twice the pool's capacity, each with a
//! client budget, and a health check probed all along:
//!
//! 1. what a timeout around the call does, and what `run_by` does.
//!    Goodput is requests answered within their budget per second; "late
//!    starts" are jobs that started after their client gave up, each
//!    holding a thread for work nobody awaits;
//! 2. the health check's latency on the flooded pool, and behind
//!    `pool.reserve(1)`.
//!
//! `cargo run --release --example overload` (about 20 s: five floods of
//! 3 s, each plus its drain).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Threads, and how long a job blocks one: capacity is THREADS / JOB.
const THREADS: usize = 8;
const JOB: Duration = Duration::from_millis(5);
/// Arrivals per second: twice the capacity (1 600 jobs/s).
const RATE: f64 = 2.0 * THREADS as f64 / 0.005;
const FLOOD: Duration = Duration::from_secs(3);
const BUDGET: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Tally {
    good: AtomicU64,
    late_answer: AtomicU64,
    gave_up: AtomicU64,
    late_start: AtomicU64,
    ran: AtomicU64,
}

/// The blocking call: counts a start after the client's deadline.
fn work(deadline: Instant, tally: &Tally) {
    if Instant::now() > deadline {
        tally.late_start.fetch_add(1, Relaxed);
    }
    tally.ran.fetch_add(1, Relaxed);
    thread::sleep(JOB);
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    /// `tokio::time::timeout(budget, spawn_blocking(f))`, the common misuse.
    TokioTimeout,
    /// `tokio::time::timeout(budget, threadbridge::run(f))`: a dropped Run
    /// that has not started never starts.
    TimeoutRun,
    /// `pool.run_by(deadline, f)`: no executor timer needed.
    RunBy,
    /// `pool.run_by(deadline - JOB, f)`: the latest start from which the
    /// job can still answer in time.
    RunByStartBy,
}

/// How the health check reaches the pool.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Health {
    /// `pool.run(check)`: behind the flood.
    Pool,
    /// `pool.reserve(1).run(check)`: a thread set aside.
    Reserved,
}

/// How often the health check is probed, and what it does.
const PROBE_EVERY: Duration = Duration::from_millis(10);
const CHECK: Duration = Duration::from_micros(200);

fn main() {
    println!(
        "flood: {:.0} requests/s for {:?} at 2x capacity ({THREADS} threads x {JOB:?} jobs = {:.0}/s), client budget {BUDGET:?}",
        RATE,
        FLOOD,
        THREADS as f64 / JOB.as_secs_f64()
    );
    let mut rows = Vec::new();
    for variant in [
        Variant::TokioTimeout,
        Variant::TimeoutRun,
        Variant::RunBy,
        Variant::RunByStartBy,
    ] {
        eprint!("{variant:?}: flooding...");
        let (tally, drained, _) = flood(variant, Health::Pool);
        eprintln!(" drained in {drained:?}");
        rows.push((variant, tally, drained));
    }
    let mut probes = Vec::new();
    for health in [Health::Pool, Health::Reserved] {
        eprint!("health via {health:?} during a run_by flood...");
        let (_, _, latencies) = flood(Variant::RunBy, health);
        eprintln!(" {} probes", latencies.len());
        probes.push((health, latencies));
    }
    println!();
    println!("| variant | goodput (answered in budget /s) | answered late | gave up | jobs run | started after the client gave up | thread time wasted | busy after the flood |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (variant, t, drained) in rows {
        let name = match variant {
            Variant::TokioTimeout => "tokio `timeout(spawn_blocking(f))`",
            Variant::TimeoutRun => "tokio `timeout(pool.run(f))`",
            Variant::RunBy => "`pool.run_by(deadline, f)`",
            Variant::RunByStartBy => "`pool.run_by(deadline - 5 ms, f)`",
        };
        let late = t.late_start.load(Relaxed);
        println!(
            "| {name} | {:.0} | {} | {} | {} | {late} | {:.1} s | {drained:.2?} |",
            t.good.load(Relaxed) as f64 / FLOOD.as_secs_f64(),
            t.late_answer.load(Relaxed),
            t.gave_up.load(Relaxed),
            t.ran.load(Relaxed),
            late as f64 * JOB.as_secs_f64(),
        );
    }
    println!();
    println!("| health check ({CHECK:?} of work, every {PROBE_EVERY:?}) during the run_by flood | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    for (health, mut l) in probes {
        l.sort();
        let q = |q: f64| l[((l.len() - 1) as f64 * q) as usize];
        let name = match health {
            Health::Pool => "`pool.run(check)`",
            Health::Reserved => "`pool.reserve(1).run(check)`",
        };
        println!(
            "| {name} | {:.2?} | {:.2?} | {:.2?} |",
            q(0.5),
            q(0.99),
            l[l.len() - 1]
        );
    }
}

/// Runs one variant's flood with a health check probed all along;
/// returns its tally, how long the pool took to drain after the last
/// arrival, and the health check's latencies.
fn flood(variant: Variant, health: Health) -> (Arc<Tally>, Duration, Vec<Duration>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(THREADS)
        .enable_time()
        .build()
        .unwrap();
    let pool = threadbridge::Pool::builder()
        .max_threads(THREADS)
        .build()
        .unwrap();
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let n = (RATE * FLOOD.as_secs_f64()) as u64;
    let checker = match health {
        Health::Pool => None,
        Health::Reserved => Some(pool.reserve(1)),
    };
    let prober = {
        let pool = pool.clone();
        rt.spawn(async move {
            let mut latencies = Vec::new();
            while start.elapsed() < FLOOD {
                let t = Instant::now();
                let check = || thread::sleep(CHECK);
                match &checker {
                    Some(reserved) => reserved.run(check).await,
                    None => pool.run(check).await,
                }
                latencies.push(t.elapsed());
                tokio::time::sleep(PROBE_EVERY).await;
            }
            latencies
        })
    };
    rt.block_on(async {
        let mut tasks = Vec::with_capacity(n as usize);
        for i in 0..n {
            let arrival = start + Duration::from_secs_f64(i as f64 / RATE);
            tokio::time::sleep_until(arrival.into()).await;
            let (tally, pool) = (tally.clone(), pool.clone());
            tasks.push(tokio::spawn(async move {
                let deadline = arrival + BUDGET;
                let t = tally.clone();
                let answered = match variant {
                    Variant::TokioTimeout => {
                        let job = tokio::task::spawn_blocking(move || work(deadline, &t));
                        tokio::time::timeout_at(deadline.into(), job).await.is_ok()
                    }
                    Variant::TimeoutRun => {
                        let job = pool.run(move || work(deadline, &t));
                        tokio::time::timeout_at(deadline.into(), job).await.is_ok()
                    }
                    Variant::RunBy => pool
                        .run_by(deadline, move |_| work(deadline, &t))
                        .await
                        .is_ok(),
                    Variant::RunByStartBy => pool
                        .run_by(deadline - JOB, move |_| work(deadline, &t))
                        .await
                        .is_ok(),
                };
                if !answered {
                    tally.gave_up.fetch_add(1, Relaxed);
                } else if Instant::now() <= deadline {
                    tally.good.fetch_add(1, Relaxed);
                } else {
                    tally.late_answer.fetch_add(1, Relaxed);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let latencies = rt.block_on(prober).unwrap();
    let flood_end = start + FLOOD;
    // tokio's blocking pool keeps running jobs nobody awaits: wait for them.
    drop(rt);
    let mut drained = Instant::now();
    let _ = pool.shutdown_timeout(Duration::from_secs(120));
    drained = drained.max(Instant::now());
    (
        tally,
        drained.saturating_duration_since(flood_end),
        latencies,
    )
}
