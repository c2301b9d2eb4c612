//! The state an [`Unblock`](super::Unblock)'s async side and its jobs
//! share, under one lock.

use std::collections::VecDeque;
use std::io::{self, SeekFrom};
use std::task::Waker;

use crate::fault;
use crate::sync::{Mutex, MutexGuard};

/// What the async side and the jobs share.
pub(super) struct Core<T> {
    /// The buffer's capacity, in bytes.
    pub(super) cap: usize,
    state: Mutex<State<T>>,
}

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

impl<T> Core<T> {
    /// A core holding `io`, idle, with a buffer of `cap` bytes.
    pub(super) fn new(cap: usize, io: T) -> Self {
        Self {
            cap,
            state: Mutex::new(State {
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

    /// The free space a reader waits for before it reads again.
    pub(super) fn half(&self) -> usize {
        self.cap / 2 + self.cap % 2
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
            fault::wake(waker);
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
