//! Seeking: [`AsyncSeek`], one job per seek, its result left in the core.

use std::io::{self, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::AsyncSeek;

use crate::sync::register_waker;

use super::core::{closed, gone, take_if_idle, Core, Mode};
use super::Unblock;

impl<T: Seek + Send + 'static> AsyncSeek for Unblock<T> {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            let mut st = this.core.lock();
            if st.mode == Mode::Closed {
                return Poll::Ready(Err(closed()));
            }
            if st.mode == Mode::Seek && !st.lost {
                if st.busy {
                    register_waker(&mut st.waker, cx.waker());
                    drop(st);
                    this.poll_inline(cx);
                    return Poll::Pending;
                }
                st.mode = Mode::Idle;
                if let Some((asked, Some(result))) = st.seek.take() {
                    if asked == pos {
                        return Poll::Ready(result);
                    }
                    // A seek whose caller gave up; this one seeks anew.
                }
            }
            drop(st);
            let ahead = ready!(this.poll_switch(cx, Mode::Idle))?;
            let mut st = this.core.lock();
            if let Some(err) = st.error.take() {
                // A write error from the flush: report it instead of seeking.
                return Poll::Ready(Err(err));
            }
            let target = match pos {
                // The inner value is `ahead` bytes past the caller.
                SeekFrom::Current(offset) if ahead > 0 => {
                    match i64::try_from(ahead)
                        .ok()
                        .and_then(|ahead| offset.checked_sub(ahead))
                    {
                        Some(offset) => SeekFrom::Current(offset),
                        None => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::InvalidInput,
                                "threadbridge: seek offset out of range",
                            )))
                        }
                    }
                }
                other => other,
            };
            let Some(io) = take_if_idle(&mut st) else {
                return Poll::Ready(Err(gone()));
            };
            st.mode = Mode::Seek;
            st.seek = Some((pos, None));
            drop(st);
            this.run = Some(this.start_once(io, move |core: &Core<T>, io: &mut T| {
                let result = io.seek(target);
                if let Some((_, slot)) = &mut core.lock().seek {
                    *slot = Some(result);
                }
            })?);
        }
    }
}
