//! The database: a real SQLite file of orders, seeded the same way every
//! time, the two queries the server answers, and a small pool of
//! connections of its own (what r2d2 or a driver's pool would be).
//!
//! `tests/sqlite.rs` includes this file (`#[path]`), so the test runs the
//! same queries on the same kind of file as the example.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, ToSql};

/// How big the database is: `rows` orders from `rows / 10` customers, over
/// `rows / 100` products (at least one of each).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub rows: u32,
}

impl Shape {
    pub fn customers(self) -> u32 {
        (self.rows / 10).max(1)
    }

    pub fn skus(self) -> u32 {
        (self.rows / 100).max(1)
    }

    /// Order `id` (1-based): every field follows from the id, so a test (or
    /// the load driver) knows every answer without asking the database.
    pub fn order(self, id: u32) -> Order {
        let i = u64::from(id);
        // Strides coprime with the counts spread each customer's and each
        // product's orders over the whole table (a scan can't stop early).
        let customer = (i * 7_919 % u64::from(self.customers())) as u32 + 1;
        let sku = (i * 31 % u64::from(self.skus())) as u32;
        let cents = (i * 2_654_435_761 % 100_000) as i64 + 100;
        Order {
            id,
            customer,
            sku: sku_name(sku),
            cents,
            note: format!("order {id}: 1 x {} for customer {customer}", sku_name(sku)),
        }
    }
}

pub struct Order {
    pub id: u32,
    pub customer: u32,
    pub sku: String,
    pub cents: i64,
    pub note: String,
}

pub fn sku_name(n: u32) -> String {
    format!("SKU-{n:05}")
}

/// What the server is asked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// A customer's orders: an indexed lookup (`orders_customer`), about
    /// ten rows read.
    Customer(u32),
    /// A product's orders: `sku` has no index, so every row is read.
    Sku(String),
}

/// What a query answers: how many orders matched, and their total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub orders: i64,
    pub cents: i64,
}

impl Query {
    /// Runs the query: a blocking call that holds its thread until SQLite
    /// has read the rows.
    pub fn run(&self, conn: &Connection) -> rusqlite::Result<Answer> {
        let (sql, key): (&str, &dyn ToSql) = match self {
            Query::Customer(id) => (
                "SELECT count(*), coalesce(sum(cents), 0) FROM orders WHERE customer = ?1",
                id,
            ),
            Query::Sku(sku) => (
                "SELECT count(*), coalesce(sum(cents), 0) FROM orders WHERE sku = ?1",
                sku,
            ),
        };
        conn.prepare_cached(sql)?.query_row([key], |r| {
            Ok(Answer {
                orders: r.get(0)?,
                cents: r.get(1)?,
            })
        })
    }
}

/// Every answer the database can give, computed from [`Shape::order`]
/// without SQLite: `customers[c - 1]` and `skus[n]`.
pub struct Expected {
    pub customers: Vec<Answer>,
    pub skus: Vec<Answer>,
}

impl Expected {
    pub fn new(shape: Shape) -> Self {
        let mut customers = vec![Answer::default(); shape.customers() as usize];
        let mut skus = vec![Answer::default(); shape.skus() as usize];
        for id in 1..=shape.rows {
            let order = shape.order(id);
            let sku: usize = order.sku["SKU-".len()..].parse().expect("a SKU number");
            for answer in [&mut customers[order.customer as usize - 1], &mut skus[sku]] {
                answer.orders += 1;
                answer.cents += order.cents;
            }
        }
        Expected { customers, skus }
    }

    /// The right answer to `query`; zero orders for an unknown key.
    pub fn answer(&self, query: &Query) -> Answer {
        let found = match query {
            Query::Customer(id) => (*id as usize)
                .checked_sub(1)
                .and_then(|i| self.customers.get(i)),
            Query::Sku(sku) => sku
                .strip_prefix("SKU-")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|_| sku.len() == "SKU-00000".len())
                .and_then(|n| self.skus.get(n)),
        };
        found.copied().unwrap_or_default()
    }
}

