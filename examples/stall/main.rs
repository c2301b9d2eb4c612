//! The stall, end to end: an async web server calls a slow service with a
//! blocking HTTP client, and stops answering everyone.
//!
//! It is the FastAPI story: an `async def` handler calls `requests.get`, and
//! the event loop, which runs every request, waits for it. Here, with real
//! parts, all on 127.0.0.1 with ephemeral ports:
//!
//! - an upstream on plain std threads that answers after a delay, like
//!   httpbin's `/delay/N` ([`upstream`]);
//! - a hyper 1 server on a **single-threaded** executor with three routes
//!   ([`app`]): `/inline` calls the upstream with the blocking `ureq` client
//!   right inside the async handler (the bug), `/offloaded` makes the same
//!   call through a threadbridge [`Pool`], `/health` answers at once;
//! - a load driver on its own threads ([`load`]): for a few seconds,
//!   `--clients` clients hammer `/inline` (then `/offloaded`) while an
//!   open-loop probe times `/health`.
//!
//! The probe is open-loop. It sends `GET /health` on a fixed schedule, one
//! every 10 ms from the start of the scenario (300 in the default 3 s),
//! whether or not the earlier ones have been answered, each from a
//! short-lived thread of its own, and times each from the instant it was
//! *scheduled* to go out to its answer. So a probe that waits two seconds on
//! a stalled server counts two seconds, and the stall is sampled every 10 ms
//! like the rest of the run — unlike a probe that waits for each answer
//! before asking again, which takes a couple of samples during a stall and
//! misses the rest (coordinated omission). The probes share one client: a
//! probe reuses an idle connection if there is one and otherwise opens one,
//! so during a stall most probes are new connections, which wait for the
//! stalled server to accept them. At most 512 probes are in flight; a probe
//! due while 512 are waiting is not sent and is counted in the table's
//! `unsent` column, not in the percentiles (which then understate the
//! stall). When the scenario's time is up the driver waits for every probe
//! still in flight and counts it; a probe times out, as a failed request,
//! after the scenario's duration plus the slow route's request timeout.
//!
//! It runs the whole scenario twice, the server first on a tokio
//! current-thread runtime ([`server_tokio`]), then on a smol `LocalExecutor`
//! ([`server_smol`]) — the handler code is the same, threadbridge does not
//! care which executor polls it — and prints each executor's table:
//! `/health` latency under each load (inline: seconds;
//! offloaded: about a millisecond), how many slow calls were served, and
//! what the pool did (peak threads, peak queued, jobs completed).
//!
//! Each server also runs a [`lag_probe`](threadbridge::lag_probe) on its
//! executor, so the table shows the executor's own lag beside `/health`
//! (inline: seconds; offloaded: well under a millisecond), and the pool
//! has an [`on_starvation`](threadbridge::Builder::on_starvation) detector
//! whose first lines print as episodes start (offloaded, 8 clients on 4
//! threads: calls wait with every thread busy). The run ends by writing
//! `target/stall.svg`: `/health` latency and executor lag over time, inline
//! against offloaded, for both executors.
//!
//! ```text
//! cargo run --release --example stall
//! cargo run --release --example stall -- --delay-ms 500 --clients 16 --threads 8 --secs 2
//! ```
//!
//! It takes about 16 s with the defaults, and exits nonzero if any request
//! failed, if any `/health` probe under offloaded load went unsent or
//! unanswered, if offloading did not keep `/health` at least 10x faster
//! (p99) than inline, or if a watchdog finds it still running well past its
//! time.

mod app;
mod load;
mod plot;
mod report;
mod server_smol;
mod server_tokio;
mod upstream;

use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use threadbridge::{LagProbe, Pool, Starvation};

use app::{App, Server};
use load::{Load, PROBE_CAP, PROBE_EVERY};

const USAGE: &str = "usage: stall [--delay-ms N] [--clients N] [--threads N] [--secs S]
  --delay-ms N  the upstream answers after N ms, 1 to 10000 (default 250)
  --clients N   concurrent clients on the slow route, 1 to 1000 (default 8)
  --threads N   the pool's max_threads, 1 to 1000 (default 4: fewer than the clients, so jobs queue)
  --secs S      how long each scenario runs, at most 600 (default 3)";

