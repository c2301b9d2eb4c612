//! Jobs and threads: jobs that end when the `Unblock` is dropped, give
//! their thread back while the consumer is slow, and run inline inside a
//! job of their own pool.

use super::*;

/// Dropped while its job is blocked in `read`: the job returns after that
/// read (it does not go on reading), the reader is dropped, the thread is
/// free again.
#[test]
fn dropping_mid_read_ends_the_job_after_the_current_read() {
    with_pool(2, |pool| {
        let (reader, probe) = gated_reader();
        // Half of 1 MiB free after every 1-byte read: without the stop the
        // job would go on reading for half a million reads.
        let mut input = Unblock::with_pool(&pool, sized(1 << 20, 1 << 10), reader);
        {
            let mut buf = [0; 4];
            let mut read = input.read(&mut buf);
            assert!(poll_noop(Pin::new(&mut read)).is_pending());
        }
        wait_until("the job blocked in its first read", || probe.calls() == 1);
        assert_eq!(pool.stats().running, 1);
        drop(input);
        probe.assert_stops_after_call(
            &pool,
            1,
            "the job went on reading after the Unblock was dropped",
        );
        assert_eq!(pool.stats().completed, 1);
    });
}

/// Dropped before its job started: the job never runs.
#[test]
fn dropping_before_the_job_starts_cancels_it() {
    with_pool(1, |pool| {
        let holder = HeldThread::new(&pool);
        let (reader, probe) = gated_reader();
        probe.gate.open();
        let mut input = Unblock::with_pool(&pool, 64, reader);
        {
            let mut buf = [0; 4];
            let mut read = input.read(&mut buf);
            assert!(poll_noop(Pin::new(&mut read)).is_pending());
        }
        wait_stats(&pool, "the read job queued", |s| s.queued == 1);
        drop(input);
        assert!(probe.dropped(), "the reader outlived its Unblock");
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.cancelled), (0, 1), "{stats:?}");
        block_on(holder.release());
        assert_eq!(probe.calls(), 0);
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
