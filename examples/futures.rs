//! `threadbridge` under `futures::executor`: split a CPU-heavy count over a
//! pool of 4 threads, await the parts together, then shut the pool down.
//!
//! `cargo run --release --example futures`

use futures::executor::block_on;
use futures::future::join_all;
use threadbridge::Pool;

/// Counts primes in `range` by trial division: deliberately slow, blocking work.
fn count_primes(range: std::ops::Range<u64>) -> usize {
    range
        .filter(|&n| n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count()
}

fn main() {
    let pool = Pool::builder().max_threads(4).build().expect("pool");
    block_on(async {
        const LIMIT: u64 = 2_000_000;
        const PARTS: u64 = 8;
        let step = LIMIT / PARTS;
        let parts = (0..PARTS).map(|i| pool.run(move || count_primes(i * step..(i + 1) * step)));
        let counts = join_all(parts).await;
        println!(
            "primes below {LIMIT}: {} (parts: {counts:?})",
            counts.iter().sum::<usize>()
        );

        let stats = pool.stats();
        println!("threads: {}, completed: {}", stats.threads, stats.completed);
        pool.shutdown().await; // every worker has exited
    });
}
