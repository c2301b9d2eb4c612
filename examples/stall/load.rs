//! The load driver. It runs on plain std threads with its own blocking
//! clients, so nothing it does borrows the executor under test.
//!
//! The `/health` probe is open-loop: it sends on a fixed schedule, one probe
//! every [`PROBE_EVERY`], whether or not earlier probes have been answered,
//! and times each from the instant it was *scheduled* to go out to its
//! answer. A closed-loop probe (ask, wait for the answer, ask again) would
//! stop asking while the server is stalled and so leave the stall out of its
//! numbers (coordinated omission); this one keeps asking, and each probe
//! caught in the stall counts the whole of its wait.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use threadbridge::{LagMonitor, Pool, Timing};

/// The probe's schedule: one `/health` request every 10 ms, 100 a second,
/// so a 3 s scenario has 300 samples and its p99 (nearest rank) is the
/// 297th. Each probe gets a short-lived thread of its own: spawning 100
/// threads a second is the probe's cost.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);
/// The most probes in flight at once (each a thread and a connection, which
/// is two file descriptors here, as the server is in this process too). At
/// [`PROBE_EVERY`] that is 5.12 s of stall; a probe due while this many are
/// waiting is not sent, and counted as unsent: the server is stalled.
pub const PROBE_CAP: usize = 512;
/// How often the pool's stats are sampled for their peaks.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// One scenario's load.
pub struct Load {
    /// Clients calling the slow route back to back.
    pub clients: usize,
    /// How long the clients and the probe keep going.
    pub duration: Duration,
    /// The most any one slow-route request may take before it counts as an
    /// error. A probe may take `duration` longer ([`Load::probe_timeout`]).
    pub timeout: Duration,
}

impl Load {
    /// How many probes the schedule sends: one every [`PROBE_EVERY`] from
    /// the start of the scenario until `duration` has passed.
    pub fn probes(&self) -> usize {
        let every = PROBE_EVERY.as_nanos();
        ((self.duration.as_nanos() + every - 1) / every) as usize
    }

    /// The most one probe may take before it counts as an error: sent into
    /// a stall early in the scenario, it can wait out the whole scenario
    /// and then the drain of the slow calls still in flight.
    pub fn probe_timeout(&self) -> Duration {
        self.duration + self.timeout
    }
}

/// What one scenario measured.
pub struct Outcome {
    /// The executor's lag during the scenario (the lag probe's ticks).
    pub lag: Timing,
    /// Over time, from the scenario's start: each `/health` probe's
    /// latency, by when it was due, and the executor's lag (the probe's
    /// `overdue`, the largest seen in each 10 ms), both (seconds, ms).
    pub health_series: Vec<(f64, f64)>,
    pub lag_series: Vec<(f64, f64)>,
    /// Starvation episodes of the pool during the scenario.
    pub starved: u64,
    /// `/health` latencies, each from its probe's scheduled send time to its
    /// answer, sorted; probes still waiting when the scenario ended included.
    pub health: Vec<Duration>,
    /// Probes the schedule called for ([`Load::probes`]).
    pub probes: usize,
    /// Probes not sent because [`PROBE_CAP`] were already in flight.
    pub unsent: usize,
    /// The most probes in flight at once.
    pub peak_in_flight: usize,
    /// Slow-route requests answered with 200.
    pub served: u64,
    /// Failed requests, slow route and probe together, and the first error.
    pub errors: u64,
    pub first_error: Option<String>,
    /// What the pool did meanwhile.
    pub pool: PoolUse,
}

/// Peaks sampled from `Pool::stats` during a scenario, and its jobs done.
#[derive(Clone, Copy, Default)]
pub struct PoolUse {
    pub peak_threads: usize,
    pub peak_queued: usize,
    pub completed: u64,
}

/// Requests on one client thread.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn record<T>(&mut self, result: Result<T, ureq::Error>, what: &str) -> Option<T> {
        match result {
            Ok(value) => {
                self.ok += 1;
                Some(value)
            }
            Err(err) => {
                self.errors += 1;
                self.first_error
                    .get_or_insert_with(|| format!("{what}: {err}"));
                None
            }
        }
    }
}

