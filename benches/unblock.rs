//! `Unblock` head-to-head with smol's `blocking::Unblock` (whose design it
//! follows), each with its default buffer, in one criterion run:
//!
//! - `unblock/read_to_end_20MB`: `read_to_end` of a 20 MB file into an
//!   empty `Vec` (each `Pending` makes `read_to_end` re-zero its spare
//!   capacity, so a small buffer costs more than its hand-offs);
//! - `unblock/copy_20MB`: `futures::io::copy` from one file to another,
//!   both sides wrapped, then a flush.
//!
//! Goal (threadbridge's adaptive buffer): within 1.2x of `blocking` in both.
//! `cargo bench --bench unblock` (about 1 minute on 2 cores).

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use futures::executor::block_on;
use futures::io::{AsyncReadExt, AsyncWriteExt};

const LEN: usize = 20_000_000;

fn temp(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("threadbridge-bench-{tag}-{}", std::process::id()))
}

fn main() {
    let src = temp("src");
    let dst = temp("dst");
    let data: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&src, &data).expect("write the source file");
    let pool = threadbridge::Pool::builder().build().unwrap();

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let mut g = c.benchmark_group("unblock");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(LEN as u64));

    g.bench_function("read_to_end_20MB/threadbridge", |b| {
        b.iter(|| {
            let file = File::open(&src).unwrap();
            let mut out = Vec::new();
            block_on(
                threadbridge::Unblock::with_pool(
                    &pool,
                    threadbridge::DEFAULT_UNBLOCK_CAPACITY,
                    file,
                )
                .read_to_end(&mut out),
            )
            .unwrap();
            assert_eq!(out.len(), LEN);
        })
    });
    g.bench_function("read_to_end_20MB/blocking", |b| {
        b.iter(|| {
            let file = File::open(&src).unwrap();
            let mut out = Vec::new();
            block_on(blocking::Unblock::new(file).read_to_end(&mut out)).unwrap();
            assert_eq!(out.len(), LEN);
        })
    });
    g.bench_function("copy_20MB/threadbridge", |b| {
        b.iter(|| {
            let (from, to) = (File::open(&src).unwrap(), File::create(&dst).unwrap());
            let cap = threadbridge::DEFAULT_UNBLOCK_CAPACITY;
            let mut to = threadbridge::Unblock::with_pool(&pool, cap, to);
            let from = threadbridge::Unblock::with_pool(&pool, cap, from);
            let n = block_on(async {
                let n = futures::io::copy(from, &mut to).await?;
                to.flush().await?;
                std::io::Result::Ok(n)
            })
            .unwrap();
            assert_eq!(n, LEN as u64);
        })
    });
    g.bench_function("copy_20MB/blocking", |b| {
        b.iter(|| {
            let (from, to) = (File::open(&src).unwrap(), File::create(&dst).unwrap());
            let mut to = blocking::Unblock::new(to);
            let n = block_on(async {
                let n = futures::io::copy(blocking::Unblock::new(from), &mut to).await?;
                to.flush().await?;
                std::io::Result::Ok(n)
            })
            .unwrap();
            assert_eq!(n, LEN as u64);
        })
    });
    g.finish();
    c.final_summary();
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&dst);
}
