//! The global pool behind [`run`](crate::run): built lazily, sized by
//! `THREADBRIDGE_MAX_THREADS`, or installed by
//! [`Builder::build_global`](crate::Builder::build_global).

use crate::builder::{max_threads_from_env, Builder, DEFAULT_MAX_THREADS};
use crate::error::Error;
use crate::pool::Pool;
use crate::sync::OnceLock;

static GLOBAL: OnceLock<Pool> = OnceLock::new();

pub(crate) fn get() -> &'static Pool {
    GLOBAL.get_or_init(build_lazily)
}

fn build_lazily() -> Pool {
    let max = match max_threads_from_env() {
        Ok(max) => max.unwrap_or(DEFAULT_MAX_THREADS),
        Err(err) => panic!("threadbridge: cannot build the global pool: {err}"),
    };
    Builder::new()
        .max_threads(max)
        .build()
        .unwrap_or_else(|err| panic!("threadbridge: cannot build the global pool: {err}"))
}

pub(crate) fn install(builder: Builder) -> Result<(), Error> {
    if GLOBAL.get().is_some() {
        return Err(Error::global_exists());
    }
    let pool = builder.build()?;
    // Lost a race with another installer or a lazy build: the new pool is
    // dropped, which closes it.
    GLOBAL.set(pool).map_err(|_| Error::global_exists())
}
