//! threadbridge head-to-head with the usual ways to run blocking work from
//! async code, in one criterion run.
//!
//! Contenders (see `common/mod.rs`): threadbridge `Pool::run`, tokio
//! `spawn_blocking`, smol's `blocking::unblock`, `futures::executor::ThreadPool`
//! with `futures::channel::oneshot`, a rayon `ThreadPool` with `oneshot`, and
//! the `threadpool` crate with `oneshot`. Each is capped at [`THREADS`] threads
//! (40, the Starlette/anyio default) and each submit returns the same boxed
//! future.
//!
//! Groups:
//! - `latency`: one trivial job submitted and awaited at a time, driven by
//!   `futures::executor::block_on` and by a tokio current-thread runtime.
//! - `burst/100`, `burst/10000`: submit N trivial jobs at once, then
//!   `join_all`; throughput is per job.
//! - `limiter`: threadbridge `Limiter::run` against plain `Pool::run` and a
//!   tokio `Semaphore` (owned permit held by the `spawn_blocking` closure),
//!   one at a time and in a burst of 1000. Goal: limiter within 1.2x of run.
//! - after criterion, a table of CPU time per job (all threads of the process,
//!   from `CLOCK_PROCESS_CPUTIME_ID`) next to wall time per job, because a
//!   pool that spins looks fast in wall time and costs cores; then the
//!   limiter against plain `run` once more, interleaved round by round.
//!
//! `cargo bench --bench peers` runs it all (about 4 minutes on 2 cores);
//! `cargo bench --bench peers -- cpu` runs only the CPU table; any other filter
//! is criterion's and skips the CPU table unless it matches "cpu".
//! The sleepy (makespan) workload is in `sleepy.rs`: it needs one process per
//! contender.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::executor::block_on;
use futures::future::join_all;

use common::{measure, median, micros, Args, BoxFut, Contender, PerJob};

/// The thread cap of every contender (anyio's `CapacityLimiter` default).
/// smol's `blocking` has one process-global pool; it is set to this cap too.
const THREADS: usize = 40;
/// The limiter's limit in the `limiter` group, and the tokio semaphore's permits.
const LIMIT: usize = 40;
/// Jobs per burst in the `limiter` group.
const LIMITER_BURST: usize = 1000;

/// A trivial job: returns an integer the optimizer cannot see through.
#[inline]
fn trivial(i: u64) -> impl FnOnce() -> u64 + Send + 'static {
    move || black_box(i)
}

/// Submits `n` trivial jobs at once, then awaits them all.
async fn burst(n: usize, submit: impl Fn(u64) -> BoxFut<u64>) -> u64 {
    let jobs: Vec<BoxFut<u64>> = (0..n as u64).map(submit).collect();
    join_all(jobs).await.into_iter().sum()
}

fn latency(c: &mut Criterion, contenders: &[Contender]) {
    let current_thread = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current-thread runtime");
    let mut group = c.benchmark_group("latency");
    for contender in contenders {
        group.bench_function(BenchmarkId::new(contender.name(), "block_on"), |b| {
            b.iter(|| block_on(contender.submit(trivial(1))))
        });
        group.bench_function(
            BenchmarkId::new(contender.name(), "tokio_current_thread"),
            |b| b.iter(|| current_thread.block_on(contender.submit(trivial(1)))),
        );
    }
    group.finish();
}

fn bursts(c: &mut Criterion, contenders: &[Contender]) {
    for n in [100usize, 10_000] {
        let mut group = c.benchmark_group(format!("burst/{n}"));
        group.throughput(Throughput::Elements(n as u64));
        if n >= 10_000 {
            // ~1-20 ms per iteration: criterion's default 100 linear samples
            // would need thousands of iterations.
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
        } else {
            group.sample_size(50);
        }
        for contender in contenders {
            group.bench_function(contender.name(), |b| {
                b.iter(|| block_on(burst(n, |i| contender.submit(trivial(i)))))
            });
        }
        group.finish();
    }
}

/// The `limiter` group's three ways to cap concurrent jobs at [`LIMIT`].
struct LimiterContenders {
    pool: threadbridge::Pool,
    limiter: threadbridge::Limiter,
    tokio: tokio::runtime::Runtime,
    semaphore: Arc<tokio::sync::Semaphore>,
}

const LIMITER_VARIANTS: [&str; 3] = [
    "threadbridge_run",
    "threadbridge_limiter",
    "tokio_semaphore",
];

