//! A real database behind a limiter: the use this crate exists for, end
//! to end.
//!
//! The commonest synchronous client a web handler calls is a database
//! driver, and after "blocking inline" the commonest mistake is the wrong
//! limit: one connection behind a mutex (every query waits for the one
//! before it) or more concurrent calls than connections (threads pile up
//! inside the driver's own pool, waiting for a connection). The answer is a
//! [`Limiter`](threadbridge::Limiter) sized to the connection pool, sharing
//! the pool's threads. This example shows all three with real parts, all on
//! 127.0.0.1:
//!
//! - a real SQLite file ([`db`]) in a directory of its own under the temp
//!   directory, seeded with 100,000 orders (`--rows`), in WAL mode, with an
//!   index on `customer` and none on `sku`;
//! - a hyper 1 server on a **single-threaded** executor ([`server`]) with
//!   `/customer/{id}` (an indexed lookup), `/sku/{sku}` (a scan of every
//!   row) and `/health` ([`app`]), whose database call is made three ways
//!   ([`handler`]):
//!   1. inline in the async handler (the stall);
//!   2. `run` around one `Mutex<Connection>` (no stall, serialised);
//!   3. `pool.limiter(n)` around `n` pooled connections (no stall,
//!      parallel reads; `--connections`, default 4; `--limit` above it
//!      shows the other mistake: threads blocked waiting for a connection);
//! - a load driver on its own threads ([`load`]): `--clients` clients send
//!   `--requests` requests each (every `--scan-every`-th a scan), checking
//!   every answer against what the seed says it must be, while an
//!   open-loop probe times `/health` every 10 ms.
//!
//! Each variant runs on a tokio current-thread runtime, then on a smol
//! `LocalExecutor` ([`server`]): the same handler code. For each the table
//! ([`report`]) gives requests per second, each endpoint's p50 and p99,
//! `/health` p99, the executor's lag (`threadbridge::lag_probe`, p99), the
//! limiter's `token_wait` p99, the most pool threads busy at once, and how
//! many connection checkouts blocked a thread. The README's "Choosing
//! limits" reads a real run.
//!
//! ```text
//! cargo run --release --example sqlite
//! cargo run --release --example sqlite -- --limit 8
//! cargo run --release --example sqlite -- --rows 200000 --clients 16 --connections 8
//! ```
//!
//! About 22 s on 2 cores with the defaults. It exits nonzero if a request
//! failed or got a wrong answer, if the limiter ever ran more queries than
//! its limit, if a query waited for a connection while the limit was at
//! most the connections, if a connection was not back in the pool at the
//! end, if the lag probe did not see the inline stall, or if a watchdog
//! finds it still running well past its time. The database's
//! directory is removed at the end (and by the watchdog).

mod app;
mod db;
mod handler;
mod load;
mod report;
mod server;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use threadbridge::Pool;

use db::{Expected, Shape, TempDb};
use handler::{Handler, Variant};
use load::Load;
use report::Row;

const USAGE: &str = "usage: sqlite [--rows N] [--clients N] [--requests N] [--scan-every N] [--connections N] [--limit N]
  --rows N         orders in the database, 1000 to 10000000 (default 100000)
  --clients N      concurrent clients, 1 to 256 (default 8)
  --requests N     requests per client and variant, 1 to 100000 (default 200)
  --scan-every N   every N-th request is a scan, the rest lookups, 1 to 1000 (default 2)
  --connections N  the pooled variant's connections, 1 to 64 (default 4)
  --limit N        its limiter's limit, 1 to 64 (default: as many as connections; more shows
                   threads waiting for a connection)";

struct Config {
    shape: Shape,
    load: Load,
    connections: usize,
    limit: Option<usize>,
}

impl Config {
    fn from_args() -> Result<Config, String> {
        let mut config = Config {
            shape: Shape { rows: 100_000 },
            load: Load {
                clients: 8,
                requests: 200,
                scan_every: 2,
            },
            connections: 4,
            limit: None,
        };
        let mut rows = 100_000;
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(String::new());
            }
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let n: usize = value
                .parse()
                .map_err(|_| format!("{flag}: not a number: {value:?}"))?;
            let (slot, range) = match flag.as_str() {
                "--rows" => (&mut rows, 1_000..=10_000_000),
                "--clients" => (&mut config.load.clients, 1..=256),
                "--requests" => (&mut config.load.requests, 1..=100_000),
                "--scan-every" => (&mut config.load.scan_every, 1..=1_000),
                "--connections" => (&mut config.connections, 1..=64),
                "--limit" => (config.limit.insert(0), 1..=64),
                _ => return Err(format!("unknown flag {flag}")),
            };
            if !range.contains(&n) {
                return Err(format!(
                    "{flag} must be {} to {}, got {n}",
                    range.start(),
                    range.end()
                ));
            }
            *slot = n;
        }
        config.shape.rows = rows as u32;
        Ok(config)
    }
}

