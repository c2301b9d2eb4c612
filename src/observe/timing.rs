//! [`Timing`]: a cumulative histogram of durations, log-linear like
//! HdrHistogram with three sub-bucket bits, and the process-wide clock the
//! pool stamps jobs with.
//!
//! # Buckets
//! Durations are recorded in nanoseconds. Everything below 512 ns shares
//! bucket 0; above it, each power of two `[2^o, 2^(o+1))` for `o` in 9..=41
//! is cut into 8 equal sub-buckets, so a bucket is at most 1/8 as wide as
//! its lower bound, and its midpoint is within 1/16 of any entry in it.
//! `2^42` ns is 73 minutes: entries above it land in the last bucket.
//! 265 buckets of `u64`: a `Timing` is a fixed array (2.1 KiB), so the
//! snapshots that hold it stay `Copy`.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// The lowest power of two with buckets of its own (512 ns).
const LOW: u32 = 9;
/// The highest (`2^41` ns, ~37 min, up to `2^42`, ~73 min).
const HIGH: u32 = 41;
const BUCKETS: usize = 1 + (HIGH - LOW + 1) as usize * SUB;

/// A cumulative histogram of durations, as a snapshot: how many, their
/// exact sum and maximum, and quantiles within 1/8 from 1 µs to 1 h.
///
/// The pool records one entry per started job in
/// [`Stats::queue_wait`](crate::Stats::queue_wait) and
/// [`Stats::run_time`](crate::Stats::run_time), a limiter in
/// [`LimiterStats::token_wait`](crate::LimiterStats::token_wait) and
/// [`LimiterStats::run_time`](crate::LimiterStats::run_time), and a lag
/// probe one per tick. Totals count since the start; take two snapshots and
/// [`since`](Timing::since) for a window.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let pool = threadbridge::Pool::builder().build()?;
/// let before = pool.stats().run_time;
/// pool.run(|| std::thread::sleep(std::time::Duration::from_millis(2))).await;
/// let window = pool.stats().run_time.since(&before);
/// assert_eq!(window.count(), 1);
/// assert!(window.max() >= std::time::Duration::from_millis(2));
/// println!("p99 run time: {:?}", window.quantile(0.99));
/// # Ok::<(), threadbridge::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    count: u64,
    sum_ns: u64,
    max_ns: u64,
    buckets: [u64; BUCKETS],
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            count: 0,
            sum_ns: 0,
            max_ns: 0,
            buckets: [0; BUCKETS],
        }
    }
}

/// The bucket of a duration of `ns` nanoseconds.
fn bucket(ns: u64) -> usize {
    if ns < 1 << LOW {
        return 0;
    }
    let ns = ns.min((1 << (HIGH + 1)) - 1);
    let octave = 63 - ns.leading_zeros();
    let sub = (ns >> (octave - SUB_BITS)) as usize & (SUB - 1);
    1 + (octave - LOW) as usize * SUB + sub
}

/// The lower bound and the width of bucket `i`, in nanoseconds.
fn bounds(i: usize) -> (u64, u64) {
    if i == 0 {
        return (0, 1 << LOW);
    }
    let octave = LOW + ((i - 1) / SUB) as u32;
    let sub = ((i - 1) % SUB) as u64;
    let width = 1u64 << (octave - SUB_BITS);
    ((SUB as u64 + sub) * width, width)
}

impl Timing {
    /// Adds one entry of `ns` nanoseconds.
    #[inline]
    pub(crate) fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
        self.buckets[bucket(ns)] += 1;
    }

    /// How many entries.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(threadbridge::Timing::default().count(), 0);
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the entries, exact to the nanosecond (saturating).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(threadbridge::Timing::default().sum(), std::time::Duration::ZERO);
    /// ```
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// The mean entry; `ZERO` when there is none.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(threadbridge::Timing::default().mean(), std::time::Duration::ZERO);
    /// ```
    pub fn mean(&self) -> Duration {
        match self.count {
            0 => Duration::ZERO,
            n => Duration::from_nanos(self.sum_ns / n),
        }
    }

    /// The largest entry: exact for a pool's, a limiter's or a probe's own
    /// `Timing`; for a window from [`since`](Timing::since), the upper
    /// bound of the highest bucket the window touched (at most the
    /// cumulative max).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(threadbridge::Timing::default().max(), std::time::Duration::ZERO);
    /// ```
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// An estimate of the `⌈q·count⌉`-th smallest entry (the smallest for
    /// `q == 0`), within 1/8 of it from 1 µs to 1 h; `quantile(1.0)` is
    /// [`max`](Timing::max). `ZERO` when there is no entry.
    ///
    /// # Panics
    /// If `q` is not within `0.0..=1.0` (NaN included); the message names
    /// the value.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// let pool = threadbridge::Pool::builder().build()?;
    /// pool.run(|| ()).await;
    /// let waits = pool.stats().queue_wait;
    /// assert!(waits.quantile(0.5) <= waits.quantile(0.99));
    /// assert_eq!(waits.quantile(1.0), waits.max());
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn quantile(&self, q: f64) -> Duration {
        assert!(
            (0.0..=1.0).contains(&q),
            "threadbridge: Timing::quantile takes q in 0.0..=1.0, got {q}"
        );
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == self.count {
            return self.max();
        }
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                // Below 512 ns (a token got at once, say) reads as zero.
                let (low, width) = bounds(i);
                let mid = if i == 0 { 0 } else { low + width / 2 };
                return Duration::from_nanos(mid.min(self.max_ns));
            }
        }
        self.max()
    }

    /// The entries recorded between `earlier` (a snapshot of the same
    /// source) and this one: a window, for a rate or a recent percentile.
    ///
    /// # Examples
    /// ```
    /// let pool = threadbridge::Pool::builder().build()?;
    /// let earlier = pool.stats().queue_wait;
    /// // ... a minute of traffic ...
    /// let last_minute = pool.stats().queue_wait.since(&earlier);
    /// assert_eq!(last_minute.count(), 0);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn since(&self, earlier: &Timing) -> Timing {
        let mut window = Timing {
            count: self.count.saturating_sub(earlier.count),
            sum_ns: self.sum_ns.saturating_sub(earlier.sum_ns),
            max_ns: 0,
            buckets: [0; BUCKETS],
        };
        for (i, slot) in window.buckets.iter_mut().enumerate() {
            *slot = self.buckets[i].saturating_sub(earlier.buckets[i]);
            if *slot > 0 {
                let (low, width) = bounds(i);
                window.max_ns = (low + width - 1).min(self.max_ns);
            }
        }
        window
    }
}

