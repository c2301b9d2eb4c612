//! The global pool behind [`run`](crate::run): built lazily, sized by
//! [`MAX_THREADS_ENV`], or installed by [`Builder::build_global`].

use std::num::IntErrorKind;

use crate::builder::Builder;
use crate::error::Error;
use crate::pool::Pool;
use crate::sync::OnceLock;

/// The environment variable that sets the global pool's `max_threads` when
/// it is built lazily.
///
/// # Examples
/// ```
/// assert_eq!(threadbridge::MAX_THREADS_ENV, "THREADBRIDGE_MAX_THREADS");
/// // THREADBRIDGE_MAX_THREADS=8 ./server   caps the global pool at 8 threads
/// ```
pub const MAX_THREADS_ENV: &str = "THREADBRIDGE_MAX_THREADS";

static GLOBAL: OnceLock<Pool> = OnceLock::new();

pub(crate) fn get() -> &'static Pool {
    GLOBAL.get_or_init(build_lazily)
}

fn build_lazily() -> Pool {
    let builder = match max_threads_from_env() {
        Ok(Some(max)) => Builder::new().max_threads(max),
        Ok(None) => Builder::new(),
        Err(err) => panic!("threadbridge: cannot build the global pool: {err}"),
    };
    builder
        .build()
        .unwrap_or_else(|err| panic!("threadbridge: cannot build the global pool: {err}"))
}

impl Builder {
    /// Builds the pool and installs it as the global one used by
    /// [`run`](crate::run), [`limiter`](crate::limiter) and
    /// [`global`](crate::global).
    ///
    /// # Errors
    /// The errors of [`build`](Builder::build), and an error if the global
    /// pool already exists (it is built lazily by the first use).
    ///
    /// # Examples
    /// ```
    /// threadbridge::Pool::builder().max_threads(8).build_global()?;
    /// assert_eq!(threadbridge::global().stats().max_threads, 8);
    /// assert!(threadbridge::Pool::builder().build_global().is_err());
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn build_global(self) -> Result<(), Error> {
        if GLOBAL.get().is_some() {
            return Err(Error::global_exists());
        }
        let pool = self.build()?;
        // Lost a race with another installer or a lazy build: the new pool is
        // dropped, which closes it.
        GLOBAL.set(pool).map_err(|_| Error::global_exists())
    }
}

/// Parses the value of [`MAX_THREADS_ENV`]; `None` when it is unset.
fn max_threads_from_env() -> Result<Option<usize>, Error> {
    let Some(raw) = std::env::var_os(MAX_THREADS_ENV) else {
        return Ok(None);
    };
    let text = raw.to_string_lossy();
    match text.trim().parse::<usize>() {
        Ok(0) => Err(Error::invalid(format!(
            "{MAX_THREADS_ENV} must be at least 1, got {text:?}"
        ))),
        Ok(n) => Ok(Some(n)),
        Err(err) if *err.kind() == IntErrorKind::PosOverflow => Err(Error::invalid(format!(
            "{MAX_THREADS_ENV} must be at most usize::MAX ({}), got {text:?}",
            usize::MAX
        ))),
        Err(_) => Err(Error::invalid(format!(
            "{MAX_THREADS_ENV} must be a positive integer, got {text:?}"
        ))),
    }
}
