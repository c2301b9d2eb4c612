//! Errors and panics of the inner value, and refusals: every failure
//! arrives in the caller, none hangs.

use super::*;

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
    with_shut_down_pool(1, |pool| {
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
