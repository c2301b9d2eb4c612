//! loom models of every concurrent protocol in the pool and its adapters
//! (`iter`, `Unblock`), driven through the public API so they check the
//! code that ships.
//!
//! Run (release, bounded; see CONTRIBUTING.md):
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg threadbridge_loom" cargo test --release --test loom`
//!
//! Each model keeps to loom's limit of 4 threads, main included: pools have
//! 1–2 workers. A model ends with `shutdown_timeout`, so every worker must
//! exit: a stranded job, a lost wake-up or a thread that never leaves shows
//! up as a loom deadlock.
#![cfg(threadbridge_loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Condvar, Mutex};
use loom::thread;
use threadbridge::{Limiter, Pool, Run, TryRunError};

const LONG: Duration = Duration::from_secs(3600);

fn pool(max_threads: usize) -> Pool {
    Pool::builder().max_threads(max_threads).build().unwrap()
}

fn finish(pool: &Pool) {
    assert!(pool.shutdown_timeout(LONG), "every worker exits");
    let stats = pool.stats();
    assert_eq!(
        (stats.threads, stats.running, stats.queued, stats.waiting),
        (0, 0, 0, 0),
        "nothing left counted as alive, running or queued"
    );
}

/// Counts its drops: a value dropped twice or never shows in the count.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A waker that records that it was woken, with a condvar to wait on.
#[derive(Default)]
struct Flag {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Flag {
    /// Waits for a wake-up and consumes it.
    fn wait(&self) {
        let mut woken = self.woken.lock().unwrap();
        while !*woken {
            woken = self.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let flag = Arc::new(Flag::default());
    (flag.clone(), Waker::from(flag))
}

fn poll<T>(run: &mut Run<T>, waker: &Waker) -> Poll<T> {
    Pin::new(run).poll(&mut Context::from_waker(waker))
}

/// A gate a job can block on until the model opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
}

/// 1. Job state: submit → run → complete, awaited. The closure runs once,
/// the result arrives once, the counters are in before the Run is ready.
#[test]
fn job_runs_once_and_result_arrives_once() {
    loom::model(|| {
        let pool = pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let (r, d) = (runs.clone(), drops.clone());
        let run = pool.run(move || {
            r.fetch_add(1, SeqCst);
            Tracked(d)
        });
        let value = block_on(run);
        assert_eq!(pool.stats().completed, 1, "counted before ready");
        drop(value);
        finish(&pool);
        assert_eq!(runs.load(SeqCst), 1);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// 1. Job state: the Run dropped while the job may be queued, starting,
/// running or done. Exactly one of cancelled/completed; the closure's
/// captures and the result are each dropped exactly once.
#[test]
fn run_dropped_at_any_stage() {
    loom::model(|| {
        let pool = pool(1);
        let ran = Arc::new(AtomicBool::new(false));
        let captures = Arc::new(AtomicUsize::new(0));
        let results = Arc::new(AtomicUsize::new(0));
        let capture = Tracked(captures.clone());
        let (flag, res) = (ran.clone(), results.clone());
        let run = pool.run(move || {
            let _capture = capture;
            flag.store(true, SeqCst);
            Tracked(res)
        });
        drop(run);
        finish(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled, 1);
        assert_eq!(ran.load(SeqCst), stats.completed == 1);
        assert_eq!(captures.load(SeqCst), 1);
        assert_eq!(results.load(SeqCst), stats.completed as usize);
    });
}

/// 2. Waker hand-off: polled with waker A, then B, while the job completes.
/// If the second poll is pending, B (the latest) is woken; A never is after
/// B took over, and no wake-up is lost (else loom reports a deadlock).
#[test]
fn latest_waker_is_woken() {
    loom::model(|| {
        let pool = pool(1);
        let mut run = pool.run(|| 5);
        let (a, waker_a) = flag();
        if let Poll::Ready(v) = poll(&mut run, &waker_a) {
            assert_eq!(v, 5);
            return finish(&pool);
        }
        let (b, waker_b) = flag();
        let mut result = poll(&mut run, &waker_b);
        let a_before = *a.woken.lock().unwrap();
        while result.is_pending() {
            b.wait(); // a lost wake-up hangs here: loom reports a deadlock
            result = poll(&mut run, &waker_b);
        }
        assert_eq!(result, Poll::Ready(5));
        assert_eq!(
            *a.woken.lock().unwrap(),
            a_before,
            "A not woken after B took over"
        );
        finish(&pool);
    });
}

/// 3. Idle claim: a job submitted while the only worker finishes its last
/// job and parks is never stranded in the queue (tokio#8056's class).
#[test]
fn submit_racing_worker_going_idle() {
    loom::model(|| {
        let pool = pool(1);
        let first = pool.run(|| 1);
        let p = pool.clone();
        let submitter = thread::spawn(move || block_on(p.run(|| 2)));
        assert_eq!(block_on(first), 1);
        assert_eq!(submitter.join().unwrap(), 2);
        assert!(pool.stats().threads <= 1);
        finish(&pool);
    });
}

/// 4. Keep-alive expiry racing a new job: with a zero keep-alive the worker
/// expires as soon as it parks; a job submitted meanwhile is run by it or
/// by a new thread, never lost, and the cap holds throughout.
#[test]
fn keep_alive_expiry_racing_new_job() {
    loom::model(|| {
        let pool = Pool::builder()
            .max_threads(1)
            .keep_alive(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(block_on(pool.run(|| 1)), 1);
        let second = pool.run(|| 2);
        assert!(pool.stats().threads <= 1);
        assert_eq!(block_on(second), 2);
        finish(&pool);
        assert_eq!(pool.stats().completed, 2);
    });
}

/// 5. Limiter tokens: two jobs on a limiter of 1 never overlap, a waiter
/// whose Run is dropped never runs and frees its place, and `set_limit`
/// racing a release neither loses nor duplicates a token.
#[test]
fn limiter_tokens_are_never_lost_or_doubled() {
    loom::model(|| {
        let pool = pool(2);
        let limiter = pool.limiter(1);
        let inside = Arc::new(AtomicUsize::new(0));
        let job = |inside: Arc<AtomicUsize>| {
            move || {
                assert_eq!(inside.fetch_add(1, SeqCst), 0, "limit of 1 held");
                inside.fetch_sub(1, SeqCst);
            }
        };
        let a = limiter.run(job(inside.clone()));
        let b = limiter.run(job(inside.clone()));
        drop(b); // waiting (never runs), or granted and running (keeps its token)
        block_on(a);
        let c = limiter.run(job(inside.clone()));
        let l = limiter.clone();
        let setter = thread::spawn(move || l.set_limit(1).unwrap());
        block_on(c);
        setter.join().unwrap();
        finish(&pool);
        let stats = limiter.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "every token back");
    });
}

/// A pool of `threads` and a limiter of 1 whose only token a gated job
/// takes at submit: whatever the limiter runs next waits for that token.
fn held_limiter(threads: usize) -> (Pool, Limiter, Gate, Run<()>) {
    let pool = pool(threads);
    let limiter = pool.limiter(1);
    let gate = Gate::default();
    let g = gate.clone();
    let holder = limiter.run(move || g.wait());
    (pool, limiter, gate, holder)
}

/// 5. A waiter dropped while another waits behind it stays in the queue as a
/// tombstone: the released token must pass over it to the live waiter.
#[test]
fn dropped_waiter_ahead_of_a_live_one_is_passed_over() {
    loom::model(|| {
        let (pool, limiter, gate, holder) = held_limiter(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let dropped = limiter.run(move || r.store(1, SeqCst));
        let live = limiter.run(|| 3);
        drop(dropped);
        gate.open();
        assert_eq!(block_on(live), 3, "the live waiter got the token");
        block_on(holder);
        finish(&pool);
        assert_eq!(ran.load(SeqCst), 0, "a dropped waiter ran");
        let stats = limiter.stats();
        assert_eq!((stats.running, stats.waiting), (0, 0), "every token back");
    });
}

/// 5. set_limit raised while a waiter waits: the waiter is granted at once.
#[test]
fn raised_limit_grants_waiter() {
    loom::model(|| {
        let (pool, limiter, gate, holder) = held_limiter(2);
        let waiter = limiter.run(|| 2);
        let l = limiter.clone();
        let setter = thread::spawn(move || l.set_limit(2).unwrap());
        assert_eq!(block_on(waiter), 2, "granted by the raise, not the release");
        gate.open();
        block_on(holder);
        setter.join().unwrap();
        finish(&pool);
    });
}

/// 6. Backpressure: queue_capacity(0) on a busy pool refuses try_run with
/// the closure back; a run() waiting for space, dropped while the worker
/// frees up, either ran or was cancelled, never both.
#[test]
fn backpressure_admission_completion_and_drop() {
    loom::model(|| {
        let pool = Pool::builder()
            .max_threads(1)
            .queue_capacity(0)
            .build()
            .unwrap();
        let gate = Gate::default();
        let g = gate.clone();
        let busy = pool.run(move || g.wait());
        // The only thread is (or is about to be) taken by `busy`.
        match pool.try_run(|| 3) {
            Err(TryRunError::Full(f)) => assert_eq!(f(), 3),
            Ok(run) => drop(run), // `busy` had not been claimed yet: room for one
            Err(other) => panic!("unexpected {other:?}"),
        }
        let waiting = pool.run(|| 4);
        gate.open();
        drop(waiting);
        block_on(busy);
        finish(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled + stats.rejected, 3);
    });
}

/// 7. Shutdown racing submit: a job is either refused as Closed (closure
/// back) or accepted and run; every worker exits either way.
#[test]
fn shutdown_racing_submit() {
    loom::model(|| {
        let pool = pool(1);
        let ran = Arc::new(AtomicBool::new(false));
        let (p, r) = (pool.clone(), ran.clone());
        let submitter = thread::spawn(move || match p.try_run(move || r.store(true, SeqCst)) {
            Ok(run) => {
                block_on(run);
                true
            }
            Err(err) => {
                assert!(err.is_closed());
                false
            }
        });
        finish(&pool);
        let accepted = submitter.join().unwrap();
        assert_eq!(ran.load(SeqCst), accepted);
    });
}

/// 7. Dropping the last handle closes the pool without blocking; the
/// accepted job still runs and the worker exits (else: loom deadlock).
#[test]
fn last_handle_dropped_drains_and_exits() {
    loom::model(|| {
        let pool = pool(1);
        let run = pool.run(|| 9);
        drop(pool);
        assert_eq!(block_on(run), 9);
    });
}

/// 8. Cancel token vs. completion: the token is false while the Run lives,
/// and a drop racing the job's start or end never breaks the job.
#[test]
fn cancel_token_vs_completion() {
    loom::model(|| {
        let pool = pool(1);
        let alive = pool.run_cancellable(|token| token.is_cancelled());
        assert!(!block_on(alive), "not cancelled while its Run lives");
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let dropped = pool.run_cancellable(move |token| {
            s.store(1 + token.is_cancelled() as usize, SeqCst);
        });
        drop(dropped);
        finish(&pool);
        let stats = pool.stats();
        assert_eq!(stats.completed + stats.cancelled, 2);
        assert_eq!(seen.load(SeqCst) != 0, stats.completed == 2);
    });
}

/// 10. Nesting: a job that blocks on a Run of its own one-thread pool takes
/// that job back and runs it inline instead of deadlocking.
#[test]
fn nested_run_is_taken_inline() {
    loom::model(|| {
        let pool = pool(1);
        let p = pool.clone();
        let outer = pool.run(move || block_on(p.run(|| 2)) + 1);
        assert_eq!(block_on(outer), 3);
        finish(&pool);
    });
}

/// 3. Wake chaining: with two idle threads, two jobs submitted together must
/// both run at once (the first blocks until the second starts). The second
/// submit wakes nobody while the first thread is on its way; that thread
/// must wake the next one when it finds more work queued.
#[test]
fn woken_thread_wakes_the_next() {
    loom::model(|| {
        let pool = pool(2);
        // Start both threads and let them go idle.
        let (g1, g2) = (Gate::default(), Gate::default());
        let (a, b) = (g1.clone(), g2.clone());
        let w1 = pool.run(move || {
            b.open();
            a.wait();
        });
        let w2 = pool.run(move || g2.wait());
        g1.open();
        block_on(w1);
        block_on(w2);
        // Both idle now; these two need both threads at once.
        let gate = Gate::default();
        let (g, h) = (gate.clone(), gate.clone());
        let first = pool.run(move || g.wait());
        let second = pool.run(move || h.open());
        block_on(second);
        block_on(first);
        finish(&pool);
    });
}

/// 2. Lowering `max_threads` while both threads are busy: the surplus
/// thread finishes its job and exits instead of taking queued work, so the
/// jobs queued afterwards never run two at a time.
#[test]
fn lowered_cap_holds_for_queued_jobs() {
    loom::model(|| {
        let pool = pool(2);
        let gate = Gate::default();
        let (g1, g2) = (gate.clone(), gate.clone());
        let a = pool.run(move || g1.wait());
        let b = pool.run(move || g2.wait());
        pool.set_max_threads(1).unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let job = |inside: Arc<AtomicUsize>| {
            move || {
                assert_eq!(
                    inside.fetch_add(1, SeqCst),
                    0,
                    "one thread after the cap was lowered"
                );
                inside.fetch_sub(1, SeqCst);
            }
        };
        let c = pool.run(job(inside.clone()));
        let d = pool.run(job(inside.clone()));
        gate.open();
        block_on(a);
        block_on(b);
        block_on(c);
        block_on(d);
        finish(&pool);
    });
}

/// 3. A backlog grows the pool: two parked threads are woken one after
/// the other while three jobs arrive, so the submits start no thread; the
/// jobs can only finish together, so a woken thread must start the third.
/// (Three workers: bounded to one preemption to stay small.)
#[test]
fn backlog_grows_the_pool() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(1);
    model.check(|| {
        let pool = parked_pool(3, 2);
        three_that_finish_together(&pool);
        finish(&pool);
    });
}

/// 3. Spin relay: two idle threads, jobs one at a time. A spinning thread
/// handed a job tells the parked one to spin in its place (a notify, since
/// it is parked); the next job may be handed to that thread without one, so
/// the relay's notify must not be lost, and the pool must still shut down.
#[test]
fn spin_relay_hands_the_next_job_over() {
    loom::model(|| {
        let pool = parked_pool(2, 2);
        assert_eq!(block_on(pool.run(|| 1)), 1);
        assert_eq!(block_on(pool.run(|| 2)), 2);
        finish(&pool);
    });
}

/// 3. Fan-out: three parked threads, three jobs that can only finish
/// together. Once more jobs run than there are cores (loom's pools count
/// one), each woken thread wakes up to two more; every thread must still
/// be woken, none twice. (Three workers: one preemption.)
#[test]
fn fan_out_wakes_every_parked_thread() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(1);
    model.check(|| {
        let pool = parked_pool(3, 3);
        three_that_finish_together(&pool);
        finish(&pool);
    });
}

/// A pool of up to `max` threads with `parked` of them started and idle.
fn parked_pool(max: usize, parked: usize) -> Pool {
    let pool = Pool::builder()
        .max_threads(max)
        .min_threads(parked)
        .build()
        .unwrap();
    while pool.stats().idle_threads < parked {
        loom::thread::yield_now();
    }
    pool
}

/// Submits three jobs that can only finish together (two wait for the
/// third to open a gate) and awaits them all.
fn three_that_finish_together(pool: &Pool) {
    let gate = Gate::default();
    let (g, h, i) = (gate.clone(), gate.clone(), gate.clone());
    let first = pool.run(move || g.wait());
    let second = pool.run(move || h.wait());
    let third = pool.run(move || i.open());
    block_on(third);
    block_on(first);
    block_on(second);
}

/// 4. `iter`: a read-ahead job fills a buffer of two, gives its thread
/// back, and the stream restarts it at half: every item arrives once, in
/// order, with no restart lost between the job's last look and its exit.
#[test]
fn iter_restarts_read_ahead_without_losing_an_item() {
    loom::model(|| {
        use futures::StreamExt;
        let pool = pool(1);
        let items: Vec<u32> = block_on(pool.iter_with_capacity(2, 0..3u32).collect());
        assert_eq!(items, [0, 1, 2]);
        finish(&pool);
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

/// 5. `Unblock` writing: the async side fills the buffer and starts a job
/// only when none is busy; a job drains and exits in one step. Every byte
/// reaches the writer, flush waits for it, and the value comes back.
#[test]
fn unblock_write_flush_and_into_inner() {
    loom::model(|| {
        use futures::io::AsyncWriteExt;
        let pool = pool(1);
        let sink = Sink::default();
        let mut out = threadbridge::Unblock::with_pool(&pool, 2, sink.clone());
        block_on(async {
            out.write_all(b"abc").await.unwrap();
            out.flush().await.unwrap();
        });
        assert_eq!(&*sink.0.lock().unwrap(), b"abc");
        drop(block_on(out.into_inner()));
        finish(&pool);
    });
}

/// 6. `Unblock` reading, dropped mid-stream: the read-ahead job stops after
/// its current `read` and the pool is left with nothing running.
#[test]
fn unblock_dropped_mid_read_ends_its_job() {
    loom::model(|| {
        use futures::io::AsyncReadExt;
        let pool = pool(1);
        let mut input =
            threadbridge::Unblock::with_pool(&pool, 2, std::io::Cursor::new(vec![7u8; 6]));
        let mut byte = [0u8; 1];
        block_on(input.read_exact(&mut byte)).unwrap();
        assert_eq!(byte, [7]);
        drop(input);
        finish(&pool);
    });
}

/// 7. `Unblock` writing without a flush: bytes accepted while a job is
/// finishing must still be written. A job's last look at the buffer and
/// its exit are one step; with a gap between them, bytes written in it
/// would wait for a flush that may never come.
#[test]
fn unblock_written_bytes_reach_the_writer_without_a_flush() {
    loom::model(|| {
        use futures::io::AsyncWriteExt;
        let pool = pool(1);
        let sink = Sink::default();
        let mut out = threadbridge::Unblock::with_pool(&pool, 2, sink.clone());
        block_on(out.write_all(b"abc")).unwrap();
        while sink.0.lock().unwrap().len() < 3 {
            thread::yield_now();
        }
        drop(out);
        finish(&pool);
    });
}
