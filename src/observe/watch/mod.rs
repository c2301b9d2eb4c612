//! Naming the culprit: [`watch`] wraps a future so that a poll of it that
//! blocks its thread past a live [`on_slow_poll`] threshold is reported —
//! while it is still blocking, and again when it returns — with the
//! `watch` call's file and line, its name and the polling thread's name.
//!
//! # How
//! Each thread that polls a watched future has a slot (`slot.rs`), registered once
//! and scanned by the crate's timer thread (every [`SCAN`]) while a watch
//! is live. A watched poll publishes its start and site in its thread's
//! slot with a few atomic stores (a seqlock: `seq` is odd while a poll
//! runs), polls, and clears them; only a poll that outlasted a threshold
//! takes a lock, to report. With no live watch a poll reads no clock.
//!
//! Nesting: while a watched poll runs inside another on the same thread,
//! the slot shows only the inner one; when it returns the outer one shows
//! again. An outer poll within which an inner one was reported to a watch
//! is not reported to that watch again (`suppressed`).
//!
//! Hooks run on the hook thread. A [`SlowPollWatch`]'s drop marks it dead
//! and waits for a call of its hook under way (unless it is dropped by that
//! very call): once the drop returns, no call of its hook starts.

//! # Layout
//! - `slot.rs`: a polling thread's slot (a seqlock over its running poll)
//!   and the sites it records;
//! - `registry.rs`: the live watches and the slots the scan reads, and what
//!   a report carries ([`SlowPoll`]);
//! - `local.rs`: the polling thread's own side, in a thread-local;
//! - `report.rs`: the scan the timer runs and the reports of returned
//!   polls, delivered to the hooks on the hook thread;
//! - `spans.rs` (`tracing`): the live watched futures' spans, so a report
//!   made by the scan is emitted in the span of the future that blocks.

mod local;
#[cfg(all(test, threadbridge_loom))]
mod loom;
mod registry;
mod report;
mod slot;
#[cfg(feature = "tracing")]
mod spans;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::observe::hook_thread;
use crate::sync::{Arc, AtomicBool, Condvar, Mutex, Ordering};
use crate::timer::{self, Due};

pub use self::registry::SlowPoll;
use self::registry::{registry, WatchInner, WatchState};
use self::report::{finished, SCAN};
use self::slot::Site;

/// Wraps `fut` so that its slow polls are reported to every live
/// [`on_slow_poll`] watch: the poll that blocks an executor thread, named
/// by where `watch` was called.
///
/// With no live watch, a poll costs no clock read; with one, a poll shorter
/// than every threshold costs two clock reads and a few atomic stores, and
/// takes no lock. It works under any executor.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let _watch = threadbridge::on_slow_poll(Duration::from_millis(50), |slow| {
///     eprintln!(
///         "{} blocked {} for {:?}{}",
///         slow.name.unwrap_or("a future"),
///         slow.location,
///         slow.elapsed,
///         if slow.finished { "" } else { " and counting" },
///     );
/// });
/// # futures::executor::block_on(async {
/// let body = threadbridge::watch(async {
///     std::thread::sleep(Duration::from_millis(60)); // the culprit: blocks its thread
///     "done"
/// })
/// .name("handler");
/// assert_eq!(body.await, "done");
/// # });
/// ```
#[track_caller]
pub fn watch<F: Future>(fut: F) -> Watched<F> {
    Watched {
        fut: Box::pin(fut),
        site: Site {
            location: Location::caller(),
            name: None,
        },
        index: None,
        #[cfg(feature = "tracing")]
        span: spans::SpanKey::current(),
    }
}

/// A future whose slow polls are reported; from [`watch`].
#[must_use = "futures do nothing unless polled"]
pub struct Watched<F> {
    fut: Pin<Box<F>>,
    site: Site,
    /// The site's index in the slot of the thread that last polled it:
    /// (that slot, index), so a poll on the same thread looks nothing up.
    index: Option<(usize, u32)>,
    /// The span current at `watch`, registered for the scan's reports.
    #[cfg(feature = "tracing")]
    span: spans::SpanKey,
}

impl<F> Watched<F> {
    /// Names the future in its reports (`SlowPoll::name`).
    ///
    /// # Examples
    /// ```
    /// let fut = threadbridge::watch(async { 1 }).name("checkout");
    /// # assert_eq!(futures::executor::block_on(fut), 1);
    /// ```
    pub fn name(mut self, name: &'static str) -> Self {
        self.site.name = Some(name);
        self.index = None;
        self
    }
}

