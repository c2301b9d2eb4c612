//! The polling thread's side: its slot, its stack of watched polls and the
//! sites it knows, in a thread-local (no lock on the poll path).

use std::cell::RefCell;
use std::collections::HashMap;

use super::registry::registry;
use super::slot::{Frame, Site, Slot};
use crate::observe::timing::now_ns;
use crate::sync::Mutex;

pub(super) struct Local {
    pub(super) slot: std::sync::Arc<Slot>,
    pub(super) frames: Vec<Frame>,
    pub(super) known: HashMap<(usize, usize), u32>,
    pub(super) next_id: u64,
}

#[cfg(not(threadbridge_loom))]
std::thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

#[cfg(threadbridge_loom)]
loom::thread_local! {
    static LOCAL: RefCell<Option<Local>> = RefCell::new(None);
}

pub(super) fn with<R>(f: impl FnOnce(&mut Local) -> R) -> R {
    LOCAL.with(|cell| {
        let mut cell = cell.borrow_mut();
        let local = cell.get_or_insert_with(|| {
            let slot = std::sync::Arc::new(Slot {
                version: Default::default(),
                id: Default::default(),
                start: Default::default(),
                site: Default::default(),
                span: Default::default(),
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
pub(crate) fn slot() -> std::sync::Arc<Slot> {
    with(|local| local.slot.clone())
}

/// A watched poll of `site` starts on this thread; `cached` is the
/// future's memo of its site's index in the slot of the thread that
/// polled it last; `span` its span's key (0: none).
pub(crate) fn begin(site: Site, cached: &mut Option<(usize, u32)>, span: u64) -> Frame {
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
            span,
        };
        local.frames.push(frame);
        local.slot.publish(Some(frame));
        frame
    })
}

/// The poll of `frame` returned: the outer one (if any) shows again.
/// Returns how long the poll took, and the outer frame.
pub(crate) fn end(frame: Frame) -> (u64, Option<Frame>) {
    let end = now_ns();
    with(|local| {
        local.frames.pop();
        let outer = local.frames.last().copied();
        local.slot.publish(outer);
        (end.saturating_sub(frame.start), outer)
    })
}
