//! Getting at an [`Unblock`]'s inner value: [`IntoInner`] takes it back,
//! [`WithMut`] runs a closure on it on a pool thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::run::Run;

use super::core::{gone, take_if_idle, Core, Mode};
use super::Unblock;

/// The inner value of an [`Unblock`], once its job has ended; from
/// [`Unblock::into_inner`].
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let cursor = threadbridge::Unblock::new(std::io::Cursor::new(vec![1, 2, 3]));
/// let cursor = cursor.into_inner().await;
/// assert_eq!(cursor.into_inner(), [1, 2, 3]);
/// # });
/// ```
#[must_use = "an IntoInner does nothing unless awaited"]
pub struct IntoInner<T> {
    pub(super) unblock: Option<Unblock<T>>,
}

impl<T> Future for IntoInner<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let unblock = self
            .unblock
            .as_mut()
            .expect("IntoInner polled after it completed");
        if let Err(err) = ready!(unblock.poll_switch(cx, Mode::Idle)) {
            panic!("{err}");
        }
        let io = unblock.core.lock().io.take();
        self.unblock = None;
        Poll::Ready(*io.unwrap_or_else(|| panic!("{}", gone())))
    }
}

impl<T> std::panic::UnwindSafe for IntoInner<T> {}
impl<T> std::panic::RefUnwindSafe for IntoInner<T> {}

impl<T> fmt::Debug for IntoInner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoInner")
            .field("done", &self.unblock.is_none())
            .finish_non_exhaustive()
    }
}

/// A [`WithMut`]'s closure, boxed so its type need not be named.
pub(super) type CallFn<T, R> = Box<dyn FnOnce(&mut T) -> R + Send>;

/// The result of a closure run on an [`Unblock`]'s inner value; from
/// [`Unblock::with_mut`].
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let mut input = threadbridge::Unblock::new(std::io::Cursor::new(b"abc".to_vec()));
/// let len = input.with_mut(|cursor| cursor.get_ref().len()).await;
/// assert_eq!(len, 3);
/// # });
/// ```
#[must_use = "a WithMut does nothing unless awaited"]
pub struct WithMut<'a, T, R> {
    pub(super) unblock: &'a mut Unblock<T>,
    pub(super) f: Option<CallFn<T, R>>,
    pub(super) run: Option<Run<R>>,
}

impl<T: Send + 'static, R: Send + 'static> Future for WithMut<'_, T, R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        if let Some(run) = &mut this.run {
            let out = ready!(Pin::new(run).poll(cx));
            this.run = None;
            return Poll::Ready(out);
        }
        if let Err(err) = ready!(this.unblock.poll_switch(cx, Mode::Idle)) {
            panic!("{err}");
        }
        let f = this.f.take().expect("WithMut polled after it completed");
        let io = {
            let mut st = this.unblock.core.lock();
            let io = take_if_idle(&mut st);
            st.mode = Mode::Call;
            io
        };
        let io = io.unwrap_or_else(|| panic!("{}", gone()));
        let mut run = match this
            .unblock
            .start_once(io, move |_: &Core<T>, io: &mut T| f(io))
        {
            Ok(run) => run,
            Err(err) => panic!("threadbridge: with_mut could not start its job: {err}"),
        };
        match Pin::new(&mut run).poll(cx) {
            Poll::Ready(out) => Poll::Ready(out),
            Poll::Pending => {
                this.run = Some(run);
                Poll::Pending
            }
        }
    }
}

impl<T, R> Drop for WithMut<'_, T, R> {
    fn drop(&mut self) {
        // Started: the closure runs to its end; the Unblock waits for it.
        if let Some(run) = self.run.take() {
            run.detach();
        }
    }
}

impl<T, R> std::panic::UnwindSafe for WithMut<'_, T, R> {}

impl<T, R> fmt::Debug for WithMut<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithMut")
            .field("started", &self.f.is_none())
            .field("done", &(self.f.is_none() && self.run.is_none()))
            .finish_non_exhaustive()
    }
}
