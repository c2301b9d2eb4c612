//! Reading and writing: the end of a file, empty reads and writes, flush,
//! `into_inner`, a read after a write, and a writer that holds no thread.

use super::*;

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
