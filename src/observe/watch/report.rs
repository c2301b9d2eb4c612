//! Reports: of a returned poll, by the polling thread; of a running one,
//! by the timer's scan; each delivered to a watch's hook on the hook thread.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::observe::hook_thread;
use crate::observe::timing::now_ns;
use crate::sync::{Arc, Ordering};
use crate::timer::Due;

use super::registry::{registry, Scanner, SlowPoll, WatchInner};
use super::slot::{Frame, Site, Slot};

/// Calls `watch`'s hook with `report` on the hook thread, unless the watch
/// is dropped before the call starts.
pub(super) fn deliver(watch: Arc<WatchInner>, report: SlowPoll) {
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
pub(super) fn finished(
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

pub(super) fn slot_key(slot: &std::sync::Arc<Slot>) -> usize {
    std::sync::Arc::as_ptr(slot) as usize
}

pub(super) fn watch_key(watch: &Arc<WatchInner>) -> usize {
    Arc::as_ptr(watch) as usize
}

/// How often the timer thread scans the polling threads while a watch is
/// live: a slow poll is reported within about its threshold plus this.
pub(super) const SCAN: Duration = Duration::from_millis(5);

/// The timer's side: every [`SCAN`] while a watch lives, report each poll
/// running past a threshold (once per poll and watch).
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
                super::spans::warn(super::spans::get(frame.span).as_ref(), &report);
                deliver(Arc::clone(watch), report);
            }
        }
        Some(now + SCAN)
    }
}
