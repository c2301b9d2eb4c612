//! The `tracing` feature: a job runs inside its submitter's span, reporting
//! to its submitter's subscriber. Without the feature, [`Origin`] is empty
//! and every method compiles to nothing.

/// Where a job was submitted from, as `tracing` sees it.
#[derive(Default)]
pub(crate) struct Origin {
    #[cfg(feature = "tracing")]
    inner: Option<(tracing::Dispatch, tracing::Span)>,
}

impl Origin {
    /// The calling thread's current subscriber and span.
    #[inline]
    pub(crate) fn capture() -> Self {
        Self {
            #[cfg(feature = "tracing")]
            inner: Some((
                tracing::dispatcher::get_default(tracing::Dispatch::clone),
                tracing::Span::current(),
            )),
        }
    }

    /// Runs `f` with the captured subscriber as the thread's default and the
    /// captured span entered; both are dropped when `f` returns, so the span
    /// closes with the job (before its `Run` can see the result).
    #[inline]
    pub(crate) fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tracing")]
        if let Some((dispatch, span)) = self.inner {
            return tracing::dispatcher::with_default(&dispatch, || span.in_scope(f));
        }
        f()
    }
}