/// Runs `load.clients` clients against `route` of `server` while the
/// open-loop probe times `/health`, and samples `pool` throughout. Returns
/// once every client and every probe has had its answer (or its timeout).
pub fn drive(
    server: SocketAddr,
    route: &str,
    load: &Load,
    pool: &Pool,
    monitor: &LagMonitor,
) -> Outcome {
    let agent = || {
        ureq::Agent::config_builder()
            .timeout_global(Some(load.timeout))
            .build()
            .new_agent()
    };
    let slow_url = format!("http://{server}{route}");
    let health_url = format!("http://{server}/health");

    // The probes share one agent, and so its pool of idle connections: a
    // probe reuses a connection an earlier probe has finished with, and
    // opens one when none is idle (while the server is stalled).
    let probe = ureq::Agent::config_builder()
        .timeout_global(Some(load.probe_timeout()))
        .max_idle_connections(PROBE_CAP)
        .max_idle_connections_per_host(PROBE_CAP)
        .build()
        .new_agent();
    // A first connection is open before the load starts, as a load
    // balancer's health checker would have it. This warm-up is not timed.
    let mut probe_tally = Tally::default();
    probe_tally.record(get(&probe, &health_url), "/health");

    let before = pool.stats();
    let lag_before = monitor.lag();
    let done = AtomicBool::new(false);
    let in_flight = AtomicUsize::new(0);
    let (answers, answered) = mpsc::channel();
    let begin = Instant::now();
    let deadline = begin + load.duration;
    let (mut tallies, unsent, peak_in_flight, pool_use) = thread::scope(|s| {
        let clients: Vec<_> = (0..load.clients)
            .map(|_| {
                s.spawn(|| {
                    let agent = agent();
                    let mut tally = Tally::default();
                    while Instant::now() < deadline {
                        tally.record(get(&agent, &slow_url), route);
                    }
                    tally
                })
            })
            .collect();
        let sampler = s.spawn(|| {
            let mut peaks = PoolUse::default();
            let mut lag_series: Vec<(f64, f64)> = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let now = pool.stats();
                peaks.peak_threads = peaks.peak_threads.max(now.threads);
                peaks.peak_queued = peaks.peak_queued.max(now.queued);
                // The executor's lag now, seen from outside it: the largest
                // of each 10 ms goes in the series.
                let t = begin.elapsed().as_secs_f64();
                let overdue = monitor.overdue().as_secs_f64() * 1e3;
                let slot = (t * 100.0).floor() / 100.0;
                match lag_series.last_mut() {
                    Some(last) if last.0 == slot => last.1 = last.1.max(overdue),
                    _ => lag_series.push((slot, overdue)),
                }
                thread::sleep(SAMPLE_EVERY);
            }
            (peaks, lag_series)
        });

        // The probe's schedule, on this thread: probe `k` is due at
        // `begin + k * PROBE_EVERY` and goes out then on a thread of its own,
        // however many earlier probes are still waiting, up to PROBE_CAP.
        // Only this thread adds to `in_flight`, so a load then an add is
        // not a race. If this thread runs late, the probes it owes go out
        // at once, and their latencies include the lateness.
        let (mut unsent, mut peak_in_flight) = (0, 0);
        let (probe, health_url, in_flight) = (&probe, &health_url, &in_flight);
        for k in 0..load.probes() {
            let due = begin + PROBE_EVERY * k as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            let waiting = in_flight.load(Ordering::Acquire);
            if waiting >= PROBE_CAP {
                unsent += 1;
                continue;
            }
            in_flight.fetch_add(1, Ordering::AcqRel);
            peak_in_flight = peak_in_flight.max(waiting + 1);
            let answers = answers.clone();
            let spawned = thread::Builder::new()
                .name("stall-probe".into())
                .spawn_scoped(s, move || {
                    let answer = get(probe, health_url).map(|_| (due - begin, due.elapsed()));
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    let _ = answers.send(answer);
                });
            // The handle is dropped: the scope still waits for the thread.
            if let Err(err) = spawned {
                in_flight.fetch_sub(1, Ordering::AcqRel);
                probe_tally.record::<()>(Err(err.into()), "/health: starting a probe thread");
            }
        }

        let mut tallies: Vec<Tally> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        tallies.push(probe_tally);
        done.store(true, Ordering::Relaxed);
        // Leaving the scope waits for the probes still in flight: each ends
        // with its answer or at `load.probe_timeout()`.
        (tallies, unsent, peak_in_flight, sampler.join().unwrap())
    });
    drop(answers);

    let probe_tally = tallies.last_mut().expect("the probe's tally");
    let mut health_series: Vec<(f64, f64)> = answered
        .into_iter()
        .filter_map(|answer| probe_tally.record(answer, "/health"))
        .map(|(at, took): (Duration, Duration)| (at.as_secs_f64(), took.as_secs_f64() * 1e3))
        .collect();
    health_series.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut health: Vec<Duration> = health_series
        .iter()
        .map(|&(_, ms)| Duration::from_secs_f64(ms / 1e3))
        .collect();
    health.sort();
    let served = tallies[..load.clients].iter().map(|t| t.ok).sum();
    let errors = tallies.iter().map(|t| t.errors).sum();
    let first_error = tallies.into_iter().find_map(|t| t.first_error);
    let after = pool.stats();
    let completed = after.completed - before.completed;
    let (pool_use, lag_series) = pool_use;
    Outcome {
        lag: monitor.lag().since(&lag_before),
        health_series,
        lag_series,
        starved: after.starved - before.starved,
        health,
        probes: load.probes(),
        unsent,
        peak_in_flight,
        served,
        errors,
        first_error,
        pool: PoolUse {
            completed,
            ..pool_use
        },
    }
}

/// One blocking GET; reads the body so the connection can be reused.
fn get(agent: &ureq::Agent, url: &str) -> Result<String, ureq::Error> {
    agent.get(url).call()?.body_mut().read_to_string()
}
