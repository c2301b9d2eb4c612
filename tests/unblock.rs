//! `Unblock<T>`: a blocking `Read`/`Write`/`Seek` as `futures_io`'s async
//! traits. Copies under tokio (through `tokio_util::compat`), smol and the
//! whole executor matrix; errors and panics of the inner value; seeking
//! with read-ahead and switching between reading and writing; jobs that
//! end when the `Unblock` is dropped and give their thread back while the
//! consumer is slow; nesting inside a job of the same pool.

mod common;

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use threadbridge::{Unblock, DEFAULT_UNBLOCK_CAPACITY};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A writer into a shared buffer that counts its flushes and can be told
/// to fail once it holds `fail_at` bytes.
#[derive(Clone, Default)]
struct SharedWriter {
    bytes: Arc<Mutex<Vec<u8>>>,
    flushes: Arc<AtomicUsize>,
    fail_at: Option<usize>,
}

impl SharedWriter {
    fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    fn flushes(&self) -> usize {
        self.flushes.load(Ordering::SeqCst)
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.bytes.lock().unwrap();
        if let Some(limit) = self.fail_at {
            if bytes.len() >= limit {
                return Err(io::Error::new(io::ErrorKind::Other, "disk full"));
            }
            let n = buf.len().min(limit - bytes.len());
            bytes.extend_from_slice(&buf[..n]);
            return Ok(n);
        }
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A reader that gives `data` (in reads of at most `step` bytes), then an
/// error.
struct FailingReader {
    data: Cursor<Vec<u8>>,
    step: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step);
        match self.data.read(&mut buf[..n])? {
            0 => Err(io::Error::new(io::ErrorKind::InvalidData, "bad sector")),
            n => Ok(n),
        }
    }
}

/// A reader that never ends: each read counts itself, waits for `gate`,
/// then gives one byte. Records being dropped.
struct GatedReader {
    gate: Arc<Gate>,
    reads: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl Read for GatedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.gate.wait();
        buf[0] = b'g';
        Ok(1)
    }
}

impl Drop for GatedReader {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

fn gated_reader() -> (GatedReader, Arc<Gate>, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let gate = Gate::new();
    let reads = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let reader = GatedReader {
        gate: gate.clone(),
        reads: reads.clone(),
        dropped: dropped.clone(),
    };
    (reader, gate, reads, dropped)
}

/// An `Unblock` on a pool of its own (which closes when the `Unblock` is
/// dropped). The global pool's threads would outlive `main`, which Miri
/// reports; only the tests of the global pool itself use it.
fn private<T>(capacity: usize, io: T) -> Unblock<T> {
    Unblock::with_pool(&pool(2), capacity, io)
}

/// Reads everything from `src` into `dst` with `futures::io::copy`, closes
/// `dst` and returns the inner writer.
async fn copy_through<R, W>(src: R, dst: Unblock<W>) -> (u64, W)
where
    R: futures::io::AsyncRead + Unpin,
    W: Write + Send + 'static,
{
    let mut dst = dst;
    let n = futures::io::copy(src, &mut dst).await.expect("copy");
    dst.close().await.expect("close");
    (n, dst.into_inner().await)
}

// ---------------------------------------------------------------------------
// Copies under tokio, smol and every executor
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Reading and writing
// ---------------------------------------------------------------------------

#[test]
fn end_of_file_reads_zero_then_reads_again() {
    guard(|| {
        block_on(async {
            let mut input = private(4, Cursor::new(b"abcdef".to_vec()));
            let mut all = Vec::new();
            input.read_to_end(&mut all).await.unwrap();
            assert_eq!(all, b"abcdef");
            let mut buf = [0; 8];
            assert_eq!(input.read(&mut buf).await.unwrap(), 0, "after the end");
            // A source that grew is read again, as std's readers are.
            input
                .with_mut(|cursor| cursor.get_mut().extend_from_slice(b"gh"))
                .await;
            let n = input.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"gh");
        });
    });
}

#[test]
fn an_empty_read_or_write_returns_at_once() {
    guard(|| {
        block_on(async {
            let mut io = private(DEFAULT_UNBLOCK_CAPACITY, Cursor::new(Vec::new()));
            assert_eq!(io.read(&mut []).await.unwrap(), 0);
            assert_eq!(io.write(&[]).await.unwrap(), 0);
        });
    });
}

