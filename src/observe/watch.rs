//! Naming the culprit: [`watch`] wraps a future so that a poll of it that
//! blocks its thread past a live [`on_slow_poll`] threshold is reported —
//! while it is still blocking, and again when it returns — with the
//! `watch` call's file and line, its name and the polling thread's name.
//!
//! # How
//! Each thread that polls a watched future has a [`Slot`], registered once
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

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
#[cfg(not(threadbridge_loom))]
use std::sync::OnceLock;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::observe::hook_thread;
use crate::observe::timing::now_ns;
use crate::sync::{Arc, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};
use crate::timer::{self, Due};

/// How often the timer thread scans the polling threads while a watch is
/// live: a slow poll is reported within about its threshold plus this.
const SCAN: Duration = Duration::from_millis(5);

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
        span: tracing::Span::current(),
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
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

#[derive(Clone, Copy)]
struct Site {
    location: &'static Location<'static>,
    name: Option<&'static str>,
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
        let frame = local::begin(this.site, &mut this.index);
        let poll = this.fut.as_mut().poll(cx);
        let (elapsed, outer) = local::end(frame);
        // ORDERING: the least threshold, a hint for the fast path.
        if elapsed >= reg.least.load(Ordering::Relaxed) {
            let site = this.site;
            #[cfg(feature = "tracing")]
            let span = this.span.clone();
            finished(&local::slot(), frame, outer, site, elapsed, move |report| {
                #[cfg(feature = "tracing")]
                span.in_scope(|| warn(report));
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

/// A slow poll of a [`watch`]ed future, as [`on_slow_poll`]'s hook sees it.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct SlowPoll {
    /// The name given with [`Watched::name`], if any.
    pub name: Option<&'static str>,
    /// Where [`watch`] was called.
    pub location: &'static Location<'static>,
    /// The name of the thread that polls (the executor's worker), if it
    /// has one.
    pub thread: Option<String>,
    /// How long the poll has run (`finished: false`), or ran.
    pub elapsed: Duration,
    /// `false` while the poll is still running, `true` once it returned.
    pub finished: bool,
}

/// Reports every poll of a [`watch`]ed future that lasts longer than
/// `threshold` to `f`: once while it is still running (within about
/// `threshold` plus a few milliseconds of its start), and once when it
/// returns. Several watches may live at once, each with its own reports.
/// `f` runs on a thread of the crate's own, never on the polling thread
/// and never under a lock; with the `tracing` feature a `WARN` event, in
/// the watched future's span, says the same. A hook that panics is
/// reported once and stays installed.
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

struct WatchInner {
    threshold_ns: u64,
    hook: Box<dyn Fn(&SlowPoll) + Send + Sync>,
    /// The hook's panic was reported.
    reported: AtomicBool,
    state: Mutex<WatchState>,
    /// Signalled when a call of the hook ends.
    idle: Condvar,
}

struct WatchState {
    alive: bool,
    calling: bool,
    /// Polls reported while running, as (slot, seq): not reported running
    /// again. Pruned as they end.
    seen: Vec<(usize, u64)>,
}

impl WatchInner {
    /// Whether the running poll `(slot, seq)` is new to this watch (and
    /// marks it seen).
    fn first_sight(&self, key: (usize, u64)) -> bool {
        let mut st = self.state.lock();
        if !st.alive || st.seen.contains(&key) {
            return false;
        }
        st.seen.push(key);
        true
    }

    /// The poll `key` ended: forget it.
    fn forget(&self, key: (usize, u64)) {
        self.state.lock().seen.retain(|k| *k != key);
    }
}

/// Calls `watch`'s hook with `report` on the hook thread, unless the watch
/// is dropped before the call starts.
fn deliver(watch: Arc<WatchInner>, report: SlowPoll) {
    hook_thread::call(move || {
        let mut st = watch.state.lock();
        if !st.alive {
            return;
        }
        st.calling = true;
        drop(st);
        hook_thread::call_user("on_slow_poll", &watch.reported, || (watch.hook)(&report));
        watch.state.lock().calling = false;
        watch.idle.notify_all();
    });
}

/// A poll that outlasted a threshold returned: report it (finished) to
/// each watch whose threshold it passed, but not to one an inner poll was
/// reported to; and tell the outer poll, if any, which watches this one
/// was reported to.
fn finished(
    slot: &std::sync::Arc<Slot>,
    frame: Frame,
    outer: Option<Frame>,
    site: Site,
    elapsed: u64,
    traced: impl Fn(&SlowPoll),
) {
    let reg = registry();
    let watches: Vec<_> = reg.watches.lock().iter().cloned().collect();
    let key = (slot_key(slot), frame.id);
    let mut suppressed = slot.suppressed.lock();
    let mut reported = Vec::new();
    for watch in watches {
        let me = watch_key(&watch);
        watch.forget(key);
        if elapsed < watch.threshold_ns || suppressed.contains(&(frame.id, me)) {
            continue;
        }
        reported.push(me);
        let report = SlowPoll {
            name: site.name,
            location: site.location,
            thread: slot.thread.clone(),
            elapsed: Duration::from_nanos(elapsed),
            finished: true,
        };
        traced(&report);
        deliver(watch, report);
    }
    suppressed.retain(|(id, _)| *id != frame.id);
    if let Some(outer) = outer {
        suppressed.extend(reported.into_iter().map(|me| (outer.id, me)));
    }
}

#[cfg(feature = "tracing")]
fn warn(report: &SlowPoll) {
    tracing::warn!(
        name = report.name,
        location = %report.location,
        thread = report.thread.as_deref(),
        elapsed = ?report.elapsed,
        finished = report.finished,
        "threadbridge: a slow poll blocked its thread"
    );
}

fn slot_key(slot: &std::sync::Arc<Slot>) -> usize {
    std::sync::Arc::as_ptr(slot) as usize
}

fn watch_key(watch: &Arc<WatchInner>) -> usize {
    Arc::as_ptr(watch) as usize
}

struct Registry {
    watches: Mutex<Vec<Arc<WatchInner>>>,
    /// How many watches live: a poll reads no clock while it is 0.
    live: AtomicUsize,
    /// The least threshold of the live watches (`u64::MAX` with none): a
    /// poll shorter than it takes no lock.
    least: AtomicU64,
    /// The scanner is scheduled on the timer.
    scanning: AtomicBool,
    slots: Mutex<Vec<Weak<Slot>>>,
    scanner: std::sync::Arc<Scanner>,
}

fn new_registry() -> Registry {
    Registry {
        watches: Mutex::new(Vec::new()),
        live: AtomicUsize::new(0),
        least: AtomicU64::new(u64::MAX),
        scanning: AtomicBool::new(false),
        slots: Mutex::new(Vec::new()),
        scanner: std::sync::Arc::new(Scanner),
    }
}

#[cfg(not(threadbridge_loom))]
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(new_registry)
}

// Under loom, one registry per execution of a model.
#[cfg(threadbridge_loom)]
loom::lazy_static! {
    static ref REGISTRY: Registry = new_registry();
}

#[cfg(threadbridge_loom)]
fn registry() -> &'static Registry {
    &REGISTRY
}

impl Registry {
    fn set_least(&self, watches: &[Arc<WatchInner>]) {
        let least = watches
            .iter()
            .map(|w| w.threshold_ns)
            .min()
            .unwrap_or(u64::MAX);
        // ORDERING: a hint for the fast path; reports re-check under locks.
        self.least.store(least, Ordering::Relaxed);
    }
}

/// A thread's running watched poll, as the scanner sees it: a seqlock
/// (`version` odd while the owning thread rewrites the frame) over the
/// poll's id (0: none), start and site.
struct Slot {
    version: AtomicU64,
    id: AtomicU64,
    start: AtomicU64,
    site: AtomicU32,
    /// The sites this thread's polls have had, by index (pushed by the
    /// owning thread when it meets a new one; read by the scanner).
    sites: Mutex<Vec<Site>>,
    /// (poll id, watch): polls within which an inner poll was reported to
    /// that watch; written only on a report.
    suppressed: Mutex<Vec<(u64, usize)>>,
    thread: Option<String>,
}

impl Slot {
    /// Publishes `frame` (or no poll, with id 0).
    fn publish(&self, frame: Option<Frame>) {
        use crate::sync::{fence, Ordering as O};
        let f = frame.unwrap_or(Frame {
            id: 0,
            start: 0,
            site: 0,
        });
        // ORDERING: the seqlock's writer side (only the owning thread
        // writes, so plain stores): odd version, then (Release fence) the
        // data, then the even version with Release.
        let version = self.version.load(O::Relaxed);
        self.version.store(version + 1, O::Relaxed);
        fence(O::Release);
        self.id.store(f.id, O::Relaxed);
        self.start.store(f.start, O::Relaxed);
        self.site.store(f.site, O::Relaxed);
        self.version.store(version + 2, O::Release);
    }