impl LimiterContenders {
    fn new() -> LimiterContenders {
        let pool = threadbridge::Pool::builder()
            .max_threads(THREADS)
            .build()
            .expect("threadbridge pool");
        LimiterContenders {
            limiter: pool.limiter(LIMIT),
            pool,
            tokio: common::tokio_runtime(THREADS),
            semaphore: Arc::new(tokio::sync::Semaphore::new(LIMIT)),
        }
    }

    /// Submits `f` through `variant` (one of [`LIMITER_VARIANTS`]). The tokio
    /// variant is lazy: it acquires its permit, then spawns, when first polled.
    #[inline]
    fn submit(&self, variant: &str, f: impl FnOnce() -> u64 + Send + 'static) -> BoxFut<u64> {
        match variant {
            "threadbridge_run" => Box::pin(self.pool.run(f)),
            "threadbridge_limiter" => Box::pin(self.limiter.run(f)),
            "tokio_semaphore" => {
                let semaphore = Arc::clone(&self.semaphore);
                let handle = self.tokio.handle().clone();
                Box::pin(async move {
                    let permit = semaphore.acquire_owned().await.expect("semaphore closed");
                    handle
                        .spawn_blocking(move || {
                            let _permit = permit;
                            f()
                        })
                        .await
                        .expect("spawn_blocking job panicked")
                })
            }
            other => unreachable!("unknown limiter variant {other}"),
        }
    }
}

fn limiter(c: &mut Criterion, lim: &LimiterContenders) {
    let mut group = c.benchmark_group("limiter");
    for variant in LIMITER_VARIANTS {
        group.bench_function(BenchmarkId::new(variant, "latency"), |b| {
            b.iter(|| block_on(lim.submit(variant, trivial(1))))
        });
    }
    group.throughput(Throughput::Elements(LIMITER_BURST as u64));
    group.sample_size(20);
    for variant in LIMITER_VARIANTS {
        group.bench_function(
            BenchmarkId::new(variant, format!("burst{LIMITER_BURST}")),
            |b| b.iter(|| block_on(burst(LIMITER_BURST, |i| lim.submit(variant, trivial(i))))),
        );
    }
    group.finish();
}

/// Prints wall and CPU µs per job for latency and burst, per contender.
fn cpu_table(contenders: &[Contender], lim: &LimiterContenders) {
    const LATENCY_OPS: u64 = 20_000;
    const BURST: usize = 10_000;
    const BURST_ROUNDS: u64 = 10;
    let burst_ops = BURST as u64 * BURST_ROUNDS;

    let mut rows: Vec<(&str, PerJob, PerJob)> = Vec::new();
    for contender in contenders {
        let latency = measure(LATENCY_OPS, LATENCY_OPS, || {
            black_box(block_on(contender.submit(trivial(1))));
        });
        let burst = measure(burst_ops, BURST_ROUNDS, || {
            black_box(block_on(burst(BURST, |i| contender.submit(trivial(i)))));
        });
        rows.push((contender.name(), latency, burst));
    }
    for variant in LIMITER_VARIANTS {
        let latency = measure(LATENCY_OPS, LATENCY_OPS, || {
            black_box(block_on(lim.submit(variant, trivial(1))));
        });
        let burst = measure(burst_ops, BURST_ROUNDS, || {
            black_box(block_on(burst(BURST, |i| lim.submit(variant, trivial(i)))));
        });
        rows.push((variant, latency, burst));
    }

    println!();
    println!(
        "CPU per job: process CPU time (all threads) / jobs; {THREADS} threads, driver = futures block_on"
    );
    println!("latency: {LATENCY_OPS} jobs one at a time; burst: {BURST_ROUNDS} x {BURST} jobs submitted at once");
    println!();
    println!(
        "| {:<22} | {:>12} | {:>12} | {:>12} | {:>12} |",
        "contender", "latency wall", "latency CPU", "burst wall", "burst CPU"
    );
    println!(
        "|{:-<24}|{:->14}|{:->14}|{:->14}|{:->14}|",
        "", ":", ":", ":", ":"
    );
    for (name, (lat_wall, lat_cpu), (burst_wall, burst_cpu)) in rows {
        println!(
            "| {name:<22} | {lat_wall:>9.2} µs | {lat_cpu:>9.2} µs | {burst_wall:>9.3} µs | {burst_cpu:>9.3} µs |"
        );
    }
}

