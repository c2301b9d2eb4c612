//! Why threadbridge exists: an async executor stays responsive while blocking
//! jobs run on the pool.
//!
//! One single-threaded tokio runtime runs a heartbeat task that wants to tick
//! every 10 ms, and 20 tasks that each make a blocking call (a 100 ms
//! `thread::sleep`, standing in for a sync database or HTTP client):
//!
//! 1. inline, as a plain call inside the async task: the executor's only
//!    thread is stuck in the call, so the heartbeat (and every other task,
//!    timer and socket) waits for all of them;
//! 2. through `threadbridge::run`, on the global pool;
//! 3. through a pool capped at 4 threads: slower, bounded, still responsive.
//!
//! `cargo run --release --example responsive`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use threadbridge::{Pool, Stats};

const JOBS: usize = 20;
const JOB_TIME: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(10);

/// The blocking call: a sync DB query, an HTTP request with a blocking client...
fn blocking_call(id: usize) -> usize {
    thread::sleep(JOB_TIME);
    id
}

/// Ticks every [`TICK`] until `stop`; returns how late each tick was.
async fn heartbeat(stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut lateness = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let due = Instant::now() + TICK;
        tokio::time::sleep_until(due.into()).await;
        lateness.push(due.elapsed());
    }
    lateness
}

/// One phase: the heartbeat runs while `JOBS` tasks each await `job(i)`.
async fn phase<F, Fut>(job: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = usize> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let beat = tokio::spawn(heartbeat(Arc::clone(&stop)));
    let start = Instant::now();
    let tasks: Vec<_> = (0..JOBS).map(|i| tokio::spawn(job(i))).collect();
    for task in tasks {
        task.await.expect("job task");
    }
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    (wall, beat.await.expect("heartbeat task"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn row(name: &str, (wall, mut late): (Duration, Vec<Duration>), stats: Option<Stats>) {
    late.sort();
    let pct = |p: f64| late[((late.len() as f64 * p).ceil() as usize).clamp(1, late.len()) - 1];
    let (threads, completed) = match stats {
        Some(s) => (s.threads.to_string(), s.completed.to_string()),
        None => ("-".into(), "-".into()),
    };
    println!(
        "| {name:<28} | {:>9} | {:>5} | {:>9} | {:>9} | {:>9} | {threads:>7} | {completed:>9} |",
        ms(wall),
        late.len(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*late.last().unwrap()),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!(
        "{JOBS} tasks each make one blocking call ({} ms sleep) on a single-threaded tokio runtime;",
        JOB_TIME.as_millis()
    );
    println!(
        "a heartbeat task wants to tick every {} ms. Lateness = how late each tick fired.",
        TICK.as_millis()
    );
    println!();
    println!(
        "| {:<28} | {:>9} | {:>5} | {:>9} | {:>9} | {:>9} | {:>7} | {:>9} |",
        "blocking call runs",
        "wall",
        "ticks",
        "late p50",
        "late p99",
        "late max",
        "threads",
        "completed"
    );
    println!(
        "|{:-<30}|{:->11}|{:->7}|{:->11}|{:->11}|{:->11}|{:->9}|{:->11}|",
        "", ":", ":", ":", ":", ":", ":", ":"
    );

    let inline = phase(|i| async move { blocking_call(i) }).await;
    row("inline, in the async task", inline, None);

    let offloaded = phase(|i| threadbridge::run(move || blocking_call(i))).await;
    row(
        "threadbridge::run",
        offloaded,
        Some(threadbridge::global().stats()),
    );

    let pool = Pool::builder().max_threads(4).build().expect("pool");
    let bounded = phase(|i| pool.run(move || blocking_call(i))).await;
    row("Pool with max_threads(4)", bounded, Some(pool.stats()));
}
