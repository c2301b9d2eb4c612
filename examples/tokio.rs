//! `threadbridge::run` under tokio: read and hash files with `std::fs`
//! without stalling the runtime's threads.
//!
//! `cargo run --example tokio`

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Reads `name` and hashes it, both on the pool; returns (bytes, hash).
async fn read_and_hash(name: &'static str) -> std::io::Result<(usize, u64)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    let bytes = threadbridge::run(move || std::fs::read(path)).await?;
    let hash = threadbridge::run(move || {
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        (bytes.len(), hasher.finish())
    });
    Ok(hash.await)
}

#[tokio::main]
async fn main() {
    let names = ["Cargo.toml", "src/lib.rs", "no-such-file"];
    // All three run at once, on tokio tasks; the blocking parts on the pool.
    let tasks = names.map(|name| tokio::spawn(read_and_hash(name)));
    for (name, task) in names.into_iter().zip(tasks) {
        match task.await.expect("task panicked") {
            Ok((len, hash)) => println!("{name:<14} {len:>7} bytes  hash {hash:016x}"),
            Err(err) => println!("{name:<14} error: {err}"),
        }
    }
    println!("{:?}", threadbridge::global().stats());
}
