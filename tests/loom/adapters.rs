//! The adapters: `iter`'s read-ahead and `Unblock`'s reading and writing.

use std::sync::Arc;

use loom::future::block_on;
use loom::thread;
use threadbridge::{Pool, Unblock};

use crate::{finish, model_on_pool, pool};

/// 4. `iter`: a read-ahead job fills a buffer of two, gives its thread
/// back, and the stream restarts it at half: every item arrives once, in
/// order, with no restart lost between the job's last look and its exit.
#[test]
fn iter_restarts_read_ahead_without_losing_an_item() {
    model_on_pool(1, |pool| {
        use futures::StreamExt;
        let items: Vec<u32> = block_on(pool.iter_with_capacity(2, 0..3u32).collect());
        assert_eq!(items, [0, 1, 2]);
    });
}

/// A writer whose bytes the model can read back.
#[derive(Clone, Default)]
struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An `Unblock` with a buffer of 2 on `pool`, writing into a fresh
/// [`Sink`], and that sink to read the bytes back from.
fn sink_writer(pool: &Pool) -> (Sink, Unblock<Sink>) {
    let sink = Sink::default();
    (sink.clone(), Unblock::with_pool(pool, 2, sink))
}

/// 5. `Unblock` writing: the async side fills the buffer and starts a job
/// only when none is busy; a job drains and exits in one step. Every byte
/// reaches the writer, flush waits for it, and the value comes back.
#[test]
fn unblock_write_flush_and_into_inner() {
    model_on_pool(1, |pool| {
        use futures::io::AsyncWriteExt;
        let (sink, mut out) = sink_writer(pool);
        block_on(async {
            out.write_all(b"abc").await.unwrap();
            out.flush().await.unwrap();
        });
        assert_eq!(&*sink.0.lock().unwrap(), b"abc");
        drop(block_on(out.into_inner()));
    });
}

/// 6. `Unblock` reading, dropped mid-stream: the read-ahead job stops after
/// its current `read` and the pool is left with nothing running.
#[test]
fn unblock_dropped_mid_read_ends_its_job() {
    model_on_pool(1, |pool| {
        use futures::io::AsyncReadExt;
        let mut input = Unblock::with_pool(pool, 2, std::io::Cursor::new(vec![7u8; 6]));
        let mut byte = [0u8; 1];
        block_on(input.read_exact(&mut byte)).unwrap();
        assert_eq!(byte, [7]);
        drop(input);
    });
}

/// 7. `Unblock` writing without a flush: bytes accepted while a job is
/// finishing must still be written. A job's last look at the buffer and
/// its exit are one step; with a gap between them, bytes written in it
/// would wait for a flush that may never come.
#[test]
fn unblock_written_bytes_reach_the_writer_without_a_flush() {
    model_on_pool(1, |pool| {
        use futures::io::AsyncWriteExt;
        let (sink, mut out) = sink_writer(pool);
        block_on(out.write_all(b"abc")).unwrap();
        while sink.0.lock().unwrap().len() < 3 {
            thread::yield_now();
        }
        drop(out);
    });
}

/// A writer that counts its drops.
struct CountedSink(Sink, Arc<loom::sync::atomic::AtomicUsize>);

impl std::io::Write for CountedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for CountedSink {
    fn drop(&mut self) {
        self.1.fetch_add(1, loom::sync::atomic::Ordering::SeqCst);
    }
}

/// `Unblock`'s close: the write-out, then the close job that drops the
/// value on a pool thread and wakes `close`. Every byte arrives, the
/// value is dropped exactly once and before `close` returns, and the
/// `Unblock` outliving its close drops nothing more.
#[test]
fn unblock_close_drops_the_value_once_and_wakes() {
    loom::model(|| {
        use futures::io::AsyncWriteExt;
        use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let pool = pool(1);
        let sink = Sink::default();
        let drops = Arc::new(AtomicUsize::new(0));
        let writer = CountedSink(sink.clone(), drops.clone());
        let mut out = Unblock::with_pool(&pool, 2, writer);
        block_on(async {
            out.write_all(b"abc").await.unwrap();
            out.close().await.unwrap();
        });
        assert_eq!(drops.load(SeqCst), 1, "closed: the value is dropped");
        assert_eq!(&*sink.0.lock().unwrap(), b"abc");
        drop(out);
        finish(&pool);
        assert_eq!(drops.load(SeqCst), 1, "dropped once");
    });
}