#[test]
fn flush_waits_for_the_bytes_and_the_inner_flush() {
    with_pool(2, |pool| {
        let writer = SharedWriter::default();
        block_on(async {
            let mut out = Unblock::with_pool(&pool, 8, writer.clone());
            out.write_all(b"0123456789abcdef-").await.unwrap();
            out.flush().await.unwrap();
            assert_eq!(writer.bytes(), b"0123456789abcdef-");
            assert_eq!(writer.flushes(), 1, "flush() did not reach the writer");
            // Nothing written since: a second flush has nothing to do.
            out.flush().await.unwrap();
            assert_eq!(writer.flushes(), 1);
            out.write_all(b"+").await.unwrap();
            out.close().await.unwrap();
            assert_eq!(writer.bytes(), b"0123456789abcdef-+");
            assert_eq!(writer.flushes(), 2, "close() did not flush");
        });
    });
}

#[test]
fn into_inner_writes_and_flushes_what_was_accepted() {
    guard(|| {
        let writer = SharedWriter::default();
        let data = pattern(sized(20_000, 500));
        let inner = block_on(async {
            let mut out = private(256, writer.clone());
            out.write_all(&data).await.unwrap();
            out.into_inner().await
        });
        assert!(writer.bytes() == data);
        assert_eq!(writer.flushes(), 1);
        assert!(Arc::ptr_eq(&inner.bytes, &writer.bytes));
    });
}

#[test]
fn a_read_after_a_write_flushes_first() {
    /// Logs what reaches it: `w` a write, `f` a flush, `r` a read.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<String>>);
    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push('w');
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.lock().unwrap().push('f');
            Ok(())
        }
    }
    impl Read for Log {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push('r');
            Ok(0)
        }
    }
    guard(|| {
        let log = Log::default();
        block_on(async {
            let mut io = private(4, log.clone());
            io.write_all(b"hello").await.unwrap();
            let mut buf = [0; 8];
            assert_eq!(io.read(&mut buf).await.unwrap(), 0);
        });
        let ops = log.0.lock().unwrap().clone();
        assert!(
            ops.ends_with("fr") && !ops[..ops.len() - 2].contains(['f', 'r']),
            "writes, then one flush, then the read: {ops}"
        );
    });
}

/// Bytes are written without waiting for a flush, and a writer with
/// nothing to write holds no thread.
#[test]
fn an_idle_writer_holds_no_thread() {
    with_pool(1, |pool| {
        let writer = SharedWriter::default();
        let mut out = Unblock::with_pool(&pool, 64, writer.clone());
        block_on(out.write_all(b"abc")).unwrap();
        wait_until("the bytes written", || writer.bytes() == b"abc");
        wait_stats(&pool, "the write job ended", |s| s.running == 0);
        assert_eq!(block_on(pool.run(|| 5)), 5);
        assert_eq!(writer.flushes(), 0);
        block_on(out.write_all(b"def")).unwrap();
        block_on(out.flush()).unwrap();
        assert_eq!(writer.bytes(), b"abcdef");
    });
}

// ---------------------------------------------------------------------------
// Seeking
// ---------------------------------------------------------------------------

#[test]
fn write_seek_to_start_and_read_back() {
    guard(|| {
        block_on(async {
            let data = pattern(sized(10_000, 300));
            let mut io = private(64, Cursor::new(Vec::new()));
            io.write_all(&data).await.unwrap();
            assert_eq!(io.seek(SeekFrom::Start(0)).await.unwrap(), 0);
            let mut back = Vec::new();
            io.read_to_end(&mut back).await.unwrap();
            assert!(back == data);
            let end = io.seek(SeekFrom::End(-10)).await.unwrap();
            assert_eq!(end, data.len() as u64 - 10);
            let mut tail = Vec::new();
            io.read_to_end(&mut tail).await.unwrap();
            assert_eq!(tail, data[data.len() - 10..]);
        });
    });
}