    /// The running poll, if a consistent one can be read.
    fn read(&self) -> Option<Frame> {
        use crate::sync::{fence, Ordering as O};
        // ORDERING: the seqlock's reader side (Acquire version, data,
        // Acquire fence, version again).
        let v1 = self.version.load(O::Acquire);
        let frame = Frame {
            id: self.id.load(O::Relaxed),
            start: self.start.load(O::Relaxed),
            site: self.site.load(O::Relaxed),
        };
        fence(O::Acquire);
        let v2 = self.version.load(O::Relaxed);
        (v1 == v2 && v1 % 2 == 0 && frame.id != 0).then_some(frame)
    }
}

#[derive(Clone, Copy)]
struct Frame {
    id: u64,
    start: u64,
    site: u32,
}

/// The polling thread's side: its slot, its stack of watched polls and the
/// sites it knows, in a thread-local (no lock on the poll path).
mod local {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::{now_ns, registry, Frame, Site, Slot};
    use crate::sync::Mutex;

    struct Local {
        slot: std::sync::Arc<Slot>,
        frames: Vec<Frame>,
        known: HashMap<(usize, usize), u32>,
        next_id: u64,
    }

    #[cfg(not(threadbridge_loom))]
    std::thread_local! {
        static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
    }

    #[cfg(threadbridge_loom)]
    loom::thread_local! {
        static LOCAL: RefCell<Option<Local>> = RefCell::new(None);
    }