/// How often the lag probe ticks.
const LAG_EVERY: Duration = Duration::from_millis(5);
/// Past this the run is hung, not slow.
const WATCHDOG: Duration = Duration::from_secs(300);

/// The executors the server runs on, in the order they run.
const EXECUTORS: [(&str, server::Start); 2] = [
    ("tokio current-thread runtime", server::tokio),
    ("smol LocalExecutor on one thread", server::smol),
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
    let started = Instant::now();
    let db = match TempDb::new("sqlite-example") {
        Ok(db) => db,
        Err(err) => {
            eprintln!(
                "could not make a directory under {:?}: {err}",
                std::env::temp_dir()
            );
            return ExitCode::FAILURE;
        }
    };
    {
        let dir = db.dir().to_path_buf();
        thread::spawn(move || {
            thread::sleep(WATCHDOG);
            eprintln!(
                "sqlite: still running after {} s: hung, giving up",
                WATCHDOG.as_secs()
            );
            let _ = std::fs::remove_dir_all(dir);
            std::process::exit(3);
        });
    }

    let Config {
        shape,
        load,
        connections,
        limit,
    } = config;
    let limit = limit.unwrap_or(connections);
    print!(
        "Seeding {} with {} orders ({} customers, {} products)... ",
        db.path().display(),
        shape.rows,
        shape.customers(),
        shape.skus()
    );
    let _ = std::io::stdout().flush();
    let t = Instant::now();
    if let Err(err) = db::seed(db.path(), shape) {
        eprintln!("\nseeding failed: {err}");
        return ExitCode::FAILURE;
    }
    let size = std::fs::metadata(db.path()).map_or(0, |m| m.len());
    println!(
        "{:.1} s, {:.1} MB.",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    let expected = Expected::new(shape);
    println!(
        "{clients} clients send {requests} requests each per variant: 1 in {scan} a scan of every row
(/sku/..., no index), the rest indexed lookups (/customer/...); every answer is checked.
An open-loop probe sends GET /health every 10 ms. Times are each request's round trip on
127.0.0.1; /health p99 from each probe's scheduled send; lag p99: threadbridge::lag_probe on
the server's executor; token_wait p99: LimiterStats::token_wait; busy: the most pool threads
running a job at once (the pool's max_threads is 40, Starlette's default); conn waits: how
many times a query found no idle connection and blocked its thread until one came back.",
        clients = load.clients,
        requests = load.requests,
        scan = load.scan_every,
    );

    let mut failures = Vec::new();
    for (executor, start) in EXECUTORS {
        println!();
        println!("{executor}:");
        // One pool per executor, with the default cap (Starlette's 40).
        let pool = Pool::builder()
            .thread_name(|i| format!("sqlite-pool-{i}"))
            .build()
            .expect("build the pool");
        let mut rows = Vec::new();
        for variant in Variant::ALL {
            let name = variant.describe(connections, limit);
            println!("    {name}: {} requests...", load.total());
            let handler = match Handler::new(variant, db.path(), &pool, connections, limit) {
                Ok(handler) => Arc::new(handler),
                Err(err) => {
                    failures.push(format!("{executor}, {name}: could not connect: {err}"));
                    continue;
                }
            };
            let (probe, monitor) = threadbridge::lag_probe(LAG_EVERY);
            let server = start(Arc::clone(&handler), probe).expect("start the server");
            let outcome = load::drive(
                server.addr,
                load,
                shape,
                &expected,
                &pool,
                handler.limiter(),
            );
            server.stop();
            println!(
                "      done: {} requests in {:.1} s",
                outcome.requests(),
                outcome.elapsed.as_secs_f64()
            );
            if let Some(conns) = handler.connections() {
                if conns.idle() != connections {
                    failures.push(format!(
                        "{executor}, {name}: {} of {connections} connections back in the pool",
                        conns.idle()
                    ));
                }
            }
            rows.push(Row {
                variant,
                name,
                outcome,
                lag: monitor.lag(),
                token_wait: handler.limiter().map(|l| l.stats().token_wait),
                conn_waits: handler.connections().map(|c| c.waits()),
            });
        }
        let config = format!(
            "{} clients x {} requests per variant, {} orders",
            load.clients, load.requests, shape.rows
        );
        report::table(executor, &config, &rows);
        failures.extend(report::check(executor, connections, limit, &rows));
        if !pool.shutdown_timeout(Duration::from_secs(5)) {
            failures.push(format!("{executor}: the pool's threads did not exit"));
        }
    }

    let dir = db.dir().display().to_string();
    drop(db);
    println!(
        "Removed {dir}. {:.1} s in all.",
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        println!("ok: every answer right, the inline stall seen, the limiter within its {limit}.");
        ExitCode::SUCCESS
    } else {
        for failure in &failures {
            eprintln!("FAILED: {failure}");
        }
        ExitCode::FAILURE
    }
}
