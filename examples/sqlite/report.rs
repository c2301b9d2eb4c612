//! The table, one per executor, and the pass/fail checks.

use std::time::Duration;

use threadbridge::Timing;

use crate::handler::Variant;
use crate::load::{percentile, Outcome};

/// One variant's run on one executor.
pub struct Row {
    pub variant: Variant,
    pub name: String,
    pub outcome: Outcome,
    /// The executor's lag during the run (its own lag probe).
    pub lag: Timing,
    /// The limiter's token waits; `None` for the variants without one.
    pub token_wait: Option<Timing>,
    /// Connection checkouts that blocked a thread (`Connections::waits`);
    /// `None` for the variants without the connection pool.
    pub conn_waits: Option<u64>,
}

/// Prints one executor's table.
pub fn table(executor: &str, config: &str, rows: &[Row]) {
    println!();
    println!("{executor}, {config}:");
    println!();
    println!(
        "| {:<28} | {:>8} | {:>7} | {:>10} | {:>10} | {:>10} | {:>10} | {:>11} | {:>9} | {:>14} | {:>4} | {:>10} |",
        "variant",
        "requests",
        "req/s",
        "lookup p50",
        "lookup p99",
        "scan p50",
        "scan p99",
        "/health p99",
        "lag p99",
        "token_wait p99",
        "busy",
        "conn waits",
    );
    println!(
        "|{:-<30}|{:->10}|{:->9}|{:->12}|{:->12}|{:->12}|{:->12}|{:->13}|{:->11}|{:->16}|{:->6}|{:->12}|",
        "", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":", ":"
    );
    for row in rows {
        let o = &row.outcome;
        let stat = |xs: &[Duration], p| percentile(xs, p).map_or_else(|| "-".into(), ms);
        println!(
            "| {:<28} | {:>8} | {:>7.0} | {:>10} | {:>10} | {:>10} | {:>10} | {:>11} | {:>9} | {:>14} | {:>4} | {:>10} |",
            row.name,
            o.requests(),
            o.requests() as f64 / o.elapsed.as_secs_f64(),
            stat(&o.lookups, 0.50),
            stat(&o.lookups, 0.99),
            stat(&o.scans, 0.50),
            stat(&o.scans, 0.99),
            stat(&o.health, 0.99),
            ms(row.lag.quantile(0.99)),
            row.token_wait
                .as_ref()
                .map_or_else(|| "-".into(), |t| ms(t.quantile(0.99))),
            o.peak_busy,
            row.conn_waits.map_or_else(|| "-".into(), |n| n.to_string()),
        );
    }
    println!();
}

/// What went wrong on one executor; empty if the run showed what it should.
pub fn check(executor: &str, connections: usize, limit: usize, rows: &[Row]) -> Vec<String> {
    let mut failures = Vec::new();
    for row in rows {
        let o = &row.outcome;
        if let Some(err) = &o.first_error {
            failures.push(format!(
                "{executor}, {}: {} failed requests or wrong answers, first: {err}",
                row.name, o.errors
            ));
        }
        if row.variant != Variant::Pooled {
            continue;
        }
        if o.peak_running > limit || o.peak_busy > limit {
            failures.push(format!(
                "{executor}, {}: {} queries ran at once on {} threads, above the limit of {limit}",
                row.name, o.peak_running, o.peak_busy
            ));
        }
        // The point of sizing the limiter to the pool: no query ever
        // holds a thread while it waits for a connection.
        match row.conn_waits {
            Some(waits) if limit <= connections && waits > 0 => failures.push(format!(
                "{executor}, {}: {waits} queries waited for a connection with the limit at {limit} of {connections}",
                row.name
            )),
            _ => {}
        }
    }
    // The stall, seen by the lag probe: inline, the executor's thread runs
    // every query, so a tick waits behind the queries queued before it;
    // offloaded, it waits for a CPU at most. p99, not the worst tick, and
    // only twofold: on 2 busy cores (clients, server and queries in one
    // process) an offloaded tick now and then waits a time slice or two.
    let inline = rows.iter().find(|r| r.variant == Variant::Inline);
    for (inline, offloaded) in rows
        .iter()
        .filter(|r| r.variant != Variant::Inline)
        .filter_map(|r| Some((inline?, r)))
    {
        let (bad, good) = (inline.lag.quantile(0.99), offloaded.lag.quantile(0.99));
        if bad < good * 2 {
            failures.push(format!(
                "{executor}: the lag probe did not see the inline stall: p99 {} inline, {} for {}",
                ms(bad),
                ms(good),
                offloaded.name
            ));
        }
    }
    failures
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}