struct Config {
    delay: Duration,
    clients: usize,
    threads: usize,
    duration: Duration,
}

impl Config {
    fn from_args() -> Result<Config, String> {
        let mut config = Config {
            delay: Duration::from_millis(250),
            clients: 8,
            threads: 4,
            duration: Duration::from_secs(3),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(String::new());
            }
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let bad = || format!("{flag}: not a number: {value:?}");
            match flag.as_str() {
                "--delay-ms" => {
                    config.delay = Duration::from_millis(value.parse().map_err(|_| bad())?)
                }
                "--clients" => config.clients = value.parse().map_err(|_| bad())?,
                "--threads" => config.threads = value.parse().map_err(|_| bad())?,
                "--secs" => {
                    let secs: f64 = value.parse().map_err(|_| bad())?;
                    if !(secs > 0.0 && secs <= 600.0) {
                        return Err(format!(
                            "--secs must be above 0 and at most 600, got {value}"
                        ));
                    }
                    config.duration = Duration::from_secs_f64(secs);
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        let delay_ms = config.delay.as_millis();
        if !(1..=10_000).contains(&delay_ms) {
            return Err(format!("--delay-ms must be 1 to 10000, got {delay_ms}"));
        }
        for (flag, n) in [("--clients", config.clients), ("--threads", config.threads)] {
            if !(1..=1000).contains(&n) {
                return Err(format!("{flag} must be 1 to 1000, got {n}"));
            }
        }
        Ok(config)
    }

    /// The longest one slow-route request may take: inline, it waits behind
    /// about one upstream call per client. (A probe may take `duration`
    /// longer: see `Load::probe_timeout`.)
    fn request_timeout(&self) -> Duration {
        self.delay * (self.clients as u32 + 2) * 2 + Duration::from_secs(2)
    }

    /// Past this the demo is hung, not slow.
    fn watchdog(&self) -> Duration {
        // Two executors x two scenarios, each its duration plus the drain:
        // the last probes may wait up to `duration + request_timeout`.
        (self.duration * 2 + self.request_timeout()) * 4 + Duration::from_secs(10)
    }

    fn describe(&self) -> String {
        format!(
            "{} clients for {:.1} s, upstream delay {} ms, pool max_threads {}",
            self.clients,
            self.duration.as_secs_f64(),
            self.delay.as_millis(),
            self.threads
        )
    }
}

/// How often the lag probe ticks.
const LAG_EVERY: Duration = Duration::from_millis(5);
/// How long calls may wait with every thread busy and none finishing before
/// `on_starvation` calls it an episode.
const STARVED_AFTER: Duration = Duration::from_millis(100);

/// How long a watched poll may block its executor thread before
/// `on_slow_poll` names it.
const SLOW_POLL: Duration = Duration::from_millis(50);

/// Starts the app's server on one executor.
type Start = fn(Arc<App>, LagProbe) -> io::Result<Server>;

/// The executors the server runs on, in the order they run.
const EXECUTORS: [(&str, Start); 2] = [
    ("tokio current-thread runtime", server_tokio::start),
    ("smol LocalExecutor on one thread", server_smol::start),
];

fn main() -> ExitCode {
    let config = match Config::from_args() {
        Ok(config) => config,
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let limit = config.watchdog();
    thread::spawn(move || {
        thread::sleep(limit);
        eprintln!(
            "stall: still running after {} s: hung, giving up",
            limit.as_secs()
        );
        std::process::exit(3);
    });

    let upstream = upstream::start().expect("start the upstream");
    let url = format!("http://{upstream}/delay-ms/{}", config.delay.as_millis());
    let load = Load {
        clients: config.clients,
        duration: config.duration,
        timeout: config.request_timeout(),
    };
    println!(
        "A hyper server on a single-threaded executor calls an upstream that answers in {delay} ms
with the blocking ureq client. Meanwhile an open-loop probe sends GET /health every {every} ms,
on schedule, whether or not earlier probes have answered: {probes} a scenario, {PROBE_CAP} in flight at most.
/health n: probes answered; unsent: probes due while {PROBE_CAP} were in flight, so not sent;
p50, p99, max: from each probe's scheduled send time to its answer, counting the probes
still waiting when the load stops (the driver waits for them); served: slow calls answered;
threads, queued: the pool's peaks, sampled every ms; completed: jobs the pool ran.
",
        delay = config.delay.as_millis(),
        every = PROBE_EVERY.as_millis(),
        probes = load.probes(),
    );

    // Naming the culprit: every watched poll that blocks its executor
    // thread for SLOW_POLL is reported while it blocks, then when it
    // returns. The first few lines of each run are printed.
    let slow_lines = Arc::new(AtomicUsize::new(0));
    let counted = slow_lines.clone();
    let _slow_polls = threadbridge::on_slow_poll(SLOW_POLL, move |p| {
        if counted.fetch_add(1, Ordering::Relaxed) < 2 {
            println!(
                "  on_slow_poll: {} at {} blocked thread {} for {}{}",
                p.name.unwrap_or("a future"),
                p.location,
                p.thread.as_deref().unwrap_or("?"),
                report::ms(p.elapsed),
                if p.finished { "" } else { " and counting" }
            );
        }
    });
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for (executor, start) in EXECUTORS {
        // Starvation, as it happens: every thread busy, calls waiting, and
        // none finished for STARVED_AFTER. The first few lines are printed.
        let lines = Arc::new(AtomicUsize::new(0));
        let printed = lines.clone();
        let pool = Pool::builder()
            .max_threads(config.threads)
            .thread_name(|i| format!("stall-pool-{i}"))
            .on_starvation(STARVED_AFTER, move |s: &Starvation| {
                if printed.fetch_add(1, Ordering::Relaxed) < 3 {
                    println!(
                        "  on_starvation: all {} threads busy, {} calls queued, the oldest for {}",
                        s.stats.running,
                        s.stats.queued,
                        report::ms(s.oldest_wait)
                    );
                }
            })
            .build()
            .expect("build the pool");
        // The lag probe runs on the server's executor; its monitor is read
        // from the load driver's sampler thread.
        let (probe, monitor) = threadbridge::lag_probe(LAG_EVERY);
        let server =
            start(Arc::new(App::new(url.clone(), pool.clone())), probe).expect("start the server");
        slow_lines.store(0, Ordering::Relaxed);
        let inline = load::drive(server.addr, "/inline", &load, &pool, &monitor);
        let slow_inline = slow_lines.swap(0, Ordering::Relaxed);
        let offloaded = load::drive(server.addr, "/offloaded", &load, &pool, &monitor);
        let slow_offloaded = slow_lines.swap(0, Ordering::Relaxed);
        println!(
            "  slow polls reported: {slow_inline} while /inline ran, {slow_offloaded} while /offloaded ran"
        );
        if slow_inline == 0 || slow_offloaded != 0 {
            failures.push(format!(
                "{executor}: on_slow_poll named {slow_inline} inline and {slow_offloaded} offloaded polls"
            ));
        }
        server.stop();
        report::table(executor, &config.describe(), &inline, &offloaded);
        failures.extend(report::check(executor, config.threads, &inline, &offloaded));
        if !pool.shutdown_timeout(Duration::from_secs(5)) {
            failures.push(format!("{executor}: the pool's threads did not exit"));
        }
        outcomes.push((executor, inline, offloaded));
    }

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/stall.svg");
    let rows: Vec<_> = outcomes
        .iter()
        .map(|(executor, inline, offloaded)| plot::Row {
            executor,
            inline,
            offloaded,
        })
        .collect();
    match plot::write(&path, config.duration.as_secs_f64(), &rows) {
        Ok(()) => println!("plot: {}", path.display()),
        Err(err) => failures.push(format!(
            "could not write the plot {}: {err}",
            path.display()
        )),
    }

    if failures.is_empty() {
        println!("ok: the blocking call stalls the executor inline and does not when offloaded.");
        ExitCode::SUCCESS
    } else {
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        ExitCode::FAILURE
    }
}
