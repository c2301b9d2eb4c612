//! The load driver, on plain std threads with blocking clients, so nothing
//! it does borrows the executor under test: `clients` clients each send a
//! fixed number of requests back to back (lookups, and every
//! `scan_every`-th a scan), checking every answer, while an open-loop probe
//! times `GET /health` and a sampler records what the pool and the limiter
//! did. A scenario ends when every client has sent its requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use threadbridge::{Limiter, Pool};

use crate::app;
use crate::db::{sku_name, Expected, Query, Shape};

/// The `/health` probe's schedule: one request every 10 ms from the start
/// of the scenario until the clients are done, whether or not the earlier
/// ones have been answered, each on a short-lived thread of its own, timed
/// from when it was *due* (so a probe caught in a stall counts all of its
/// wait: no coordinated omission).
const PROBE_EVERY: Duration = Duration::from_millis(10);
/// The most probes in flight at once; one due while this many wait is not
/// sent, and counted as unsent.
const PROBE_CAP: usize = 256;
/// How often the pool's and the limiter's stats are sampled for peaks.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);
/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// The most any one request may take before it counts as an error.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One scenario's load.
#[derive(Clone, Copy)]
pub struct Load {
    pub clients: usize,
    /// Requests each client sends.
    pub requests: usize,
    /// Every `scan_every`-th request of a client is a scan; the rest are
    /// lookups.
    pub scan_every: usize,
}

impl Load {
    pub fn total(&self) -> usize {
        self.clients * self.requests
    }

    /// Client `client`'s `n`-th query: the same in every scenario.
    fn query(&self, shape: Shape, client: usize, n: usize) -> Query {
        if (client + n) % self.scan_every == 0 {
            Query::Sku(sku_name(((client * 7 + n) % shape.skus() as usize) as u32))
        } else {
            Query::Customer(((client * 1_009 + n * 37) % shape.customers() as usize) as u32 + 1)
        }
    }
}

/// What one scenario measured.
#[derive(Default)]
pub struct Outcome {
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Each request's latency, by kind, sorted.
    pub lookups: Vec<Duration>,
    pub scans: Vec<Duration>,
    /// `/health` latencies from each probe's due time, sorted.
    pub health: Vec<Duration>,
    pub unsent: usize,
    /// Failed requests and wrong answers, and the first of them.
    pub errors: u64,
    pub first_error: Option<String>,
    /// The most pool threads running a job at once, and the most jobs the
    /// limiter ran at once (sampled).
    pub peak_busy: usize,
    pub peak_running: usize,
}

