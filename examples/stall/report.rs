//! The tables and the pass/fail checks.

use std::time::Duration;

use crate::load::{Outcome, PROBE_CAP};

/// Prints one executor's table: the two scenarios side by side.
pub fn table(executor: &str, config: &str, inline: &Outcome, offloaded: &Outcome) {
    println!("{executor}, {config}:");
    println!();
    println!(
        "| {:<30} | {:>9} | {:>6} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>6} | {:>7} | {:>6} | {:>9} | {:>7} |",
        "clients hammer",
        "/health n",
        "unsent",
        "p50",
        "p99",
        "max",
        "lag p50",
        "lag p99",
        "lag max",
        "served",
        "threads",
        "queued",
        "completed",
        "starved"
    );
    println!(
        "|{:-<32}|{:->11}|{:->8}|{:->12}|{:->12}|{:->12}|{:->12}|{:->12}|{:->12}|{:->8}|{:->9}|{:->8}|{:->11}|{:->9}|",
        "", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":"
    );
    row("/inline (blocking in handler)", inline);
    row("/offloaded (pool.run)", offloaded);
    println!();
    if let (Some(bad), Some(good)) = (p99(inline), p99(offloaded)) {
        println!(
            "/health p99 under load: {} inline, {} offloaded ({:.0}x lower); slow calls served: {} vs {}.",
            ms(bad),
            ms(good),
            bad.as_secs_f64() / good.as_secs_f64().max(1e-6),
            inline.served,
            offloaded.served,
        );
    }
    println!(
        "executor lag (lag_probe, {} ticks): p99 {} inline, {} offloaded.",
        inline.lag.count() + offloaded.lag.count(),
        ms(inline.lag.quantile(0.99)),
        ms(offloaded.lag.quantile(0.99)),
    );
    println!(
        "/health probes in flight at most: {} inline, {} offloaded (cap {PROBE_CAP}).",
        inline.peak_in_flight, offloaded.peak_in_flight
    );
    println!();
}

fn row(name: &str, o: &Outcome) {
    let stat = |d: Option<Duration>| d.map_or_else(|| "-".to_string(), ms);
    println!(
        "| {name:<30} | {:>9} | {:>6} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>6} | {:>7} | {:>6} | {:>9} | {:>7} |",
        o.health.len(),
        o.unsent,
        stat(percentile(&o.health, 0.50)),
        stat(p99(o)),
        stat(o.health.last().copied()),
        ms(o.lag.quantile(0.5)),
        ms(o.lag.quantile(0.99)),
        ms(o.lag.max()),
        o.served,
        o.pool.peak_threads,
        o.pool.peak_queued,
        o.pool.completed,
        o.starved,
    );
}

/// What went wrong for one executor; empty if the demo showed what it should.
pub fn check(executor: &str, threads: usize, inline: &Outcome, offloaded: &Outcome) -> Vec<String> {
    let mut failures = Vec::new();
    for (route, o) in [("/inline", inline), ("/offloaded", offloaded)] {
        if let Some(err) = &o.first_error {
            failures.push(format!(
                "{executor} {route}: {} failed requests, first: {err}",
                o.errors
            ));
        }
        if o.served == 0 {
            failures.push(format!("{executor} {route}: no slow call was served"));
        }
    }
    // Offloaded, the server is never stalled: every probe is sent and
    // answered. (A failed one is reported above.)
    if offloaded.health.len() != offloaded.probes {
        failures.push(format!(
            "{executor}: {} of {} /health probes answered under offloaded load, {} not sent",
            offloaded.health.len(),
            offloaded.probes,
            offloaded.unsent
        ));
    }
    match (p99(inline), p99(offloaded)) {
        (Some(bad), Some(good)) if good * 10 <= bad => {}
        (Some(bad), Some(good)) => failures.push(format!(
            "{executor}: offloaded /health p99 {} is not far below inline's {}",
            ms(good),
            ms(bad)
        )),
        _ => failures.push(format!("{executor}: no /health answer to compare")),
    }
    // The lag probe sees what /health sees: the executor blocked inline.
    if inline.lag.max() < offloaded.lag.max() * 10 {
        failures.push(format!(
            "{executor}: the lag probe did not see the inline stall: max {} inline, {} offloaded",
            ms(inline.lag.max()),
            ms(offloaded.lag.max())
        ));
    }
    if inline.pool.completed != 0 {
        failures.push(format!("{executor}: the pool ran jobs during /inline"));
    }
    if offloaded.pool.completed < offloaded.served || offloaded.pool.peak_threads > threads {
        failures.push(format!(
            "{executor}: pool stats do not add up: {} completed for {} served, peak {} threads of {threads}",
            offloaded.pool.completed, offloaded.served, offloaded.pool.peak_threads
        ));
    }
    failures
}

fn p99(o: &Outcome) -> Option<Duration> {
    percentile(&o.health, 0.99)
}

/// Nearest-rank percentile of sorted `xs`.
fn percentile(xs: &[Duration], p: f64) -> Option<Duration> {
    let rank = (xs.len() as f64 * p).ceil() as usize;
    xs.get(rank.clamp(1, xs.len().max(1)) - 1).copied()
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
