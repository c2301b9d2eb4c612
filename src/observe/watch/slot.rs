//! A polling thread's slot: what the scan reads of its running watched
//! poll, through a seqlock, and the sites its polls have had.

use crate::sync::{fence, AtomicU32, AtomicU64, Mutex, Ordering as O};

use std::panic::Location;

/// Where a watched future was made, and its name.
#[derive(Clone, Copy)]
pub(super) struct Site {
    pub(super) location: &'static Location<'static>,
    pub(super) name: Option<&'static str>,
}

/// A thread's running watched poll, as the scanner sees it: a seqlock
/// (`version` odd while the owning thread rewrites the frame) over the
/// poll's id (0: none), start and site.
pub(super) struct Slot {
    pub(super) version: AtomicU64,
    pub(super) id: AtomicU64,
    pub(super) start: AtomicU64,
    pub(super) site: AtomicU32,
    /// The running poll's span key (`spans.rs`; 0: none).
    pub(super) span: AtomicU64,
    /// The sites this thread's polls have had, by index (pushed by the
    /// owning thread when it meets a new one; read by the scanner).
    pub(super) sites: Mutex<Vec<Site>>,
    /// (poll id, watch): polls within which an inner poll was reported to
    /// that watch; written only on a report.
    pub(super) suppressed: Mutex<Vec<(u64, usize)>>,
    pub(super) thread: Option<String>,
}

impl Slot {
    /// Publishes `frame` (or no poll, with id 0).
    pub(super) fn publish(&self, frame: Option<Frame>) {
        let f = frame.unwrap_or(Frame {
            id: 0,
            start: 0,
            site: 0,
            span: 0,
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
        self.span.store(f.span, O::Relaxed);
        self.version.store(version + 2, O::Release);
    }

    /// The running poll, if a consistent one can be read.
    pub(super) fn read(&self) -> Option<Frame> {
        // ORDERING: the seqlock's reader side (Acquire version, data,
        // Acquire fence, version again).
        let v1 = self.version.load(O::Acquire);
        let frame = Frame {
            id: self.id.load(O::Relaxed),
            start: self.start.load(O::Relaxed),
            site: self.site.load(O::Relaxed),
            span: self.span.load(O::Relaxed),
        };
        fence(O::Acquire);
        let v2 = self.version.load(O::Relaxed);
        (v1 == v2 && v1 % 2 == 0 && frame.id != 0).then_some(frame)
    }
}

#[derive(Clone, Copy)]
pub(super) struct Frame {
    pub(super) id: u64,
    pub(super) start: u64,
    pub(super) site: u32,
    pub(super) span: u64,
}
