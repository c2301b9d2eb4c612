//! The state an [`Unblock`](super::Unblock)'s async side and its jobs
//! share, under one lock.

use std::collections::VecDeque;
use std::io::{self, SeekFrom};
use std::task::Waker;

use crate::sync::{self, Mutex, MutexGuard};

/// What the async side and the jobs share.
pub(super) struct Core<T> {
    /// The most bytes the buffer may grow to: the `Unblock`'s capacity.
    pub(super) max: usize,
    state: Mutex<State<T>>,
}

/// The size a buffer starts at (or its `max`, if smaller), and shrinks
/// back to when a transfer ends: a small file or a chatty pipe never holds
/// more than this.
pub(super) const START: usize = 8 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Idle,
    Read,
    Write,
    Seek,
    Call,
    /// `close` was called: the inner value is dropped (or being dropped,
    /// while `busy`, by the close job) and every operation but `flush` and
    /// `close` fails with [`closed`].
    Closed,
}

pub(super) struct State<T> {
    /// The buffer's size now: from [`START`], doubled while a transfer
    /// keeps filling it (a read that fills all the room it asked for, a
    /// write into a full buffer), up to `max`; back to [`START`] when the
    /// transfer ends (end of file, a flush, a switch of mode).
    pub(super) cap: usize,
    pub(super) mode: Mode,
    /// A job was submitted and has not put the value back yet: only it
    /// touches `io`.
    pub(super) busy: bool,
    /// The inner value while no job holds it.
    pub(super) io: Option<Box<T>>,
    /// A job panicked: the value is gone for good.
    pub(super) lost: bool,
    /// Read: bytes read ahead. Write: bytes not written yet. At most `cap`.
    pub(super) bytes: VecDeque<u8>,
    /// Read: the reader reached its end; reported once the bytes are out.
    pub(super) eof: bool,
    /// Read: the async side wants the reader to stop.
    pub(super) stop: bool,
    /// Write: flush the inner writer once the bytes are written.
    pub(super) flush: bool,
    /// Write: bytes went to the inner writer since it last flushed.
    pub(super) dirty: bool,
    /// The next error to report (a read's after the bytes before it).
    pub(super) error: Option<io::Error>,
    /// Seek: what the caller asked for and, once done, the result.
    pub(super) seek: Option<(SeekFrom, Option<io::Result<u64>>)>,
    /// Buffers kept between jobs: the reader's chunk, the writer's batch.
    pub(super) chunk: Vec<u8>,
    pub(super) batch: VecDeque<u8>,
    /// The async side's latest waker, while it waits.
    pub(super) waker: Option<Waker>,
}

impl<T> State<T> {
    /// The free space a reader waits for before it reads again.
    pub(super) fn half(&self) -> usize {
        self.cap / 2 + self.cap % 2
    }

    /// Free space in the buffer.
    pub(super) fn room(&self) -> usize {
        self.cap.saturating_sub(self.bytes.len())
    }
}

impl<T> Core<T> {
    /// A core holding `io`, idle, with a buffer of up to `max` bytes.
    pub(super) fn new(max: usize, io: T) -> Self {
        Self {
            max,
            state: Mutex::new(State {
                cap: max.min(START),
                mode: Mode::Idle,
                busy: false,
                io: Some(Box::new(io)),
                lost: false,
                bytes: VecDeque::new(),
                eof: false,
                stop: false,
                flush: false,
                dirty: false,
                error: None,
                seek: None,
                chunk: Vec::new(),
                batch: VecDeque::new(),
                waker: None,
            }),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Doubles the buffer, up to `max`: the transfer keeps filling it.
    pub(super) fn grow(&self, st: &mut State<T>) {
        st.cap = st.cap.saturating_mul(2).min(self.max);
    }

    /// The transfer ended: the buffer goes back to its starting size, and
    /// the memory a grown one held is given back.
    pub(super) fn shrink(&self, st: &mut State<T>) {
        st.cap = self.max.min(START);
        if st.chunk.capacity() > st.cap {
            st.chunk = Vec::new();
        }
        if st.batch.capacity() > st.cap {
            st.batch = VecDeque::new();
        }
        if st.bytes.is_empty() && st.bytes.capacity() > st.cap {
            st.bytes = VecDeque::new();
        }
    }

    /// A job is done with the value: puts it back (`None`: it was lost to
    /// a panic) and wakes the async side.
    pub(super) fn put_back(&self, io: Option<Box<T>>) {
        let mut st = self.lock();
        st.lost = io.is_none();
        st.io = io;
        st.busy = false;
        let waker = st.waker.take();
        drop(st);
        if let Some(waker) = waker {
            sync::wake(waker);
        }
    }
}

/// Takes the value out for a new job, if no job holds it.
pub(super) fn take_if_idle<T>(st: &mut State<T>) -> Option<Box<T>> {
    if st.busy || st.lost {
        return None;
    }
    let io = st.io.take()?;
    st.busy = true;
    Some(io)
}

/// The error for an operation after `close`.
pub(super) fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "threadbridge: the Unblock is closed: close() dropped its inner value \
         (to get the value back instead, flush() and into_inner())",
    )
}

/// The error for an operation on a value lost to a panic.
pub(super) fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::Other,
        "threadbridge: the Unblock's inner value is gone: an earlier operation on it panicked",
    )
}

#[cfg(all(test, not(any(miri, threadbridge_loom))))]
mod tests {
    use super::{Core, State, START};
    use std::collections::VecDeque;

    fn held<T>(st: &State<T>) -> usize {
        st.bytes.capacity() + st.chunk.capacity() + st.batch.capacity()
    }

    #[test]
    fn a_buffer_grows_to_its_max_and_shrinks_back_to_its_start() {
        let core = Core::new(1 << 20, ());
        let mut st = core.lock();
        assert_eq!(st.cap, START);
        for _ in 0..20 {
            core.grow(&mut st);
        }
        assert_eq!(st.cap, 1 << 20, "never past max");
        st.chunk = vec![0; 1 << 20];
        st.batch = VecDeque::with_capacity(1 << 20);
        core.shrink(&mut st);
        assert_eq!(st.cap, START);
        assert!(
            held(&st) <= 64 * 1024,
            "a finished transfer gives its memory back"
        );
    }

    #[test]
    fn a_small_max_is_where_the_buffer_starts() {
        let core = Core::new(16, ());
        let mut st = core.lock();
        assert_eq!(st.cap, 16);
        core.grow(&mut st);
        assert_eq!(st.cap, 16);
    }
}
