//! The auto traits of every public type, checked at compile time: a
//! regression (a field that makes a handle `!Send`, a future `!Unpin`, a
//! `Run` no longer `UnwindSafe`) fails the build of this test.
//!
//! Handles and snapshots are `Send + Sync + Unpin + UnwindSafe +
//! RefUnwindSafe`, as tokio's `JoinHandle` and async-task's `Task` are, so
//! `run(f).catch_unwind()` compiles. The adapters' futures that hold a
//! user closure (`WithMut`) are `Send` but not `Sync`, like the closure.

use std::fs::File;
use std::panic::{RefUnwindSafe, UnwindSafe};

use threadbridge::{
    Builder, CancelToken, Error, IntoInner, Iter, Limiter, LimiterStats, Pool, Run, Shutdown,
    Stats, TryRunError, Unblock, WithMut,
};

const fn all<T: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>() {}
const fn send_unpin_unwind_safe<T: Send + Unpin + UnwindSafe>() {}

const _: () = {
    all::<Pool>();
    all::<Builder>();
    all::<Limiter>();
    all::<Run<u8>>();
    all::<Run<Vec<String>>>();
    all::<Shutdown>();
    all::<Stats>();
    all::<LimiterStats>();
    all::<Error>();
    all::<CancelToken>();
    all::<TryRunError<fn() -> u8>>();
    all::<Iter<u8>>();
    all::<Iter<std::io::Result<String>>>();
    all::<Unblock<File>>();
    all::<IntoInner<File>>();
    send_unpin_unwind_safe::<WithMut<'static, File, u64>>();
};

/// The point of `Run: UnwindSafe`: the closure's panic, resumed in the
/// awaiting task, can be caught there with `catch_unwind`.
#[test]
fn a_runs_panic_is_caught_by_catch_unwind() {
    use futures::FutureExt;
    let pool = Pool::builder().build().unwrap();
    let caught = futures::executor::block_on(pool.run(|| panic!("boom")).catch_unwind());
    let payload = caught.expect_err("the closure's panic resumes in the Run");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    let fine = futures::executor::block_on(pool.run(|| 5).catch_unwind());
    assert_eq!(fine.ok(), Some(5));
    let limited = pool.limiter(1);
    let caught = futures::executor::block_on(limited.run(|| panic!("limited")).catch_unwind());
    assert!(caught.is_err());
    assert_eq!(pool.stats().panicked, 2);
}
