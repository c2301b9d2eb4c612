//! What observability costs: a `stats()` call (what a handler polling per
//! request pays, its two `Timing`s copied included), a limiter's, reading
//! a window's p99, and a poll of a `watch`ed future against an unwrapped
//! one: with no live `on_slow_poll` watch (no clock read) and with one (two
//! clock reads and the slot's atomic stores). A job's own recording (three clock reads and
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
    // A future that is never ready: each iteration is one poll.
    struct Pending;
    impl std::future::Future for Pending {
        type Output = ();
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            std::task::Poll::Pending
        }
    }
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut plain = Pending;
    g.bench_function("poll/unwrapped", |b| {
        b.iter(|| std::future::Future::poll(std::pin::Pin::new(&mut plain), &mut cx))
    });
    let mut watched = threadbridge::watch(Pending).name("bench");
    g.bench_function("poll/watched_no_watch", |b| {
        b.iter(|| std::future::Future::poll(std::pin::Pin::new(&mut watched), &mut cx))
    });
    let live = threadbridge::on_slow_poll(Duration::from_secs(3600), |_| {});
    g.bench_function("poll/watched_live_watch", |b| {
        b.iter(|| std::future::Future::poll(std::pin::Pin::new(&mut watched), &mut cx))
    });
    drop(live);
    g.finish();
    c.final_summary();
}
