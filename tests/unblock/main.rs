//! `Unblock<T>`: a blocking `Read`/`Write`/`Seek` as `futures_io`'s async
//! traits. Copies under tokio (through `tokio_util::compat`), smol and the
//! whole executor matrix; errors and panics of the inner value; seeking
//! with read-ahead and switching between reading and writing; jobs that
//! end when the `Unblock` is dropped and give their thread back while the
//! consumer is slow; nesting inside a job of the same pool.
//!
//! The tests are in modules by concept (`copy`, `read_write`, `seek`,
//! `errors`, `jobs`); here are the readers and writers they share.

#[path = "../common/mod.rs"]
mod common;

mod close;
mod copy;
mod errors;
mod exit;
mod jobs;
mod read_write;
mod seek;

use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use threadbridge::{Unblock, DEFAULT_UNBLOCK_CAPACITY};

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

/// A reader that never ends: each read counts itself, waits for its
/// probe's gate, then gives one byte. Records being dropped.
struct GatedReader(Probe);

impl Read for GatedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.call();
        self.0.gate.wait();
        buf[0] = b'g';
        Ok(1)
    }
}

impl Drop for GatedReader {
    fn drop(&mut self) {
        self.0.mark_dropped();
    }
}

fn gated_reader() -> (GatedReader, Probe) {
    let probe = Probe::new();
    (GatedReader(probe.clone()), probe)
}

/// An `Unblock` on a pool of its own (which closes when the `Unblock` is
/// dropped). The global pool's threads would outlive `main`, which Miri
/// reports; only the tests of the global pool itself use it.
fn private<T>(capacity: usize, io: T) -> Unblock<T> {
    Unblock::with_pool(&pool(2), capacity, io)
}

/// Reads everything from `src` into `dst` with `futures::io::copy`,
/// flushes `dst` and returns the inner writer (`close` would drop it).
async fn copy_through<R, W>(src: R, dst: Unblock<W>) -> (u64, W)
where
    R: futures::io::AsyncRead + Unpin,
    W: Write + Send + 'static,
{
    let mut dst = dst;
    let n = futures::io::copy(src, &mut dst).await.expect("copy");
    dst.flush().await.expect("flush");
    (n, dst.into_inner().await)
}