/// A database file in a directory of its own under the system's temp
/// directory (`std::env::temp_dir()`, named with `tag` and the process id),
/// removed with everything in it (the `-wal` and `-shm` files too) on drop.
pub struct TempDb {
    dir: PathBuf,
    path: PathBuf,
}

impl TempDb {
    pub fn new(tag: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("threadbridge-{tag}-{}", std::process::id()));
        // Left over from a crashed run with the same pid: start afresh.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("orders.db");
        Ok(TempDb { dir, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates the table and its index, fills it in one transaction, and puts
/// the file in WAL mode (readers on other connections then run in parallel
/// with each other and with a writer). The `customer` column is indexed;
/// `sku` on purpose is not.
pub fn seed(path: &Path, shape: Shape) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = Connection::open(path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite refused WAL mode (journal_mode is {mode})").into());
    }
    conn.execute_batch(
        "CREATE TABLE orders (
             id       INTEGER PRIMARY KEY,
             customer INTEGER NOT NULL,
             sku      TEXT NOT NULL,
             cents    INTEGER NOT NULL,
             note     TEXT NOT NULL
         );",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO orders (id, customer, sku, cents, note) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for id in 1..=shape.rows {
            let o = shape.order(id);
            insert.execute(params![o.id, o.customer, o.sku, o.cents, o.note])?;
        }
    }
    tx.execute_batch("CREATE INDEX orders_customer ON orders (customer);")?;
    tx.commit()?;
    // Fresh statistics for the planner, as a deployed database would have.
    conn.execute_batch("ANALYZE;")?;
    Ok(())
}

/// Opens one connection to the seeded file, as every variant does. Read
/// only (`query_only`): the server never writes. A connection that finds
/// the file locked waits up to 5 s (rusqlite's default busy timeout, said
/// out loud here) before it gives up.
pub fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

/// A fixed set of open connections: [`Connections::get`] takes one, and
/// the [`Conn`] it returns puts it back when dropped. Like a synchronous
/// driver's pool (r2d2's, JDBC's), a `get` with none idle **blocks its
/// thread** until one comes back: call it from a pool thread, never from
/// an executor's, and run at most as many of them at once as
/// there are connections (`pool.limiter(n)`), or the extra calls sit on
/// threads doing nothing ([`Connections::waits`] counts them).
pub struct Connections {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
    waits: AtomicU64,
}

impl Connections {
    /// Opens `n` connections to `path`.
    pub fn open(path: &Path, n: usize) -> rusqlite::Result<Arc<Self>> {
        let idle = (0..n)
            .map(|_| connect(path))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Arc::new(Connections {
            idle: Mutex::new(idle),
            returned: Condvar::new(),
            waits: AtomicU64::new(0),
        }))
    }

    /// How many are idle now.
    pub fn idle(&self) -> usize {
        self.idle.lock().expect("connection pool lock").len()
    }

    /// How many `get` calls so far found no idle connection and blocked
    /// their thread until one came back.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Takes an idle connection, blocking until one is returned if none is.
    pub fn get(self: &Arc<Self>) -> Conn {
        let mut idle = self.idle.lock().expect("connection pool lock");
        if idle.is_empty() {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
        loop {
            if let Some(conn) = idle.pop() {
                return Conn {
                    conn: Some(conn),
                    pool: Arc::clone(self),
                };
            }
            idle = self.returned.wait(idle).expect("connection pool lock");
        }
    }
}

/// A connection taken from [`Connections`]; back in the pool on drop.
pub struct Conn {
    conn: Option<Connection>,
    pool: Arc<Connections>,
}

impl Deref for Conn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a live Conn holds its connection")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .idle
                .lock()
                .expect("connection pool lock")
                .push(conn);
            self.pool.returned.notify_one();
        }
    }
}
