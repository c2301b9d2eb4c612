//! The contenders shared by `peers.rs` and `sleepy.rs`.
//!
//! Every contender gets the same thread cap and hands back the same thing: a
//! `Pin<Box<dyn Future<Output = T> + Send>>`, so each pays for exactly one box
//! and one dynamic poll, and the benches measure the pools, not the plumbing.
#![allow(dead_code)] // each bench binary uses a different subset

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::time::Duration;

use futures::FutureExt;

/// What every contender's submit returns.
pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A way to run a blocking closure from async code and await its result.
pub enum Contender {
    /// `threadbridge::Pool::builder().max_threads(n)`, submit = `pool.run(f)`.
    Threadbridge(threadbridge::Pool),
    /// A multi-thread runtime with `max_blocking_threads(n)` (and one async
    /// worker, which never runs a job), submit = `handle.spawn_blocking(f)`.
    Tokio(tokio::runtime::Runtime),
    /// smol's `blocking::unblock`. Its pool is process-global: the cap is set
    /// with `set_max_blocking_threads` (or `BLOCKING_MAX_THREADS`), so only one
    /// cap is live at a time and every `Blocking` contender shares it.
    Blocking,
    /// `futures::executor::ThreadPool` (`pool_size(n)`) + `futures::channel::oneshot`.
    FuturesPool(futures::executor::ThreadPool),
    /// `rayon::ThreadPoolBuilder::new().num_threads(n)`, `pool.spawn` + `oneshot`.
    Rayon(rayon::ThreadPool),
    /// The `threadpool` crate (`ThreadPool::new(n)`), `execute` + `oneshot`.
    Threadpool(threadpool::ThreadPool),
}

/// Contender names, in table order.
pub const NAMES: [&str; 6] = [
    "threadbridge",
    "tokio",
    "blocking",
    "futures_pool",
    "rayon",
    "threadpool",
];

impl Contender {
    /// Builds the contender called `name` (one of [`NAMES`]) with a cap of `threads`.
    pub fn new(name: &str, threads: usize) -> Contender {
        match name {
            "threadbridge" => Contender::Threadbridge(
                threadbridge::Pool::builder()
                    .max_threads(threads)
                    .build()
                    .expect("threadbridge pool"),
            ),
            "tokio" => Contender::Tokio(tokio_runtime(threads)),
            "blocking" => {
                blocking::set_max_blocking_threads(
                    NonZeroUsize::new(threads).expect("threads > 0"),
                );
                Contender::Blocking
            }
            "futures_pool" => Contender::FuturesPool(
                futures::executor::ThreadPool::builder()
                    .pool_size(threads)
                    .create()
                    .expect("futures thread pool"),
            ),
            "rayon" => Contender::Rayon(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("rayon pool"),
            ),
            "threadpool" => Contender::Threadpool(threadpool::ThreadPool::new(threads)),
            other => panic!("unknown contender {other:?}; expected one of {NAMES:?}"),
        }
    }

    /// Every contender, each capped at `threads`.
    pub fn all(threads: usize) -> Vec<Contender> {
        NAMES
            .iter()
            .map(|name| Contender::new(name, threads))
            .collect()
    }

    pub fn name(&self) -> &'static str {
        match self {
            Contender::Threadbridge(_) => NAMES[0],
            Contender::Tokio(_) => NAMES[1],
            Contender::Blocking => NAMES[2],
            Contender::FuturesPool(_) => NAMES[3],
            Contender::Rayon(_) => NAMES[4],
            Contender::Threadpool(_) => NAMES[5],
        }
    }

    /// Submits `f` at once and returns a future of its result.
    #[inline]
    pub fn submit<F, T>(&self, f: F) -> BoxFut<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self {
            Contender::Threadbridge(pool) => Box::pin(pool.run(f)),
            Contender::Tokio(rt) => Box::pin(rt.handle().spawn_blocking(f).map(Result::unwrap)),
            Contender::Blocking => Box::pin(blocking::unblock(f)),
            Contender::FuturesPool(pool) => {
                let (tx, rx) = futures::channel::oneshot::channel();
                pool.spawn_ok(async move {
                    let _ = tx.send(f());
                });
                Box::pin(rx.map(Result::unwrap))
            }
            Contender::Rayon(pool) => {
                let (tx, rx) = oneshot::channel();
                pool.spawn(move || {
                    let _ = tx.send(f());
                });
                Box::pin(rx.map(Result::unwrap))
            }
            Contender::Threadpool(pool) => {
                let (tx, rx) = oneshot::channel();
                pool.execute(move || {
                    let _ = tx.send(f());
                });
                Box::pin(rx.map(Result::unwrap))
            }
        }
    }
}

/// A multi-thread tokio runtime used only for its blocking pool.
pub fn tokio_runtime(max_blocking_threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(max_blocking_threads)
        .build()
        .expect("tokio runtime")
}

/// A field such as `Threads:` or `VmHWM:` from `/proc/self/status` (Linux), as a number.
pub fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// The median of a small sample (sorts it).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// CPU time of the whole process (every thread), in nanoseconds resolution.
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_PROCESS_CPUTIME_ID is
    // supported on Linux and the call writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall and CPU microseconds per job.
pub type PerJob = (f64, f64);

/// Wall and CPU time per job of `ops` jobs, run as `rounds` calls of `body`
/// after a tenth as many warm-up calls (threads started, caches filled).
pub fn measure(ops: u64, rounds: u64, mut body: impl FnMut()) -> PerJob {
    for _ in 0..(rounds + 9) / 10 {
        body();
    }
    let (cpu0, wall0) = (process_cpu_time(), std::time::Instant::now());
    for _ in 0..rounds {
        body();
    }
    let (cpu, wall) = (process_cpu_time() - cpu0, wall0.elapsed());
    (micros(wall) / ops as f64, micros(cpu) / ops as f64)
}

/// Microseconds, for tables.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// How the bench binary was invoked: `cargo bench` passes `--bench`; without it
/// (`cargo test --benches`) we are in test mode. `filters` are the positional
/// arguments (criterion's name filter), with known option values skipped.
pub struct Args {
    pub bench_mode: bool,
    pub list: bool,
    pub filters: Vec<String>,
}

impl Args {
    pub fn parse() -> Args {
        // Criterion 0.5 options that take a value.
        const WITH_VALUE: [&str; 17] = [
            "--save-baseline",
            "-s",
            "--baseline",
            "-b",
            "--baseline-lenient",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--profile-time",
            "--color",
            "-c",
            "--output-format",
        ];
        let mut args = Args {
            bench_mode: false,
            list: false,
            filters: Vec::new(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--bench" => args.bench_mode = true,
                "--list" => args.list = true,
                a if WITH_VALUE.contains(&a) || a == "--plotting-backend" || a == "--format" => {
                    it.next();
                }
                a if a.starts_with('-') => {}
                _ => args.filters.push(arg),
            }
        }
        args
    }

    /// True if no filter was given, or one of them occurs in `name`.
    pub fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}
