//! The spin budget's trade-off: how long an idle thread spins before it
//! parks (`Builder::idle_spin`) against the latency of one job at a time
//! and the CPU it costs, and against a burst of 10,000 jobs.
//!
//! Each budget gets its own pool of [`THREADS`] threads; rayon, tokio's
//! `spawn_blocking` and the `threadpool` crate run beside them as the
//! reference points of the README's goals (latency ≤ rayon's, latency CPU
//! ≤ ½ of tokio's, burst ≤ threadpool's). Rounds are interleaved — every
//! contender once per round, the order rotating — so a stretch in which the
//! VM schedules badly hits all of them alike; the table shows medians over
//! rounds. CPU is the whole process's (every thread), per job.
//!
//! `cargo bench --bench spin` prints the table (about 15 s on 2 cores; 25 s
//! with `ROUNDS=9`) and writes `target/spin.svg`: latency against CPU per
//! job, one point per budget. `ROUNDS=n` changes the number of rounds
//! (default 5).

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use futures::executor::block_on;
use futures::future::join_all;
use plotters::prelude::*;

use common::{measure, median, Args, BoxFut, Contender, PerJob};

/// Every pool's thread cap, as in `peers.rs`.
const THREADS: usize = 40;
/// The spin budgets measured, in µs; 20 is the default.
const BUDGETS_US: [u64; 7] = [0, 2, 5, 10, 20, 50, 100];
/// Jobs one at a time per round, and bursts of [`BURST`] per round.
const LATENCY_OPS: u64 = 10_000;
const BURST: usize = 10_000;
const BURST_ROUNDS: u64 = 5;
/// The peers measured beside the budgets.
const PEERS: [&str; 3] = ["rayon", "tokio", "threadpool"];

struct Row {
    name: String,
    latency: Vec<PerJob>,
    burst: Vec<PerJob>,
}

fn submit(contender: &Contender, i: u64) -> BoxFut<u64> {
    contender.submit(move || black_box(i))
}

/// One round of one contender: latency, then bursts.
fn round(contender: &Contender) -> (PerJob, PerJob) {
    let latency = measure(LATENCY_OPS, LATENCY_OPS, || {
        black_box(block_on(submit(contender, 1)));
    });
    let burst = measure(BURST as u64 * BURST_ROUNDS, BURST_ROUNDS, || {
        let jobs: Vec<_> = (0..BURST as u64).map(|i| submit(contender, i)).collect();
        black_box(block_on(join_all(jobs)));
    });
    (latency, burst)
}

fn medians(xs: &[PerJob]) -> PerJob {
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = xs.iter().copied().unzip();
    (median(&mut wall), median(&mut cpu))
}

fn main() {
    let args = Args::parse();
    if !args.bench_mode || args.list {
        return; // `cargo test --benches`: nothing to check here
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);

    let mut contenders: Vec<(String, Contender)> = BUDGETS_US
        .iter()
        .map(|&us| {
            let pool = threadbridge::Pool::builder()
                .max_threads(THREADS)
                .idle_spin(Duration::from_micros(us))
                .build()
                .expect("threadbridge pool");
            (format!("idle_spin {us} µs"), Contender::Threadbridge(pool))
        })
        .collect();
    for peer in PEERS {
        contenders.push((peer.to_string(), Contender::new(peer, THREADS)));
    }
    let mut rows: Vec<Row> = contenders
        .iter()
        .map(|(name, _)| Row {
            name: name.clone(),
            latency: Vec::new(),
            burst: Vec::new(),
        })
        .collect();

    let n = contenders.len();
    for r in 0..rounds {
        eprint!("round {}/{rounds} ", r + 1);
        for k in 0..n {
            let i = (k + r) % n;
            let (latency, burst) = round(&contenders[i].1);
            rows[i].latency.push(latency);
            rows[i].burst.push(burst);
            eprint!(".");
        }
        eprintln!();
    }

    println!();
    println!(
        "Spin budget vs latency vs CPU: {THREADS} threads, futures block_on, median of {rounds} interleaved rounds"
    );
    println!("latency: {LATENCY_OPS} jobs one at a time; burst: {BURST_ROUNDS} x {BURST} jobs submitted at once; CPU = process CPU time / jobs");
    println!();
    println!(
        "| {:<18} | {:>12} | {:>12} | {:>12} | {:>12} |",
        "contender", "latency wall", "latency CPU", "burst wall", "burst CPU"
    );
    println!(
        "|{:-<20}|{:->14}|{:->14}|{:->14}|{:->14}|",
        "", ":", ":", ":", ":"
    );
    let mut points = Vec::new();
    for row in &rows {
        let (lw, lc) = medians(&row.latency);
        let (bw, bc) = medians(&row.burst);
        println!(
            "| {:<18} | {lw:>9.2} µs | {lc:>9.2} µs | {bw:>9.3} µs | {bc:>9.3} µs |",
            row.name
        );
        points.push((row.name.clone(), lw, lc));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/spin.svg");
    match plot(&path, &points) {
        Ok(()) => println!("\nplot: {}", path.display()),
        Err(err) => eprintln!("plot not written: {err}"),
    }
}

/// Latency (x) against CPU per job (y), a labelled point per contender.
fn plot(path: &Path, points: &[(String, f64, f64)]) -> Result<(), Box<dyn std::error::Error>> {
    let x_max = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.15;
    let y_max = points.iter().map(|p| p.2).fold(1.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "One job at a time: latency against CPU per job (lower left is better)",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("latency, µs per job (wall)")
        .y_desc("CPU, µs per job (all threads)")
        .draw()?;
    let ours: Vec<_> = points
        .iter()
        .filter(|p| p.0.starts_with("idle_spin"))
        .map(|p| (p.1, p.2))
        .collect();
    chart.draw_series(LineSeries::new(ours, BLUE.stroke_width(1)))?;
    for (name, x, y) in points {
        let color = if name.starts_with("idle_spin") {
            BLUE
        } else {
            RED
        };
        chart.draw_series(std::iter::once(Circle::new((*x, *y), 4, color.filled())))?;
        chart.draw_series(std::iter::once(Text::new(
            name.clone(),
            (*x, *y),
            ("sans-serif", 13).into_font().color(&color),
        )))?;
    }
    root.present()?;
    Ok(())
}