    fn with<R>(f: impl FnOnce(&mut Local) -> R) -> R {
        LOCAL.with(|cell| {
            let mut cell = cell.borrow_mut();
            let local = cell.get_or_insert_with(|| {
                let slot = std::sync::Arc::new(Slot {
                    version: Default::default(),
                    id: Default::default(),
                    start: Default::default(),
                    site: Default::default(),
                    sites: Mutex::new(Vec::new()),
                    suppressed: Mutex::new(Vec::new()),
                    thread: std::thread::current().name().map(str::to_owned),
                });
                registry()
                    .slots
                    .lock()
                    .push(std::sync::Arc::downgrade(&slot));
                Local {
                    slot,
                    frames: Vec::new(),
                    known: HashMap::new(),
                    next_id: 0,
                }
            });
            f(local)
        })
    }

    /// This thread's slot (for a report: off the fast path).
    pub(super) fn slot() -> std::sync::Arc<Slot> {
        with(|local| local.slot.clone())
    }

    /// A watched poll of `site` starts on this thread; `cached` is the
    /// future's memo of its site's index in the slot of the thread that
    /// polled it last.
    pub(super) fn begin(site: Site, cached: &mut Option<(usize, u32)>) -> Frame {
        with(|local| {
            let me = std::sync::Arc::as_ptr(&local.slot) as usize;
            let index = match *cached {
                Some((slot, index)) if slot == me => index,
                _ => {
                    let key = (
                        site.location as *const _ as usize,
                        site.name.map_or(0, |n| n.as_ptr() as usize),
                    );
                    let index = match local.known.get(&key) {
                        Some(&index) => index,
                        None => {
                            let mut sites = local.slot.sites.lock();
                            sites.push(site);
                            let index = (sites.len() - 1) as u32;
                            drop(sites);
                            local.known.insert(key, index);
                            index
                        }
                    };
                    *cached = Some((me, index));
                    index
                }
            };
            local.next_id += 1;
            let frame = Frame {
                id: local.next_id,
                start: now_ns(),
                site: index,
            };
            local.frames.push(frame);
            local.slot.publish(Some(frame));
            frame
        })
    }

    /// The poll of `frame` returned: the outer one (if any) shows again.
    /// Returns how long the poll took, and the outer frame.
    pub(super) fn end(frame: Frame) -> (u64, Option<Frame>) {
        let end = now_ns();
        with(|local| {
            local.frames.pop();
            let outer = local.frames.last().copied();
            local.slot.publish(outer);
            (end.saturating_sub(frame.start), outer)
        })
    }
}

/// The timer's side: every [`SCAN`] while a watch lives, report each poll
/// running past a threshold (once per poll and watch).
struct Scanner;

impl Due for Scanner {
    fn fire(&self, now: Instant) -> Option<Instant> {
        let reg = registry();
        // ORDERING: Relaxed, with the re-check below against a watch made
        // between the load and the store.
        if reg.live.load(Ordering::Relaxed) == 0 {
            reg.scanning.store(false, Ordering::Relaxed);
            if reg.live.load(Ordering::Relaxed) == 0 || reg.scanning.swap(true, Ordering::Relaxed) {
                return None;
            }
        }
        let watches: Vec<_> = reg.watches.lock().iter().cloned().collect();
        let slots: Vec<_> = {
            let mut slots = reg.slots.lock();
            slots.retain(|s| s.strong_count() > 0);
            slots.iter().filter_map(Weak::upgrade).collect()
        };
        let now_ns = now_ns();
        for slot in &slots {
            let Some(frame) = slot.read() else { continue };
            let elapsed = now_ns.saturating_sub(frame.start);
            let key = (slot_key(slot), frame.id);
            for watch in &watches {
                if elapsed < watch.threshold_ns {
                    continue;
                }
                let me = watch_key(watch);
                if slot.suppressed.lock().contains(&(frame.id, me)) || !watch.first_sight(key) {
                    continue;
                }
                let Some(site) = slot.sites.lock().get(frame.site as usize).copied() else {
                    continue;
                };
                let report = SlowPoll {
                    name: site.name,
                    location: site.location,
                    thread: slot.thread.clone(),
                    elapsed: Duration::from_nanos(elapsed),
                    finished: false,
                };
                #[cfg(feature = "tracing")]
                warn(&report);
                deliver(Arc::clone(watch), report);
            }
        }
        Some(now + SCAN)
    }
}

/// loom: a watched poll against the timer's scan, and a watch dropped
/// while it is being reported to. Under loom there is no timer thread and
/// the hook runs inline: the models call the scanner themselves, as the
/// timer thread would. loom has no clock; a 1 ns threshold makes every
/// poll slow.
#[cfg(all(test, threadbridge_loom))]
mod loom_models {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use loom::sync::{Condvar, Mutex};
    use loom::thread;