/// The job reads ahead of the caller; `SeekFrom::Current` must count from
/// where the caller is, not from where the read-ahead got.
#[test]
fn seek_from_current_after_a_partial_read_counts_from_the_caller() {
    guard(|| {
        block_on(async {
            let data: Vec<u8> = (0..=255).collect();
            // Capacity 16: the first job reads 16 bytes in one read, so
            // after the caller takes 5, 11 are read ahead.
            let mut io = private(16, Cursor::new(data.clone()));
            let mut five = [0; 5];
            io.read_exact(&mut five).await.unwrap();
            assert_eq!(five, [0, 1, 2, 3, 4]);
            assert_eq!(io.seek(SeekFrom::Current(0)).await.unwrap(), 5);
            assert_eq!(
                io.with_mut(|cursor| cursor.position()).await,
                5,
                "the inner value was not put back at the caller's position"
            );
            let mut one = [0; 1];
            io.read_exact(&mut one).await.unwrap();
            assert_eq!(one, [5]);
            assert_eq!(io.seek(SeekFrom::Current(3)).await.unwrap(), 9);
            io.read_exact(&mut one).await.unwrap();
            assert_eq!(one, [9]);
            assert_eq!(io.seek(SeekFrom::Current(-4)).await.unwrap(), 6);
            io.read_exact(&mut one).await.unwrap();
            assert_eq!(one, [6]);
        });
    });
}

/// C's stdio rule: seek between a read and a write. The write then lands
/// at the caller's position.
#[test]
fn a_write_after_a_read_and_a_seek_lands_at_the_caller_position() {
    guard(|| {
        block_on(async {
            let mut io = private(32, Cursor::new(b"0123456789".to_vec()));
            let mut four = [0; 4];
            io.read_exact(&mut four).await.unwrap();
            io.seek(SeekFrom::Current(0)).await.unwrap();
            io.write_all(b"XY").await.unwrap();
            let cursor = io.into_inner().await;
            assert_eq!(cursor.get_ref(), b"0123XY6789");
        });
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "touches the filesystem; write_seek_to_start_and_read_back covers it in memory"
)]
fn a_file_seeks_and_reads_back() {
    on_every_executor(|_| async {
        let file = TempFile::new("seek");
        let path = file.0.clone();
        let handle = threadbridge::run(move || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
        })
        .await
        .unwrap();
        let data = pattern(100_000);
        let mut io = Unblock::with_capacity(1000, handle);
        io.write_all(&data).await.unwrap();
        io.seek(SeekFrom::Start(50_000)).await.unwrap();
        let mut chunk = vec![0; 10];
        io.read_exact(&mut chunk).await.unwrap();
        assert_eq!(chunk, data[50_000..50_010]);
        assert_eq!(io.seek(SeekFrom::Current(0)).await.unwrap(), 50_010);
        io.seek(SeekFrom::Start(0)).await.unwrap();
        let mut back = Vec::new();
        io.read_to_end(&mut back).await.unwrap();
        assert!(back == data);
        drop(io);
        drop(file);
    });
}

// ---------------------------------------------------------------------------
// Errors and panics
// ---------------------------------------------------------------------------

#[test]
fn a_read_error_arrives_after_the_bytes_before_it() {
    on_every_executor(|_| async {
        let reader = FailingReader {
            data: Cursor::new(b"good bytes".to_vec()),
            step: 4,
        };
        let mut input = private(64, reader);
        let mut got = Vec::new();
        let err = input.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got, b"good bytes");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "bad sector");
    });
}

#[test]
fn interrupted_reads_are_retried() {
    guard(|| {
        struct Flaky(bool, Cursor<Vec<u8>>);
        impl Read for Flaky {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 = !self.0;
                if self.0 {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                self.1.read(buf)
            }
        }
        let mut input = private(2, Flaky(false, Cursor::new(b"abcde".to_vec())));
        let mut got = String::new();
        block_on(input.read_to_string(&mut got)).unwrap();
        assert_eq!(got, "abcde");
    });
}

#[test]
fn a_write_error_arrives_from_flush_and_the_next_write() {
    on_every_executor(|_| async {
        let writer = SharedWriter {
            fail_at: Some(10),
            ..SharedWriter::default()
        };
        let mut out = private(64, writer.clone());
        // Accepted into the buffer: the failure comes later.
        out.write_all(b"0123456789abcdef").await.unwrap();
        let err = out.flush().await.unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(writer.bytes(), b"0123456789");
        // Reported once: the next write is accepted into the buffer, and
        // its job fails too (the writer is still full).
        out.write_all(b"more").await.unwrap();
        let err = out.flush().await.unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(writer.bytes(), b"0123456789");
        assert_eq!(writer.flushes(), 0, "flushed after a failed write");
    });
}

