//! Observability: what the pool and the executors around it are doing,
//! cheap enough to poll per request.
//!
//! - [`timing`]: the [`Timing`](crate::Timing) histogram and the clock jobs
//!   are stamped with (a leaf: the pool's state records into it).

pub(crate) mod timing;
