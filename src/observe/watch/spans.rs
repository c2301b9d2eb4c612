//! With the `tracing` feature: the spans of live watched futures, by key,
//! so the timer's scan can emit the report of a poll still running in the
//! span of the future that is blocking (which only the blocked polling
//! thread holds).
//!
//! A future registers its span when it is made ([`watch`](crate::watch))
//! and removes it when it is dropped: one lock at each end of its life,
//! none on a poll. A poll publishes the key in its slot beside its site.
//! The scan clones the span out by key; a future dropped since is simply
//! not found, so a report is never put in another future's span.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing::Span;

use super::registry::SlowPoll;

struct Table {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, Span>>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Table {
        next: AtomicU64::new(1),
        spans: Mutex::new(HashMap::new()),
    })
}

/// A watched future's registered span (key 0: none, the span was
/// disabled).
pub(super) struct SpanKey {
    pub(super) key: u64,
    pub(super) span: Span,
}

impl SpanKey {
    pub(super) fn current() -> SpanKey {
        let span = Span::current();
        if span.is_disabled() {
            return SpanKey { key: 0, span };
        }
        // ORDERING: a unique number; nothing else is ordered by it.
        let key = table().next.fetch_add(1, Ordering::Relaxed);
        table().spans.lock().insert(key, span.clone());
        SpanKey { key, span }
    }
}

impl Drop for SpanKey {
    fn drop(&mut self) {
        if self.key != 0 {
            // Dropping the clone may call the subscriber: not under the lock.
            let span = table().spans.lock().remove(&self.key);
            drop(span);
        }
    }
}

/// The span registered under `key`, if its future still lives.
pub(super) fn get(key: u64) -> Option<Span> {
    if key == 0 {
        return None;
    }
    table().spans.lock().get(&key).cloned()
}

/// The `WARN` event of `report`: in `span` (if any), sent to the span's
/// own subscriber (which may be a task's, not the current thread's);
/// else to the current thread's.
pub(super) fn warn(span: Option<&Span>, report: &SlowPoll) {
    let event = |parent: Option<tracing::Id>| {
        tracing::warn!(
            parent: parent,
            name = report.name,
            location = %report.location,
            thread = report.thread.as_deref(),
            elapsed = ?report.elapsed,
            finished = report.finished,
            "threadbridge: a slow poll blocked its thread"
        )
    };
    let in_span = span.and_then(|span| {
        span.with_subscriber(|(id, dispatch)| {
            tracing::dispatcher::with_default(dispatch, || event(Some(id.clone())))
        })
    });
    if in_span.is_none() {
        event(tracing::Span::current().id());
    }
}
