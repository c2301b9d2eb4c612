//! The handler's database call, three ways: the same query, inline in the
//! async handler, offloaded around one connection behind a mutex, and
//! offloaded through a limiter sized to a pool of connections.
//!
//! `tests/sqlite.rs` includes this file (`#[path]`) and awaits
//! [`Handler::query`] under tokio and smol, as the server's routes do.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use threadbridge::{Limiter, Pool};

use crate::db::{self, Answer, Connections, Query};

/// How the handler reaches the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The query runs right inside the async handler: the stall.
    Inline,
    /// `run` around one `Mutex<Connection>`: no stall, but one query at a
    /// time, and every other call holds a pool thread while it waits for
    /// the mutex.
    Mutex,
    /// `pool.limiter(n)` around `n` pooled connections: no stall, up to `n`
    /// queries at once, and the others wait as parked futures, holding no
    /// thread.
    Pooled,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Inline, Variant::Mutex, Variant::Pooled];

    /// How the table names it.
    pub fn describe(self, connections: usize, limit: usize) -> String {
        match self {
            Variant::Inline => "1. inline in the handler".into(),
            Variant::Mutex => "2. run + Mutex<Connection>".into(),
            Variant::Pooled => format!("3. limiter({limit}) + {connections} conns"),
        }
    }
}

enum Store {
    Inline(Mutex<Connection>),
    Mutex {
        conn: Arc<Mutex<Connection>>,
        pool: Pool,
    },
    Pooled {
        conns: Arc<Connections>,
        limiter: Limiter,
    },
}

/// What a route calls to query the database.
pub struct Handler {
    store: Store,
}

impl Handler {
    /// A handler of `variant` on the seeded file at `path`, offloading to
    /// `pool`. [`Variant::Pooled`] opens `connections` connections and
    /// takes `pool.limiter(limit)`: `limit` is `connections` unless you
    /// mean to show what a larger one does. The others open one connection.
    pub fn new(
        variant: Variant,
        path: &Path,
        pool: &Pool,
        connections: usize,
        limit: usize,
    ) -> rusqlite::Result<Self> {
        let store = match variant {
            Variant::Inline => Store::Inline(Mutex::new(db::connect(path)?)),
            Variant::Mutex => Store::Mutex {
                conn: Arc::new(Mutex::new(db::connect(path)?)),
                pool: pool.clone(),
            },
            Variant::Pooled => Store::Pooled {
                conns: Connections::open(path, connections)?,
                // The one line this example is about: as many queries at
                // once as there are connections, no more.
                limiter: pool.limiter(limit),
            },
        };
        Ok(Handler { store })
    }

    /// The limiter of a [`Variant::Pooled`] handler.
    pub fn limiter(&self) -> Option<&Limiter> {
        match &self.store {
            Store::Pooled { limiter, .. } => Some(limiter),
            _ => None,
        }
    }

    /// The connection pool of a [`Variant::Pooled`] handler.
    pub fn connections(&self) -> Option<&Arc<Connections>> {
        match &self.store {
            Store::Pooled { conns, .. } => Some(conns),
            _ => None,
        }
    }

    /// Runs `query`, as an async handler would.
    pub async fn query(&self, query: Query) -> rusqlite::Result<Answer> {
        match &self.store {
            // THE BUG, on purpose: the executor's thread runs the query, and
            // every other task on it (a health check included) waits until
            // SQLite has read its rows.
            Store::Inline(conn) => query.run(&conn.lock().expect("a query panicked")),

            // No stall, but serialised: one connection, so one query at a
            // time. The others each hold a pool thread, blocked on the
            // mutex. With the global pool this reads
            // `threadbridge::run(move || ..).await`.
            Store::Mutex { conn, pool } => {
                let conn = Arc::clone(conn);
                pool.run(move || query.run(&conn.lock().expect("a query panicked")))
                    .await
            }

            // The fix: at most `n` queries run, each on its own connection;
            // the rest wait for a token without a thread, so `get` never
            // blocks.
            Store::Pooled { conns, limiter } => {
                let conns = Arc::clone(conns);
                limiter.run(move || query.run(&conns.get())).await
            }
        }
    }
}
