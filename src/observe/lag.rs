//! [`lag_probe`]: how late an executor polls a future that asked to be
//! woken at a time — the executor's own stall, measured from inside it,
//! under any executor (the crate's timer thread wakes it; no runtime timer).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::observe::timing::Timing;
use crate::sync::{self, register_waker, Arc, AtomicUsize, Mutex, Ordering};
use crate::timer::{self, Due};

/// A probe of an executor's lag, and its monitor: spawn the [`LagProbe`]
/// on the executor to watch, read the [`LagMonitor`] from anywhere.
///
/// The probe asks the crate's timer thread to wake it `every` after each
/// of its polls, and records how late the poll came after that:
/// [`LagMonitor::lag`]. An executor thread blocked for `B` by a call that
/// was never offloaded shows as one entry of about `B`, and while the block
/// is still going on, [`LagMonitor::overdue`] shows it growing, from
/// another thread. It needs no runtime timer, so it works under any
/// executor; an idle, healthy executor's lag is the timer thread's own
/// wake-up jitter (well under a millisecond). The probe ends within one
/// `every` after its last monitor is dropped.
///
/// Node's `monitorEventLoopDelay`, for any Rust executor.
///
/// # Panics
/// If `every` is zero.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let (probe, monitor) = threadbridge::lag_probe(Duration::from_millis(10));
/// let executor = smol::LocalExecutor::new();
/// executor.spawn(probe).detach(); // watch this executor
/// smol::block_on(executor.run(async {
///     smol::Timer::after(Duration::from_millis(30)).await;
///     std::thread::sleep(Duration::from_millis(50)); // a blocking call, not offloaded
///     smol::Timer::after(Duration::from_millis(30)).await;
/// }));
/// let lag = monitor.lag();
/// assert!(lag.max() >= Duration::from_millis(30), "{lag:?}");
/// println!("p99 lag {:?}, worst {:?}", lag.quantile(0.99), lag.max());
/// ```
pub fn lag_probe(every: Duration) -> (LagProbe, LagMonitor) {
    assert!(
        !every.is_zero(),
        "threadbridge: lag_probe's `every` must be more than zero, got 0"
    );
    let shared = Arc::new(Probe {
        every,
        monitors: AtomicUsize::new(1),
        state: Mutex::new(ProbeState::default()),
    });
    (
        LagProbe {
            shared: shared.clone(),
        },
        LagMonitor { shared },
    )
}

struct Probe {
    every: Duration,
    /// Live monitors; the probe ends when none is left.
    monitors: AtomicUsize,
    state: Mutex<ProbeState>,
}

#[derive(Default)]
struct ProbeState {
    lag: Timing,
    /// When the next poll is due; `None` before the first poll and after
    /// the end.
    due: Option<Instant>,
    waker: Option<Waker>,
    ended: bool,
}

impl Due for Probe {
    fn fire(&self, _now: Instant) -> Option<Instant> {
        let waker = self.state.lock().waker.take();
        if let Some(waker) = waker {
            sync::wake(waker);
        }
        None
    }
}

/// The future half of [`lag_probe`]: spawn it on the executor to watch.
/// It resolves once its last [`LagMonitor`] is dropped.
#[must_use = "a LagProbe measures nothing unless spawned on the executor to watch"]
pub struct LagProbe {
    shared: Arc<Probe>,
}

impl Future for LagProbe {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &self.shared;
        let mut st = shared.state.lock();
        // ORDERING: Acquire pairs with the last monitor's drop.
        if shared.monitors.load(Ordering::Acquire) == 0 {
            st.ended = true;
            st.due = None;
            st.waker = None;
            return Poll::Ready(());
        }
        let now = Instant::now();
        if let Some(due) = st.due {
            if now < due {
                // Polled before its tick (a combinator's poll): wait on.
                register_waker(&mut st.waker, cx.waker());
                return Poll::Pending;
            }
            st.lag.record((now - due).as_nanos() as u64);
        }
        let due = now + shared.every;
        st.due = Some(due);
        register_waker(&mut st.waker, cx.waker());
        drop(st);
        let weak = Arc::downgrade(shared);
        timer::schedule(due, weak);
        Poll::Pending
    }
}

impl fmt::Debug for LagProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LagProbe")
            .field("every", &self.shared.every)
            .finish_non_exhaustive()
    }
}

/// The reading half of [`lag_probe`]: `Clone + Send + Sync`, read from any
/// thread. The probe ends when the last clone is dropped.
pub struct LagMonitor {
    shared: Arc<Probe>,
}

impl LagMonitor {
    /// How late each of the probe's polls came after it was due, one entry
    /// per tick: an executor blocked for `B` records about `B`.
    ///
    /// # Examples
    /// ```
    /// let (_probe, monitor) = threadbridge::lag_probe(std::time::Duration::from_millis(10));
    /// assert_eq!(monitor.lag().count(), 0); // not spawned yet
    /// ```
    pub fn lag(&self) -> Timing {
        self.shared.state.lock().lag
    }

    /// How long the probe has been due and not polled, now: an executor
    /// blocked at this moment shows here before the block ends. `ZERO`
    /// while it is on time, before its first poll and after it ended.
    ///
    /// # Examples
    /// ```
    /// let (_probe, monitor) = threadbridge::lag_probe(std::time::Duration::from_millis(10));
    /// assert_eq!(monitor.overdue(), std::time::Duration::ZERO);
    /// ```
    pub fn overdue(&self) -> Duration {
        let st = self.shared.state.lock();
        match st.due {
            Some(due) if !st.ended => Instant::now().saturating_duration_since(due),
            _ => Duration::ZERO,
        }
    }
}

impl Clone for LagMonitor {
    fn clone(&self) -> Self {
        // ORDERING: a count; the end is decided under the probe's lock.
        self.shared.monitors.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for LagMonitor {
    fn drop(&mut self) {
        // ORDERING: Release pairs with the probe's Acquire load.
        if self.shared.monitors.fetch_sub(1, Ordering::Release) == 1 {
            // The last one: wake the probe now so it ends.
            let waker = self.shared.state.lock().waker.take();
            if let Some(waker) = waker {
                sync::wake(waker);
            }
        }
    }
}

impl fmt::Debug for LagMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LagMonitor")
            .field("lag", &self.lag())
            .field("overdue", &self.overdue())
            .finish()
    }
}

/// loom: the probe's poll, the timer's tick and the last monitor's drop,
/// in every order. The tick is an event of the model (loom has no clock):
/// the model calls the probe's `fire`, as the timer thread would.
#[cfg(all(test, threadbridge_loom))]
mod loom_models {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    use std::time::{Duration, Instant};

    use loom::thread;

    use super::lag_probe;
    use crate::observe::loom_support::Flag;
    use crate::sync::Arc;
    use crate::timer::Due;

    /// The probe ends once its last monitor is dropped, and is woken for
    /// it whatever the order (a lost wake-up leaves the model waiting: a
    /// loom deadlock); a tick that comes meanwhile wakes it at most once.
    #[test]
    fn poll_vs_tick_vs_last_monitor_dropped() {
        loom::model(|| {
            let (mut probe, monitor) = lag_probe(Duration::from_nanos(1));
            let shared = Arc::clone(&probe.shared);
            let ticker = thread::spawn(move || {
                let _ = shared.fire(Instant::now());
            });
            let dropper = thread::spawn(move || drop(monitor));
            let flag = std::sync::Arc::new(Flag::default());
            let waker = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            while Pin::new(&mut probe).poll(&mut cx) == Poll::Pending {
                flag.wait();
            }
            ticker.join().unwrap();
            dropper.join().unwrap();
        });
    }
}
