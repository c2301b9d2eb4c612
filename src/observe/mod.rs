//! Observability: what the pool and the executors around it are doing,
//! cheap enough to poll per request.
//!
//! - [`timing`]: the [`Timing`](crate::Timing) histogram and the clock jobs
//!   are stamped with (a leaf: the pool's state records into it);
//! - [`lag`]: [`lag_probe`](crate::lag_probe), an executor's own lag;
//! - [`starvation`]: the check behind `Builder::on_starvation`;
//! - [`watch`]: [`watch`](crate::watch) and
//!   [`on_slow_poll`](crate::on_slow_poll), naming the future that blocks;
//! - [`hook_thread`]: where the observers' user hooks run.
pub(crate) mod hook_thread;
pub(crate) mod lag;
#[cfg(all(test, threadbridge_loom))]
pub(crate) mod loom_support;
pub(crate) mod starvation;
pub(crate) mod timing;
pub(crate) mod watch;