impl fmt::Debug for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timing")
            .field("count", &self.count)
            .field("mean", &self.mean())
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .field("max", &self.max())
            .finish()
    }
}

/// What a started job's clock readings say, in nanoseconds: recorded in its
/// pool's (and limiter's) `Timing`s when it finishes, under the lock that
/// finishing takes anyway.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ran {
    /// From accepted to started (token and queue-space waits included).
    pub(crate) queue_wait: u64,
    /// The part of `queue_wait` spent waiting for a limiter's token.
    pub(crate) token_wait: u64,
    /// The closure alone.
    pub(crate) run_time: u64,
    /// When the closure returned (`now_ns`).
    pub(crate) end: u64,
}

/// Nanoseconds since a process-wide epoch (the first call): a job's stamps
/// are `u64`s, not `Instant`s, so its cell keeps its allocation class.
#[inline]
pub(crate) fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as u64
}

#[cfg(all(test, not(threadbridge_loom)))]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), for reproducible samples.
    fn samples(seed: u64, n: usize, spread: u32) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Log-uniform over 1 µs .. 2^spread µs.
                let exp = x % u64::from(spread);
                1_000 * (1u64 << exp) + (x >> 20) % (1_000 << exp)
            })
            .collect()
    }

    #[test]
    fn every_bucket_is_within_an_eighth_of_its_lower_bound() {
        for i in 1..BUCKETS {
            let (low, width) = bounds(i);
            assert!(width * 8 <= low, "bucket {i}: {low} + {width}");
            assert_eq!(bucket(low), i);
            assert_eq!(bucket(low + width - 1), i);
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_an_eighth_of_a_sorted_list() {
        for seed in 1..40u64 {
            let n = 1 + (seed as usize * 37) % 2_000;
            let mut xs = samples(seed, n, 31);
            let mut t = Timing::default();
            for &x in &xs {
                t.record(x);
            }
            xs.sort_unstable();
            assert_eq!(t.count(), n as u64);
            assert_eq!(t.sum().as_nanos() as u64, xs.iter().sum::<u64>());
            assert_eq!(t.max().as_nanos() as u64, *xs.last().unwrap());
            for q in [0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
                let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
                let exact = xs[rank - 1] as f64;
                let est = t.quantile(q).as_nanos() as f64;
                assert!(
                    (est - exact).abs() <= exact / 8.0,
                    "seed {seed}, q {q}: estimated {est}, exact {exact}"
                );
            }
        }
    }

    #[test]
    fn a_window_holds_only_the_entries_between_two_snapshots() {
        let mut t = Timing::default();
        for x in samples(7, 500, 20) {
            t.record(x);
        }
        let earlier = t;
        let later_entries = samples(8, 300, 10);
        for &x in &later_entries {
            t.record(x);
        }
        let window = t.since(&earlier);
        assert_eq!(window.count(), 300);
        assert_eq!(
            window.sum().as_nanos() as u64,
            later_entries.iter().sum::<u64>()
        );
        let true_max = *later_entries.iter().max().unwrap();
        assert!(window.max().as_nanos() as u64 >= true_max);
        assert!(window.max() <= t.max());
        assert_eq!(t.since(&t).count(), 0);
    }

    #[test]
    fn an_empty_timing_is_zero_everywhere() {
        let t = Timing::default();
        assert_eq!(
            (t.count(), t.sum(), t.mean(), t.max()),
            (0, Duration::ZERO, Duration::ZERO, Duration::ZERO)
        );
        assert_eq!(t.quantile(0.5), Duration::ZERO);
    }

    #[test]
    #[should_panic(expected = "q in 0.0..=1.0, got NaN")]
    fn a_quantile_outside_zero_to_one_panics_naming_it() {
        let _ = Timing::default().quantile(f64::NAN);
    }
}
