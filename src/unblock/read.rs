//! Reading: the read-ahead job and [`AsyncRead`]. A job reads while half
//! the buffer is free; a read that drains the buffer to half free starts
//! the next one.

use std::io::{self, Read};
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncRead;

use crate::sync::{self, register_waker, unlocked, MutexGuard};

use super::core::{take_if_idle, Core, Mode, State};
use super::Unblock;

/// The most one `read` call of a read job asks for.
const READ_AT_ONCE: usize = 256 * 1024;

/// A read job: reads ahead while half the buffer is free. Returns with
/// the lock held, so that its last look and its exit are one step.
fn read_job<'a, T: Read>(core: &'a Core<T>, io: &mut T) -> MutexGuard<'a, State<T>> {
    let mut st = core.lock();
    let mut chunk = mem::take(&mut st.chunk);
    while !st.stop && !st.eof && st.error.is_none() && st.room() >= st.half() {
        // At most READ_AT_ONCE a read: the async side drains what came
        // while the next read is under way, instead of waiting for one
        // read of the whole buffer.
        let room = st.room().min(READ_AT_ONCE);
        if chunk.len() < room {
            chunk.resize(room, 0);
        }
        match unlocked(&mut st, || io.read(&mut chunk[..room])) {
            Ok(0) => st.eof = true,
            Ok(n) => {
                st.bytes.extend(&chunk[..n.min(room)]);
                if n >= room {
                    // The reader gives all it is asked for (a file): a
                    // bigger buffer means fewer hand-offs.
                    core.grow(&mut st);
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => st.error = Some(err),
        }
        if let Some(waker) = st.waker.take() {
            unlocked(&mut st, || sync::wake(waker));
        }
    }
    st.chunk = chunk;
    if st.eof {
        core.shrink(&mut st);
    }
    st
}

impl<T: Read + Send + 'static> AsyncRead for Unblock<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_switch(cx, Mode::Read))?;
        let mut st = this.core.lock();
        // A switch away that its caller gave up on: keep reading.
        st.stop = false;
        // Reading from a VecDeque<u8> copies out and drains; it never fails.
        let n = st.bytes.read(out).unwrap_or(0);
        if n == 0 {
            if st.lost {
                drop(st);
                return this.poll_lost(cx).map(Err);
            }
            if let Some(err) = st.error.take() {
                return Poll::Ready(Err(err));
            }
            if st.eof {
                // Reported once; the next read tries again, as std's do.
                st.eof = false;
                this.core.shrink(&mut st);
                return Poll::Ready(Ok(0));
            }
            register_waker(&mut st.waker, cx.waker());
        }
        let io = if !st.eof && st.error.is_none() && st.room() >= st.half() {
            take_if_idle(&mut st)
        } else {
            None
        };
        drop(st);
        if let Some(io) = io {
            if let Err(err) = this.start(io, read_job::<T>) {
                if n == 0 {
                    return Poll::Ready(Err(err));
                }
                this.core.lock().error = Some(err);
            }
        }
        if n > 0 {
            Poll::Ready(Ok(n))
        } else {
            this.poll_inline(cx);
            Poll::Pending
        }
    }
}