#[test]
fn a_write_error_arrives_from_close() {
    guard(|| {
        let writer = SharedWriter {
            fail_at: Some(0),
            ..SharedWriter::default()
        };
        block_on(async {
            let mut out = private(DEFAULT_UNBLOCK_CAPACITY, writer);
            out.write_all(b"lost").await.unwrap();
            let err = out.close().await.unwrap_err();
            assert_eq!(err.to_string(), "disk full");
        });
    });
}

#[test]
fn a_write_error_arrives_from_a_seek() {
    guard(|| {
        struct FailSeek(SharedWriter);
        impl Write for FailSeek {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::new(io::ErrorKind::Other, "flush failed"))
            }
        }
        impl Seek for FailSeek {
            fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
                Ok(0)
            }
        }
        block_on(async {
            let mut io = private(DEFAULT_UNBLOCK_CAPACITY, FailSeek(SharedWriter::default()));
            io.write_all(b"abc").await.unwrap();
            let err = io.seek(SeekFrom::Start(0)).await.unwrap_err();
            assert_eq!(err.to_string(), "flush failed");
            // Reported once: the seek then goes through.
            assert_eq!(io.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        });
    });
}

#[test]
fn a_panic_in_the_reader_resumes_in_the_caller() {
    guard(|| {
        struct Panicky;
        impl Read for Panicky {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("reader exploded")
            }
        }
        let pool = pool(1);
        let mut input = Unblock::with_pool(&pool, 16, Panicky);
        let mut buf = [0; 4];
        let msg = expect_panic("a read of a panicking reader", || {
            block_on(input.read(&mut buf))
        });
        assert_eq!(msg, "reader exploded");
        assert_eq!(pool.stats().panicked, 1);
        // The value is gone: later reads fail, without hanging.
        let err = block_on(input.read(&mut buf)).unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        let msg = expect_panic("into_inner of a lost value", || {
            block_on(input.into_inner())
        });
        assert!(msg.contains("gone"), "{msg}");
        // The worker survived.
        assert_eq!(block_on(pool.run(|| 7)), 7);
    });
}

#[test]
fn a_panic_in_with_mut_resumes_in_the_caller() {
    guard(|| {
        let mut io = private(DEFAULT_UNBLOCK_CAPACITY, Cursor::new(Vec::<u8>::new()));
        let msg = expect_panic("with_mut", || {
            block_on(io.with_mut(|_| -> () { panic!("closure exploded") }))
        });
        assert_eq!(msg, "closure exploded");
        let err = block_on(io.write(b"x")).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    });
}

#[test]
fn capacity_zero_is_a_clear_panic() {
    let msg = expect_panic("capacity 0", || Unblock::with_capacity(0, io::empty()));
    assert_eq!(
        msg,
        "threadbridge: an Unblock's capacity must be at least 1, got 0"
    );
}

#[test]
fn a_shut_down_pool_gives_an_error_not_a_hang() {
    with_pool(1, |pool| {
        assert!(pool.shutdown_timeout(DEADLINE));
        let mut input = Unblock::with_pool(&pool, 16, Cursor::new(b"abc".to_vec()));
        let err = block_on(input.read(&mut [0; 4])).unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
        let mut output = Unblock::with_pool(&pool, 16, Vec::new());
        let err = block_on(output.write(b"abc")).unwrap_err();
        assert!(err.to_string().contains("shut down"), "{err}");
        // The values are still there.
        assert_eq!(block_on(input.into_inner()).into_inner(), b"abc");
        assert!(block_on(output.into_inner()).is_empty());
    });
}

// ---------------------------------------------------------------------------
// Jobs and threads
// ---------------------------------------------------------------------------