    use super::{on_slow_poll, registry, watch};
    use crate::timer::Due;

    const SLOW: Duration = Duration::from_nanos(1);

    fn scan() {
        let _ = registry().scanner.fire(Instant::now());
    }

    fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
        let waker = futures::task::noop_waker();
        Pin::new(fut).poll(&mut Context::from_waker(&waker))
    }

    #[derive(Clone, Default)]
    struct Gate(std::sync::Arc<(Mutex<bool>, Condvar)>);

    impl Gate {
        fn open(&self) {
            *self.0 .0.lock().unwrap() = true;
            self.0 .1.notify_all();
        }
        fn wait(&self) {
            let mut open = self.0 .0.lock().unwrap();
            while !*open {
                open = self.0 .1.wait(open).unwrap();
            }
        }
    }

    /// A poll racing a scan: at most one report while it runs, exactly one
    /// when it returns; and once it returned (its thread still alive), a
    /// scan reports nothing more of it.
    #[test]
    fn a_poll_vs_the_scan() {
        loom::model(|| {
            let running = std::sync::Arc::new(AtomicUsize::new(0));
            let finished = std::sync::Arc::new(AtomicUsize::new(0));
            let (r, f) = (running.clone(), finished.clone());
            let watch_handle = on_slow_poll(SLOW, move |report| {
                if report.finished { &f } else { &r }.fetch_add(1, SeqCst);
            });
            let (polled, stay) = (Gate::default(), Gate::default());
            let poller = {
                let (polled, stay) = (polled.clone(), stay.clone());
                thread::spawn(move || {
                    let mut fut = watch(std::future::ready(1)).name("fast");
                    assert_eq!(poll_once(&mut fut), Poll::Ready(1));
                    polled.open();
                    stay.wait();
                })
            };
            let scanner = thread::spawn(scan);
            scanner.join().unwrap();
            polled.wait();
            let seen = running.load(SeqCst);
            assert!(seen <= 1, "reported running {seen} times");
            assert_eq!(finished.load(SeqCst), 1, "reported once when it returned");
            // The poll is over, its thread alive: nothing more to report.
            scan();
            assert_eq!(
                running.load(SeqCst),
                seen,
                "a poll that returned is not running"
            );
            stay.open();
            poller.join().unwrap();
            // Its thread has exited: its slot is gone from the scan.
            scan();
            assert_eq!(running.load(SeqCst), seen);
            drop(watch_handle);
        });
    }

    /// A watch dropped while the scan reports a running poll to it: once
    /// the drop returned, no call of its hook starts.
    #[test]
    fn a_watch_dropped_while_reported_to() {
        loom::model(|| {
            let dropped = std::sync::Arc::new(AtomicBool::new(false));
            let late = std::sync::Arc::new(AtomicBool::new(false));
            let (d, l) = (dropped.clone(), late.clone());
            // (A panic in a hook is caught: the hook records instead.)
            let watch_handle = on_slow_poll(SLOW, move |_| {
                if d.load(SeqCst) {
                    l.store(true, SeqCst);
                }
            });
            let (inside, release) = (Gate::default(), Gate::default());
            let poller = {
                let (inside, release) = (inside.clone(), release.clone());
                thread::spawn(move || {
                    let mut fut = watch(std::future::poll_fn(move |_| {
                        inside.open();
                        release.wait(); // blocks inside the watched poll
                        Poll::Ready(())
                    }))
                    .name("blocking");
                    let _ = poll_once(&mut fut);
                })
            };
            inside.wait();
            let scanner = thread::spawn(scan);
            drop(watch_handle);
            dropped.store(true, SeqCst);
            scanner.join().unwrap();
            release.open();
            poller.join().unwrap();
            assert!(
                !late.load(SeqCst),
                "a hook call started after its watch was dropped"
            );
        });
    }
}
