//! Changing an [`Unblock`]'s mode: the job of the mode before ends first.

use std::io;
use std::task::{Context, Poll};

use crate::sync::register_waker;

use super::core::{closed, take_if_idle, Mode};
use super::Unblock;

impl<T> Unblock<T> {
    /// Brings the `Unblock` into `want` mode, ending the job of any other
    /// mode first. Returns how many bytes of read-ahead it dropped (all in
    /// this one call, so a seek can account for them). A write error met
    /// on the way stays in `error` for the caller to report; `Err` only if
    /// the value is lost or closed.
    pub(super) fn poll_switch(
        &mut self,
        cx: &mut Context<'_>,
        want: Mode,
    ) -> Poll<io::Result<usize>> {
        let mut ahead = 0;
        loop {
            let mut st = self.core.lock();
            if st.mode == want {
                return Poll::Ready(Ok(ahead));
            }
            if st.lost {
                drop(st);
                return self.poll_lost(cx).map(Err);
            }
            match st.mode {
                Mode::Idle => st.mode = want,
                Mode::Read => {
                    st.stop = true;
                    if st.busy {
                        register_waker(&mut st.waker, cx.waker());
                        drop(st);
                        self.poll_inline(cx);
                        return Poll::Pending;
                    }
                    ahead = st.bytes.len();
                    st.bytes.clear();
                    self.core.shrink(&mut st);
                    st.stop = false;
                    st.eof = false;
                    // An error of the read-ahead, about bytes nobody asked for.
                    st.error = None;
                    st.mode = Mode::Idle;
                }
                Mode::Write => {
                    if !st.busy && !st.dirty {
                        st.mode = Mode::Idle;
                        continue;
                    }
                    st.flush = true;
                    register_waker(&mut st.waker, cx.waker());
                    let io = take_if_idle(&mut st);
                    drop(st);
                    if let Some(io) = io {
                        let flusher = self.flusher.expect("write mode is entered by a write");
                        if let Err(err) = flusher(self, io) {
                            // No flush can happen: report why, move on.
                            let mut st = self.core.lock();
                            st.dirty = false;
                            st.flush = false;
                            st.error = Some(err);
                            st.mode = Mode::Idle;
                            continue;
                        }
                    }
                    self.poll_inline(cx);
                    return Poll::Pending;
                }
                Mode::Closed => return Poll::Ready(Err(closed())),
                Mode::Seek | Mode::Call => {
                    if st.busy {
                        register_waker(&mut st.waker, cx.waker());
                        drop(st);
                        self.poll_inline(cx);
                        return Poll::Pending;
                    }
                    st.seek = None;
                    st.mode = Mode::Idle;
                }
            }
        }
    }
}
