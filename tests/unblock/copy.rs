//! Copies through `Unblock` readers and writers: files under tokio (through
//! `tokio_util::compat`) and smol, bytes under the whole executor matrix,
//! many copies sharing a small pool, and the global pool.

use super::*;

/// A file of several hundred KiB through an `Unblock` reader and writer,
/// driven by tokio's own `copy` through `tokio_util::compat`, on both of
/// tokio's runtimes.
#[test]
#[cfg_attr(
    miri,
    ignore = "copies a 400 KiB file: hours under Miri; the in-memory copies cover the same paths"
)]
fn a_file_copies_through_unblock_under_tokio() {
    use tokio::io::AsyncWriteExt as _;
    use tokio_util::compat::{FuturesAsyncReadCompatExt, FuturesAsyncWriteCompatExt};

    for ex in [Executor::TokioCurrentThread, Executor::TokioMultiThread] {
        with_timeout(TEST_SECS, move || {
            let data = pattern(400 * 1024 + 123);
            let src = TempFile::with_contents("tokio-src", &data);
            let dst = TempFile::new("tokio-dst");
            let (src_path, dst_path) = (src.0.clone(), dst.0.clone());
            let pool = pool(4);
            let copied = ex.block_on(async move {
                let input = pool.run(move || std::fs::File::open(src_path)).await?;
                let output = pool.run(move || std::fs::File::create(dst_path)).await?;
                let mut input = Unblock::with_pool(&pool, 16 * 1024, input).compat();
                let mut output = Unblock::new(output).compat_write();
                let n = tokio::io::copy(&mut input, &mut output).await?;
                output.shutdown().await?;
                io::Result::Ok(n)
            });
            assert_eq!(
                copied.expect("copy under tokio"),
                data.len() as u64,
                "{ex:?}"
            );
            let back = std::fs::read(&dst.0).expect("read the copy");
            assert!(back == data, "{ex:?}: the copy differs from the original");
        });
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "copies a 400 KiB file: hours under Miri; the in-memory copies cover the same paths"
)]
fn a_file_copies_through_unblock_under_smol() {
    guard(|| {
        let data = pattern(400 * 1024 + 7);
        let src = TempFile::with_contents("smol-src", &data);
        let dst = TempFile::new("smol-dst");
        let (src_path, dst_path) = (src.0.clone(), dst.0.clone());
        let copied = smol::block_on(async move {
            let input = threadbridge::run(move || std::fs::File::open(src_path)).await?;
            let output = threadbridge::run(move || std::fs::File::create(dst_path)).await?;
            let mut output = Unblock::with_capacity(4096, output);
            let n = smol::io::copy(Unblock::new(input), &mut output).await?;
            output.close().await?;
            io::Result::Ok(n)
        });
        assert_eq!(copied.expect("copy under smol"), data.len() as u64);
        let back = std::fs::read(&dst.0).expect("read the copy");
        assert!(back == data, "the copy differs from the original");
    });
}

/// In memory, small buffers (many jobs, many wake-ups) under every
/// executor, the counting one included (which fails on a lost wake-up).
#[test]
fn bytes_copy_through_unblock_under_every_executor() {
    on_every_executor(|_| async {
        let pool = pool(2);
        // A job per byte at capacity 1, so less data there.
        for (cap, len, miri_len) in [(1, 2_000, 100), (7, 20_000, 500), (1024, 64 * 1024, 2_000)] {
            let (cap, len) = (sized(cap, cap.min(64)), sized(len, miri_len));
            let data = pattern(len + 3);
            let input = Unblock::with_pool(&pool, cap, Cursor::new(data.clone()));
            let output = Unblock::with_pool(&pool, cap, Vec::new());
            let (n, out) = copy_through(input, output).await;
            assert_eq!(n, data.len() as u64, "capacity {cap}");
            assert!(out == data, "capacity {cap}: the copy differs");
        }
    });
}

#[test]
fn many_unblocks_share_a_small_pool() {
    on_every_executor(|_| async {
        let pool = pool(2);
        let n = sized(16, 4);
        let copies = (0..n).map(|i| {
            let data = pattern(sized(3000, 200) + i);
            let input = Unblock::with_pool(&pool, 50, Cursor::new(data.clone()));
            let output = Unblock::with_pool(&pool, 50, Vec::new());
            // Boxed: a future that borrows itself, kept unboxed in
            // `join_all`'s slice, trips Miri's Stacked Borrows check (a
            // known false positive for self-referential futures).
            Box::pin(async move {
                let (_, out) = copy_through(input, output).await;
                out == data
            })
        });
        let ok = futures::future::join_all(copies).await;
        assert!(ok.iter().all(|&ok| ok));
        assert!(pool.stats().threads <= 2);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "the global pool's threads outlive main, which Miri reports as a leak"
)]
fn unblock_works_with_the_global_pool_and_its_default_capacity() {
    guard(|| {
        let mut input = Unblock::new(Cursor::new(pattern(20_000)));
        assert_eq!(input.capacity(), threadbridge::DEFAULT_UNBLOCK_CAPACITY);
        let mut all = Vec::new();
        block_on(input.read_to_end(&mut all)).unwrap();
        assert!(all == pattern(20_000));
    });
}
