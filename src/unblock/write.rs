//! Writing: the write-out job and [`AsyncWrite`]. A write copies into the
//! buffer and returns; a job writes the buffer out, and ends only once it
//! is empty.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::mem;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncWrite;

use crate::sync::{self, register_waker, unlocked, MutexGuard};

use super::core::{take_if_idle, Core, Mode, State};
use super::Unblock;

/// A write job: writes the buffer out (swapping it for an empty one, so
/// the async side can refill it meanwhile), flushes if asked, and returns
/// once there is nothing left to do — with the lock held, so that no byte
/// can arrive between its last look and its exit.
fn write_job<'a, T: Write>(core: &'a Core<T>, io: &mut T) -> MutexGuard<'a, State<T>> {
    let mut st = core.lock();
    let mut batch = mem::take(&mut st.batch);
    loop {
        if !st.bytes.is_empty() {
            mem::swap(&mut st.bytes, &mut batch);
            st.dirty = true;
            let waker = st.waker.take();
            let result = unlocked(&mut st, || {
                if let Some(waker) = waker {
                    sync::wake(waker);
                }
                io.write_all(batch.make_contiguous())
            });
            batch.clear();
            if let Err(err) = result {
                // Bytes after a failed write cannot follow it: drop them.
                st.bytes.clear();
                st.dirty = false;
                st.flush = false;
                st.error = Some(err);
                break;
            }
        } else if st.flush {
            let result = unlocked(&mut st, || io.flush());
            st.flush = false;
            st.dirty = false;
            // A flush ends a transfer.
            core.shrink(&mut st);
            if batch.capacity() > st.cap {
                batch = VecDeque::new();
            }
            if let Err(err) = result {
                st.error = Some(err);
            }
        } else {
            break;
        }
    }
    st.batch = batch;
    st
}

/// Starts a write job: the [`StartFn`](super::StartFn) a write leaves in
/// `flusher`, for a switch away from writing to flush with.
fn start_write<T: Write + Send + 'static>(unblock: &mut Unblock<T>, io: Box<T>) -> io::Result<()> {
    unblock.start(io, write_job::<T>)
}

impl<T: Write + Send + 'static> AsyncWrite for Unblock<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.flusher = Some(start_write::<T>);
        ready!(this.poll_switch(cx, Mode::Write))?;
        let mut st = this.core.lock();
        if st.lost {
            drop(st);
            return this.poll_lost(cx).map(Err);
        }
        if let Some(err) = st.error.take() {
            return Poll::Ready(Err(err));
        }
        if st.room() == 0 {
            // The writer cannot keep up with the writes: a bigger buffer
            // takes them in larger batches (up to `max`).
            this.core.grow(&mut st);
        }
        let room = st.room();
        if room == 0 {
            // Full, so a job is on it (no job ⇒ empty).
            register_waker(&mut st.waker, cx.waker());
            drop(st);
            this.poll_inline(cx);
            return Poll::Pending;
        }
        let n = room.min(data.len());
        st.bytes.extend(&data[..n]);
        let io = take_if_idle(&mut st);
        drop(st);
        if let Some(io) = io {
            this.start(io, write_job::<T>)?;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.core.lock();
        if st.lost {
            drop(st);
            return this.poll_lost(cx).map(Err);
        }
        match st.mode {
            Mode::Write => {}
            // A write error carried over a switch is reported here too.
            Mode::Idle => return Poll::Ready(st.error.take().map_or(Ok(()), Err)),
            Mode::Read | Mode::Seek | Mode::Call | Mode::Closed => return Poll::Ready(Ok(())),
        }
        if let Some(err) = st.error.take() {
            return Poll::Ready(Err(err));
        }
        if !st.busy && !st.dirty {
            return Poll::Ready(Ok(()));
        }
        st.flush = true;
        register_waker(&mut st.waker, cx.waker());
        let io = take_if_idle(&mut st);
        drop(st);
        if let Some(io) = io {
            this.start(io, write_job::<T>)?;
        }
        this.poll_inline(cx);
        Poll::Pending
    }

    /// Flushes, then closes: the inner value is dropped on a pool thread
    /// (a child's stdin, a pipe, a socket sees EOF now, not when the
    /// `Unblock` is dropped). A flush error is reported, and the value is
    /// closed all the same.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let mut st = this.core.lock();
            if st.mode == Mode::Closed {
                if st.lost {
                    drop(st);
                    return this.poll_lost(cx).map(Err);
                }
                if st.busy {
                    register_waker(&mut st.waker, cx.waker());
                    drop(st);
                    this.poll_inline(cx);
                    return Poll::Pending;
                }
                return Poll::Ready(st.error.take().map_or(Ok(()), Err));
            }
            drop(st);
            ready!(this.poll_switch(cx, Mode::Idle))?;
            let mut st = this.core.lock();
            let io = take_if_idle(&mut st);
            st.mode = Mode::Closed;
            drop(st);
            if let Some(io) = io {
                this.start_close(io);
            }
        }
    }
}