/// Limiter against plain `run`, interleaved: rounds alternate between the
/// two (and which goes first), so a stretch in which this VM schedules
/// badly hits both alike. Criterion measures one after the other; on 2
/// vCPUs a burst of 1000 has a millisecond tail in some bursts (see the
/// README), and how often it strikes drifts over minutes, which moves
/// criterion's ratio between runs. Medians of per-round times isolate what
/// the limiter adds.
fn limiter_interleaved(lim: &LimiterContenders) {
    const ROUNDS: usize = 400;
    const SINGLES: usize = 200;
    let variants = ["threadbridge_run", "threadbridge_limiter"];
    let time = |body: &mut dyn FnMut()| {
        let start = Instant::now();
        body();
        micros(start.elapsed())
    };
    // [variant][latency | burst]: microseconds per job, one entry per round.
    let mut per_job = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for round in 0..ROUNDS + ROUNDS / 10 {
        for k in 0..2 {
            let v = (k + round) % 2;
            let variant = variants[v];
            let latency = time(&mut || {
                for _ in 0..SINGLES {
                    black_box(block_on(lim.submit(variant, trivial(1))));
                }
            });
            let burst = time(&mut || {
                black_box(block_on(burst(LIMITER_BURST, |i| {
                    lim.submit(variant, trivial(i))
                })));
            });
            if round >= ROUNDS / 10 {
                // the first tenth warms up
                per_job[v][0].push(latency / SINGLES as f64);
                per_job[v][1].push(burst / LIMITER_BURST as f64);
            }
        }
    }
    let [mut run, mut limited] = per_job;
    println!();
    println!(
        "limiter vs run, interleaved: {ROUNDS} rounds of {SINGLES} jobs one at a time and \
         one burst of {LIMITER_BURST}; median µs per job"
    );
    println!();
    println!(
        "| {:<12} | {:>10} | {:>10} | {:>7} |",
        "workload", "run", "limiter", "ratio"
    );
    println!("|{:-<14}|{:->12}|{:->12}|{:->9}|", "", ":", ":", ":");
    for (i, workload) in ["latency", "burst1000"].into_iter().enumerate() {
        let (r, l) = (median(&mut run[i]), median(&mut limited[i]));
        println!(
            "| {workload:<12} | {r:>10.3} | {l:>10.3} | {:>6.2}x |",
            l / r
        );
    }
}

/// CPU time used over one second by the idle threads of the threadbridge
/// pools (named `threadbridge-*`), from `/proc/self/task/*/stat` (10 ms
/// clock ticks): an idle pool must not spin. Counted per thread, over the
/// threads alive at both reads: one whose keep-alive expires in between
/// takes its whole past CPU time with it, which a difference of sums
/// would count as negative.
fn idle_cpu() {
    fn ticks() -> HashMap<String, u64> {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return HashMap::new();
        };
        tasks
            .filter_map(|t| {
                let path = t.ok()?.path();
                let stat = std::fs::read_to_string(path.join("stat")).ok()?;
                Some((path.file_name()?.to_string_lossy().into_owned(), stat))
            })
            .filter(|(_, stat)| stat.contains("(threadbridge-"))
            .map(|(tid, stat)| {
                let fields: Vec<&str> = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                let at = |i: usize| {
                    fields
                        .get(i)
                        .and_then(|f| f.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                (tid, at(11) + at(12))
            })
            .collect()
    }
    std::thread::sleep(Duration::from_millis(300)); // past any spin window
    let before = ticks();
    std::thread::sleep(Duration::from_secs(1));
    let after = ticks();
    let used: u64 = after
        .iter()
        .filter_map(|(tid, t)| Some(t.saturating_sub(*before.get(tid)?)))
        .sum();
    let gone = before
        .keys()
        .filter(|tid| !after.contains_key(*tid))
        .count();
    println!();
    println!(
        "idle threadbridge pools, CPU over 1 s: {} ms (10 ms resolution; {} of {} threads, {gone} exited meanwhile)",
        used * 10,
        after.keys().filter(|tid| before.contains_key(*tid)).count(),
        before.len(),
    );
}

fn main() {
    let args = Args::parse();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    let contenders = Contender::all(THREADS);
    let limiters = LimiterContenders::new();

    latency(&mut criterion, &contenders);
    bursts(&mut criterion, &contenders);
    limiter(&mut criterion, &limiters);
    criterion.final_summary();

    // Not in `cargo test --benches` (test mode) or `--list`; not when a
    // criterion filter that doesn't mention "cpu" was given.
    if args.bench_mode && !args.list && args.selects("cpu") {
        cpu_table(&contenders, &limiters);
        limiter_interleaved(&limiters);
        idle_cpu();
    }
}