impl Outcome {
    pub fn requests(&self) -> usize {
        self.lookups.len() + self.scans.len()
    }

    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// Runs `load` against the server at `addr` and returns once every request
/// and every probe has its answer (or its timeout).
pub fn drive(
    addr: SocketAddr,
    load: Load,
    shape: Shape,
    expected: &Expected,
    pool: &Pool,
    limiter: Option<&Limiter>,
) -> Outcome {
    let agent = |max_idle: usize| {
        ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .max_idle_connections(max_idle)
            .max_idle_connections_per_host(max_idle)
            .build()
            .new_agent()
    };
    let base = format!("http://{addr}");
    let health_url = format!("{base}/health");
    // One connection for the probes is open before the load starts (a load
    // balancer's health checker keeps one): this warm-up is not timed.
    let probe = agent(PROBE_CAP);
    let mut outcome = Outcome::default();
    if let Err(err) = get(&probe, &health_url) {
        outcome.error(format!("/health (warm-up): {err}"));
    }

    let done = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    let in_flight = AtomicUsize::new(0);
    let peak_busy = AtomicUsize::new(0);
    let peak_running = AtomicUsize::new(0);
    let (probes, probe_answers) = mpsc::channel();
    let begin = Instant::now();
    let clients = thread::scope(|s| {
        let clients: Vec<_> = (0..load.clients)
            .map(|client| {
                let (base, answered) = (&base, &answered);
                s.spawn(move || {
                    let agent = agent(1);
                    let mut tally = Outcome::default();
                    for n in 0..load.requests {
                        let query = load.query(shape, client, n);
                        let url = format!("{base}{}", app::path(&query));
                        let start = Instant::now();
                        let reply = get(&agent, &url);
                        let took = start.elapsed();
                        answered.fetch_add(1, Ordering::Relaxed);
                        match reply.as_deref().map(app::parse) {
                            Ok(Some(got)) if got == expected.answer(&query) => match query {
                                Query::Customer(_) => tally.lookups.push(took),
                                Query::Sku(_) => tally.scans.push(took),
                            },
                            Ok(got) => tally.error(format!(
                                "{url}: answered {got:?}, expected {:?}",
                                expected.answer(&query)
                            )),
                            Err(err) => tally.error(format!("{url}: {err}")),
                        }
                    }
                    tally
                })
            })
            .collect();

        // The sampler: peaks, and a progress line every second.
        s.spawn(|| {
            let mut next_progress = begin + PROGRESS_EVERY;
            while !done.load(Ordering::Relaxed) {
                peak_busy.fetch_max(pool.stats().running, Ordering::Relaxed);
                if let Some(limiter) = limiter {
                    peak_running.fetch_max(limiter.stats().running, Ordering::Relaxed);
                }
                if Instant::now() >= next_progress {
                    next_progress += PROGRESS_EVERY;
                    println!(
                        "      {:>4.1} s: {} of {} requests answered",
                        begin.elapsed().as_secs_f64(),
                        answered.load(Ordering::Relaxed),
                        load.total()
                    );
                }
                thread::sleep(SAMPLE_EVERY);
            }
        });

        // The probe's schedule, on this thread, until the clients are done.
        let (probe, health_url, in_flight) = (&probe, &health_url, &in_flight);
        for k in 0u32.. {
            if clients.iter().all(|c| c.is_finished()) {
                break;
            }
            let due = begin + PROBE_EVERY * k;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            if in_flight.load(Ordering::Acquire) >= PROBE_CAP {
                outcome.unsent += 1;
                continue;
            }
            in_flight.fetch_add(1, Ordering::AcqRel);
            let probes = probes.clone();
            let spawned = thread::Builder::new()
                .name("sqlite-probe".into())
                .spawn_scoped(s, move || {
                    let answer = get(probe, health_url).map(|_| due.elapsed());
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    let _ = probes.send(answer.map_err(|err| err.to_string()));
                });
            if let Err(err) = spawned {
                in_flight.fetch_sub(1, Ordering::AcqRel);
                outcome.error(format!("/health: starting a probe thread: {err}"));
            }
        }
        let clients: Vec<Outcome> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        outcome.elapsed = begin.elapsed();
        done.store(true, Ordering::Relaxed);
        // Leaving the scope waits for the probes still in flight.
        clients
    });
    drop(probes);

    for answer in probe_answers {
        match answer {
            Ok(took) => outcome.health.push(took),
            Err(err) => outcome.error(format!("/health: {err}")),
        }
    }
    for client in clients {
        outcome.lookups.extend(client.lookups);
        outcome.scans.extend(client.scans);
        outcome.errors += client.errors;
        if let Some(err) = client.first_error {
            outcome.first_error.get_or_insert(err);
        }
    }
    outcome.lookups.sort();
    outcome.scans.sort();
    outcome.health.sort();
    outcome.peak_busy = peak_busy.into_inner();
    outcome.peak_running = peak_running.into_inner();
    outcome
}

/// One blocking GET; reads the body so the connection can be reused.
fn get(agent: &ureq::Agent, url: &str) -> Result<String, ureq::Error> {
    agent.get(url).call()?.body_mut().read_to_string()
}

/// Nearest-rank percentile of sorted `xs`.
pub fn percentile(xs: &[Duration], p: f64) -> Option<Duration> {
    let rank = (xs.len() as f64 * p).ceil() as usize;
    xs.get(rank.clamp(1, xs.len().max(1)) - 1).copied()
}
