//! What observability costs: a `stats()` call (what a handler polling per
//! request pays, its two `Timing`s copied included), a limiter's, and
//! reading a window's p99. A job's own recording (three clock reads and
//! two histogram entries under a lock it takes anyway) shows in the
//! `latency` and `burst` groups of `benches/peers.rs`.
//!
//! `cargo bench --bench observe` (about 30 s).

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;

fn main() {
    let pool = threadbridge::Pool::builder().build().unwrap();
    let limiter = pool.limiter(8);
    futures::executor::block_on(async {
        for _ in 0..1000 {
            pool.run(|| ()).await;
            limiter.run(|| ()).await;
        }
    });
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("observe");
    g.bench_function("pool_stats", |b| b.iter(|| black_box(pool.stats())));
    g.bench_function("limiter_stats", |b| b.iter(|| black_box(limiter.stats())));
    let earlier = pool.stats().queue_wait;
    let now = pool.stats().queue_wait;
    g.bench_function("window_p99", |b| {
        b.iter(|| black_box(black_box(&now).since(black_box(&earlier)).quantile(0.99)))
    });
    g.finish();
    c.final_summary();
}
