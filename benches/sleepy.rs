//! Makespan of many sleeping (I/O-like) jobs: how close does each contender
//! get to the ideal `jobs × sleep / threads`?
//!
//! Workloads:
//! - 2,000 jobs × `thread::sleep(5 ms)` on 40 threads (ideal 250 ms),
//! - 10,000 jobs × `thread::sleep(10 ms)` on 512 threads (ideal ≈ 195 ms).
//!
//! All jobs are submitted at once and awaited with `join_all` under
//! `futures::executor::block_on`. Each (contender, workload) runs in its own
//! child process, so that smol's `blocking` — whose pool is process-global —
//! gets `BLOCKING_MAX_THREADS` set to the workload's cap before first use, and
//! so that peak threads and peak RSS (`VmHWM`) describe one contender only.
//! In each child the workload runs 4 times: the first run is "cold" and
//! includes building the pool (so lazily-started and eagerly-started pools
//! pay for their threads alike); "warm" is the median of the next 3.
//!
//! Criterion is a poor fit for one-shot makespans, so this is a plain
//! `harness = false` main that prints a table.
//! `cargo bench --bench sleepy [-- FILTER]`: FILTER picks contenders or
//! workloads by substring (e.g. `threadbridge`, `512`).

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::join_all;

use common::{median, proc_status, Args, Contender, NAMES};

/// Child-process marker: `SLEEPY_CHILD="<contender> <workload index>"`.
const CHILD_ENV: &str = "SLEEPY_CHILD";
/// Runs per child: one cold, then warm ones.
const RUNS: usize = 4;

struct Workload {
    label: &'static str,
    jobs: usize,
    sleep: Duration,
    threads: usize,
}

const WORKLOADS: [Workload; 2] = [
    Workload {
        label: "2000 x 5ms / 40 threads",
        jobs: 2_000,
        sleep: Duration::from_millis(5),
        threads: 40,
    },
    Workload {
        label: "10000 x 10ms / 512 threads",
        jobs: 10_000,
        sleep: Duration::from_millis(10),
        threads: 512,
    },
];

impl Workload {
    fn ideal(&self) -> Duration {
        self.sleep * self.jobs as u32 / self.threads as u32
    }
}

/// Samples `Threads:` from `/proc/self/status` every 2 ms and keeps the peak.
/// The sampler thread and the main thread count in it.
struct PeakThreads {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl PeakThreads {
    fn start() -> PeakThreads {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = thread::spawn({
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(n) = proc_status("Threads:") {
                        peak.fetch_max(n, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(2));
                }
            }
        });
        PeakThreads {
            peak,
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().map(thread::JoinHandle::join);
        self.peak.load(Ordering::Relaxed)
    }
}

/// Runs one workload once on `contender`; returns the makespan.
fn makespan(contender: &Contender, w: &Workload) -> Duration {
    let start = Instant::now();
    let sleep = w.sleep;
    let jobs: Vec<_> = (0..w.jobs)
        .map(|_| contender.submit(move || thread::sleep(sleep)))
        .collect();
    block_on(join_all(jobs));
    start.elapsed()
}

/// In the child: runs `RUNS` times, prints one `RESULT` line for the parent.
fn child(spec: &str) {
    let (name, index) = spec
        .split_once(' ')
        .expect("SLEEPY_CHILD = \"<contender> <workload>\"");
    let w = &WORKLOADS[index.parse::<usize>().expect("workload index")];
    let ideal = w.ideal().as_secs_f64();
    let peak = PeakThreads::start();

    // Cold: building the pool is part of the first run.
    let start = Instant::now();
    let contender = Contender::new(name, w.threads);
    let cold = (start.elapsed() + makespan(&contender, w)).as_secs_f64() / ideal;
    let mut warm: Vec<f64> = (1..RUNS)
        .map(|_| makespan(&contender, w).as_secs_f64() / ideal)
        .collect();

    let peak_threads = peak.finish();
    let vm_hwm_kib = proc_status("VmHWM:").unwrap_or(0);
    println!(
        "RESULT {cold} {} {peak_threads} {vm_hwm_kib}",
        median(&mut warm)
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let args = Args::parse();
    if !args.bench_mode || args.list {
        // `cargo test --benches`: makespans take seconds and mean nothing there.
        println!("sleepy: run with `cargo bench --bench sleepy`");
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");

    println!();
    println!("makespan / ideal (ideal = jobs x sleep / threads); lower is better, 1.00 is perfect");
    println!(
        "cold = first run incl. building the pool; warm = median of {} more runs",
        RUNS - 1
    );
    println!("peak threads: whole process (main + sampler thread + pool; tokio adds 1 worker)");
    println!("peak RSS: VmHWM of the child process running only that contender");
    for (index, w) in WORKLOADS.iter().enumerate() {
        let names: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|name| args.selects(name) || args.selects(w.label))
            .collect();
        if names.is_empty() {
            continue;
        }
        println!();
        println!(
            "{} (ideal {:.0} ms)",
            w.label,
            w.ideal().as_secs_f64() * 1e3
        );
        println!();
        println!(
            "| {:<14} | {:>6} | {:>6} | {:>12} | {:>9} |",
            "contender", "cold", "warm", "peak threads", "peak RSS"
        );
        println!(
            "|{:-<16}|{:->8}|{:->8}|{:->14}|{:->11}|",
            "", ":", ":", ":", ":"
        );
        for name in names {
            let output = Command::new(&exe)
                .env(CHILD_ENV, format!("{name} {index}"))
                .env("BLOCKING_MAX_THREADS", w.threads.to_string())
                .output()
                .expect("spawn child bench process");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let fields: Vec<&str> = match stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) {
                Some(line) if output.status.success() => line.split_whitespace().collect(),
                _ => {
                    println!(
                        "| {name:<14} | failed: {} {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr)
                            .lines()
                            .last()
                            .unwrap_or("")
                    );
                    continue;
                }
            };
            let cold: f64 = fields[0].parse().unwrap();
            let warm: f64 = fields[1].parse().unwrap();
            let vm_hwm_mib = fields[3].parse::<f64>().unwrap() / 1024.0;
            println!(
                "| {name:<14} | {cold:>6.3} | {warm:>6.3} | {:>12} | {vm_hwm_mib:>5.1} MiB |",
                fields[2]
            );
        }
    }
}