impl<F: Future> Future for Watched<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let reg = registry();
        // ORDERING: a hint; a watch made meanwhile sees the next poll.
        if reg.live.load(Ordering::Relaxed) == 0 {
            return self.fut.as_mut().poll(cx);
        }
        let this = &mut *self;
        #[cfg(feature = "tracing")]
        let span = this.span.key;
        #[cfg(not(feature = "tracing"))]
        let span = 0;
        let frame = local::begin(this.site, &mut this.index, span);
        let poll = this.fut.as_mut().poll(cx);
        let (elapsed, outer) = local::end(frame);
        // ORDERING: the least threshold, a hint for the fast path.
        if elapsed >= reg.least.load(Ordering::Relaxed) {
            let site = this.site;
            #[cfg(feature = "tracing")]
            let span = &this.span.span;
            finished(&local::slot(), frame, outer, site, elapsed, |report| {
                #[cfg(feature = "tracing")]
                spans::warn(Some(span), report);
                #[cfg(not(feature = "tracing"))]
                let _ = report;
            });
        }
        poll
    }
}

impl<F> fmt::Debug for Watched<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("name", &self.site.name)
            .field("location", &self.site.location)
            .finish_non_exhaustive()
    }
}

/// Reports every poll of a [`watch`]ed future that lasts longer than
/// `threshold` to `f`: once while it is still running (within about
/// `threshold` plus a few milliseconds of its start), and once when it
/// returns. Several watches may live at once, each with its own reports.
/// `f` runs on a thread of the crate's own, never on the polling thread
/// and never under a lock. With the `tracing` feature a `WARN` event says
/// the same, in the span that was current where [`watch`] was called, sent
/// to that span's subscriber (a task's own, with `WithSubscriber`): the
/// report of a poll still running from the timer thread, that of a
/// returned poll from the polling thread. A hook that panics is reported
/// once and stays installed.
///
/// Reports stop when the returned [`SlowPollWatch`] is dropped: once its
/// drop returns, no call of `f` starts.
///
/// # Panics
/// If `threshold` is zero.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let watch = threadbridge::on_slow_poll(Duration::from_millis(100), |slow| {
///     eprintln!("slow poll: {slow:?}");
/// });
/// // ... serve ...
/// drop(watch); // no report after this
/// ```
pub fn on_slow_poll(
    threshold: Duration,
    f: impl Fn(&SlowPoll) + Send + Sync + 'static,
) -> SlowPollWatch {
    assert!(
        !threshold.is_zero(),
        "threadbridge: on_slow_poll's `threshold` must be more than zero, got 0"
    );
    let reg = registry();
    let watch = Arc::new(WatchInner {
        threshold_ns: threshold.as_nanos().min(u128::from(u64::MAX)) as u64,
        hook: Box::new(f),
        reported: AtomicBool::new(false),
        state: Mutex::new(WatchState {
            alive: true,
            calling: false,
            seen: Vec::new(),
        }),
        idle: Condvar::new(),
    });
    let mut watches = reg.watches.lock();
    watches.push(Arc::clone(&watch));
    reg.set_least(&watches);
    // ORDERING: Relaxed; polls only read it as a hint.
    reg.live.fetch_add(1, Ordering::Relaxed);
    let start_scanning = !reg.scanning.swap(true, Ordering::Relaxed);
    drop(watches);
    if start_scanning {
        let scanner = Arc::downgrade(&reg.scanner);
        let scanner: Weak<dyn Due> = scanner;
        timer::schedule(Instant::now() + SCAN, scanner);
    }
    SlowPollWatch { watch }
}

/// A live [`on_slow_poll`] watch; dropping it stops its reports.
#[must_use = "the watch reports only while this lives"]
pub struct SlowPollWatch {
    watch: Arc<WatchInner>,
}

impl Drop for SlowPollWatch {
    fn drop(&mut self) {
        let reg = registry();
        let mut watches = reg.watches.lock();
        watches.retain(|w| !Arc::ptr_eq(w, &self.watch));
        reg.set_least(&watches);
        reg.live.fetch_sub(1, Ordering::Relaxed);
        drop(watches);
        let mut st = self.watch.state.lock();
        st.alive = false;
        // A call under way finishes first, unless this drop is that call's.
        while st.calling && !hook_thread::is_current() {
            self.watch.idle.wait(&mut st);
        }
    }
}

impl fmt::Debug for SlowPollWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlowPollWatch")
            .field("threshold", &Duration::from_nanos(self.watch.threshold_ns))
            .finish()
    }
}