/// Dropped while its job is blocked in `read`: the job returns after that
/// read (it does not go on reading), the reader is dropped, the thread is
/// free again.
#[test]
fn dropping_mid_read_ends_the_job_after_the_current_read() {
    with_pool(2, |pool| {
        let (reader, gate, reads, dropped) = gated_reader();
        // Half of 1 MiB free after every 1-byte read: without the stop the
        // job would go on reading for half a million reads.
        let mut input = Unblock::with_pool(&pool, sized(1 << 20, 1 << 10), reader);
        {
            let mut buf = [0; 4];
            let mut read = input.read(&mut buf);
            assert!(poll_noop(Pin::new(&mut read)).is_pending());
        }
        wait_until("the job blocked in its first read", || {
            reads.load(Ordering::SeqCst) == 1
        });
        assert_eq!(pool.stats().running, 1);
        drop(input);
        gate.open();
        wait_stats(&pool, "the job ended", |s| s.running == 0);
        wait_until("the reader dropped", || dropped.load(Ordering::SeqCst));
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "the job went on reading after the Unblock was dropped"
        );
        assert_eq!(pool.stats().completed, 1);
    });
}

/// Dropped before its job started: the job never runs.
#[test]
fn dropping_before_the_job_starts_cancels_it() {
    with_pool(1, |pool| {
        let gate = Gate::new();
        let holder = hold_only_thread(&pool, &gate);
        let (reader, reader_gate, reads, dropped) = gated_reader();
        reader_gate.open();
        let mut input = Unblock::with_pool(&pool, 64, reader);
        {
            let mut buf = [0; 4];
            let mut read = input.read(&mut buf);
            assert!(poll_noop(Pin::new(&mut read)).is_pending());
        }
        wait_stats(&pool, "the read job queued", |s| s.queued == 1);
        drop(input);
        assert!(
            dropped.load(Ordering::SeqCst),
            "the reader outlived its Unblock"
        );
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.cancelled), (0, 1), "{stats:?}");
        gate.open();
        block_on(holder);
        assert_eq!(reads.load(Ordering::SeqCst), 0);
    });
}

/// Dropped with bytes still buffered: they are written (as `BufWriter`
/// does), then the job ends.
#[test]
fn dropping_a_writer_writes_what_was_accepted_then_ends() {
    with_pool(1, |pool| {
        let writer = SharedWriter::default();
        let data = pattern(sized(50_000, 1_000));
        block_on(async {
            let mut out = Unblock::with_pool(&pool, 4096, writer.clone());
            out.write_all(&data).await.unwrap();
            // no flush
        });
        wait_stats(&pool, "the write job ended", |s| {
            s.running == 0 && s.queued == 0
        });
        assert!(
            writer.bytes() == data,
            "bytes accepted before the drop were lost"
        );
    });
}

/// A reader whose consumer is slow gives its thread back once the buffer
/// is full: one thread, and other jobs still run.
#[test]
fn a_slow_reader_holds_no_thread() {
    on_every_executor(|_| async {
        let pool = pool(1);
        let mut input = Unblock::with_pool(&pool, 64, io::repeat(7));
        let mut ten = [0; 10];
        input.read_exact(&mut ten).await.unwrap();
        assert_eq!(ten, [7; 10]);
        // The buffer fills, the job pauses: the pool's one thread is free.
        assert_eq!(pool.run(|| 42).await, 42);
        let stats = pool.stats();
        assert_eq!(stats.running, 0, "{stats:?}");
        // And reading resumes.
        let mut more = vec![0; 1000];
        input.read_exact(&mut more).await.unwrap();
        assert!(more.iter().all(|&b| b == 7));
    });
}

/// A job that `block_on`s an `Unblock` of its own pool, whose one thread
/// it holds: the I/O jobs run inline instead of waiting for a thread.
#[test]
fn an_unblock_driven_inside_a_job_of_its_own_pool_does_not_deadlock() {
    with_pool(1, |pool| {
        let data = pattern(sized(5_000, 300));
        let expected = data.clone();
        let inner_pool = pool.clone();
        let out = block_on(pool.run(move || {
            futures::executor::block_on(async move {
                let input = Unblock::with_pool(&inner_pool, 100, Cursor::new(data));
                let output = Unblock::with_pool(&inner_pool, 100, Vec::new());
                copy_through(input, output).await.1
            })
        }));
        assert!(out == expected);
    });
}

#[test]
fn debug_does_not_need_debug_inner() {
    struct Opaque;
    impl Read for Opaque {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }
    let io = Unblock::with_pool(&pool(1), 5, Opaque);
    let text = format!("{io:?}");
    assert!(text.starts_with("Unblock {"), "{text}");
    assert!(text.contains("capacity: 5"), "{text}");
    let into = io.into_inner();
    assert!(format!("{into:?}").starts_with("IntoInner"));
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
