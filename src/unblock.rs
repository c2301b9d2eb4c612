//! [`Unblock<T>`]: a blocking `Read` / `Write` / `Seek` value as a
//! `futures_io::AsyncRead` / `AsyncWrite` / `AsyncSeek`, its I/O done by
//! short jobs on a pool.
//!
//! # Design
//! The inner value and one bounded byte buffer live in a [`Core`] under one
//! lock, shared by the async side (the `Unblock`) and at most one job at a
//! time (`busy`). A job takes the value out, works while it usefully can,
//! puts the value back and returns its thread to the pool:
//!
//! | mode    | a job runs while                                  | restarted by                                   |
//! |---------|---------------------------------------------------|------------------------------------------------|
//! | `Idle`  | —                                                 | —                                              |
//! | `Read`  | at least half the buffer is free (and no EOF, error or stop) | a read that drains the buffer to half free |
//! | `Write` | the buffer holds bytes, or a flush is asked for   | a write into an empty buffer, or a flush       |
//! | `Seek`  | one `seek`; its result waits in the core           | —                                              |
//! | `Call`  | one `with_mut` closure                            | —                                              |
//!
//! So a slow reader, or an idle writer, holds no thread: a thread is busy
//! only while blocking I/O is under way. Invariant: in `Write` mode, no job
//! ⇒ the buffer is empty (a job leaves only once it has written everything).
//!
//! Changing mode first brings the value back ([`Unblock::poll_switch`]): a
//! reader stops after its current `read` and its read-ahead is dropped and
//! counted, so `SeekFrom::Current` stays exact; a writer drains and
//! flushes.
//!
//! # Wake-ups
//! The async side checks the core and registers its waker in one critical
//! section; a job changes the core and takes that waker in one critical
//! section, and wakes it unlocked. So a change the async side waits for
//! always finds its waker (no lost wake-up), only the latest waker is kept,
//! and a job wakes the task only when the task waits.
//!
//! Work is never left without a job: the async side adds work and, if no
//! job is `busy`, starts one in the same critical section; a read or write
//! loop takes its last look at the work and clears `busy` in one critical
//! section too ([`IoFn`]).
//!
//! # Panics
//! A job that panics marks the value lost (`lost`); the panic itself goes
//! to the job's [`Run`], which the async side polls next and which resumes
//! it there.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};

use crate::cancel::CancelToken;
use crate::error::TryRunError;
use crate::job::Work;
use crate::pool::{self, Pool};
use crate::run::Run;
use crate::sync::{register_waker, unlocked, Arc, Mutex, MutexGuard};
use crate::worker;

/// The buffer size [`Unblock::new`] uses: 8 KiB, as smol's
/// `blocking::Unblock`.
pub const DEFAULT_UNBLOCK_CAPACITY: usize = 8 * 1024;

/// A blocking reader, writer or seeker as an async one: `std::io::Read`,
/// `Write` and `Seek` become [`futures_io::AsyncRead`],
/// [`AsyncWrite`](futures_io::AsyncWrite) and
/// [`AsyncSeek`](futures_io::AsyncSeek), with the blocking calls made on a
/// pool's threads, never on the executor's.
///
/// For files, stdin/stdout, pipes to child processes, synchronous
/// (de)compressors: anything with only a blocking API. It is smol's
/// `blocking::Unblock` on a threadbridge pool. Under tokio, adapt it with
/// `tokio_util::compat` (`FuturesAsyncReadCompatExt::compat`).
///
/// # Buffering
/// I/O goes through a buffer of [`capacity`](Unblock::capacity) bytes
/// (default [`DEFAULT_UNBLOCK_CAPACITY`]):
///
/// * **Reading** starts at the first read. A job reads ahead into the
///   buffer while at least half of it is free, then gives its thread back;
///   a read that drains the buffer to half free starts the next job. A fast
///   reader rarely waits, and a slow one holds no thread.
/// * **Writing** copies into the buffer and returns; a job writes the
///   buffer out and gives its thread back once it is empty. A
///   [flush](futures_io::AsyncWrite::poll_flush) waits until every byte is
///   written and the inner writer's own `flush` has run; `close` flushes
///   and also stops a reader.
/// * **Seeking** drops the read-ahead (and flushes writes first);
///   `SeekFrom::Current` counts from the position the caller has read up
///   to, not from where the read-ahead got.
/// * **Switching** from writing to reading flushes first. A write after a
///   read lands where the *read-ahead* left the inner value: as with C's
///   stdio, seek between a read and a write (`SeekFrom::Current(0)` puts
///   the inner value back at the caller's position).
///
/// # Threads
/// Each burst of I/O is one ordinary job on the pool: it counts against
/// `max_threads` and in [`Stats`](crate::Stats), and waits in the queue
/// when every thread is busy. A `read` that blocks (stdin with nothing
/// typed) holds its thread until it returns: a thread cannot be
/// interrupted.
///
/// # Errors
/// An error from the inner value comes back from a later poll, as with
/// `std::io::BufWriter`: a read error after the bytes read before it; a
/// write or flush error from the next write, flush, close, read or seek.
/// Once the pool is shut down, an operation that needs a new job fails
/// with an error.
///
/// # Panics
/// If the inner value panics, the panic resumes in the task that polls the
/// `Unblock` next. The value is then lost: later polls return an error and
/// [`into_inner`](Unblock::into_inner) and [`with_mut`](Unblock::with_mut)
/// panic.
///
/// # Dropping
/// Dropping an `Unblock` stops a reading job after its current `read`; a
/// writing job first writes the bytes already accepted (as `BufWriter`
/// does when dropped). Either way the job ends and its thread goes back to
/// the pool; the inner value is dropped on that job's thread (where the
/// `Unblock` is dropped, if no job had it).
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use threadbridge::Unblock;
///
/// let path = std::env::temp_dir().join(format!("threadbridge-doc-{}", std::process::id()));
/// let file = threadbridge::run({
///     let path = path.clone();
///     move || std::fs::File::create(path)
/// })
/// .await?;
/// let mut file = Unblock::new(file);
/// file.write_all(b"hello").await?;
/// file.close().await?;
///
/// let file = threadbridge::run({
///     let path = path.clone();
///     move || std::fs::File::open(path)
/// })
/// .await?;
/// let mut text = String::new();
/// Unblock::new(file).read_to_string(&mut text).await?;
/// assert_eq!(text, "hello");
/// # std::fs::remove_file(path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub struct Unblock<T> {
    core: Arc<Core<T>>,
    /// The latest I/O job's `Run`: polled only to resume its panic, or to
    /// run it inline on a worker of the pool (see [`Unblock::poll_inline`]).
    run: Option<Run<()>>,
    pool: Pool,
    /// Starts a write job; kept for the flush that a switch away from
    /// writing starts, in code that does not know `T: Write`.
    flusher: Option<StartFn<T>>,
}

/// Starts a job on an `Unblock`'s value.
type StartFn<T> = fn(&mut Unblock<T>, Box<T>) -> io::Result<()>;

/// What the async side and the jobs share.
pub(crate) struct Core<T> {
    cap: usize,
    state: Mutex<State<T>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Idle,
    Read,
    Write,
    Seek,
    Call,
}

struct State<T> {
    mode: Mode,
    /// A job was submitted and has not put the value back yet: only it
    /// touches `io`.
    busy: bool,
    /// The inner value while no job holds it.
    io: Option<Box<T>>,
    /// A job panicked: the value is gone for good.
    lost: bool,
    /// Read: bytes read ahead. Write: bytes not written yet. At most `cap`.
    bytes: VecDeque<u8>,
    /// Read: the reader reached its end; reported once the bytes are out.
    eof: bool,
    /// Read: the async side wants the reader to stop.
    stop: bool,
    /// Write: flush the inner writer once the bytes are written.
    flush: bool,
    /// Write: bytes went to the inner writer since it last flushed.
    dirty: bool,
    /// The next error to report (a read's after the bytes before it).
    error: Option<io::Error>,
    /// Seek: what the caller asked for and, once done, the result.
    seek: Option<(SeekFrom, Option<io::Result<u64>>)>,
    /// Buffers kept between jobs: the reader's chunk, the writer's batch.
    chunk: Vec<u8>,
    batch: VecDeque<u8>,
    /// The async side's latest waker, while it waits.
    waker: Option<Waker>,
}

impl<T> Core<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// The free space a reader waits for before it reads again.
    fn half(&self) -> usize {
        self.cap / 2 + self.cap % 2
    }

    /// A job is done with the value: puts it back (`None`: it was lost to
    /// a panic) and wakes the async side.
    fn put_back(&self, io: Option<Box<T>>) {
        let mut st = self.lock();
        st.lost = io.is_none();
        st.io = io;
        st.busy = false;
        let waker = st.waker.take();
        drop(st);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Takes the value out for a new job, if no job holds it.
fn take_if_idle<T>(st: &mut State<T>) -> Option<Box<T>> {
    if st.busy || st.lost {
        return None;
    }
    let io = st.io.take()?;
    st.busy = true;
    Some(io)
}

/// A one-off job on the value (a seek, a `with_mut` closure): a named
/// type, not a closure, so a pool that refuses it hands the value back.
struct Job<T, F> {
    core: Arc<Core<T>>,
    io: Box<T>,
    f: F,
}

/// A read or write loop. It returns with the lock held, and the job puts
/// the value back under that same lock: were there a gap between the
/// loop's last look and `busy` turning false, the async side could add
/// work in it, see `busy`, and leave the work with no job to do it.
type IoFn<T> = for<'a, 'b> fn(&'a Core<T>, &'b mut T) -> MutexGuard<'a, State<T>>;

/// A job running an [`IoFn`].
struct IoJob<T> {
    core: Arc<Core<T>>,
    io: Box<T>,
    f: IoFn<T>,
}

impl<T: Send + 'static> Work for IoJob<T> {
    type Output = ();

    fn call(self, _: &CancelToken) {
        let IoJob { core, io, f } = self;
        let mut io = Some(io);
        let exit = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut st = f(&core, io.as_mut().expect("the job holds the value"));
            st.io = io.take();
            st.busy = false;
            st.waker.take()
        }));
        match exit {
            Ok(waker) => {
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            Err(payload) => {
                core.put_back(None);
                drop(io);
                // On to the pool, which hands it to this job's Run.
                panic::resume_unwind(payload)
            }
        }
    }
}

impl<T, F, R> Work for Job<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Core<T>, &mut T) -> R + Send + 'static,
    R: Send + 'static,
{
    type Output = R;

    fn call(self, _: &CancelToken) -> R {
        let Job { core, mut io, f } = self;
        match panic::catch_unwind(AssertUnwindSafe(|| f(&core, &mut io))) {
            Ok(out) => {
                core.put_back(Some(io));
                out
            }
            Err(payload) => {
                core.put_back(None);
                drop(io);
                // On to the pool, which hands it to this job's Run.
                panic::resume_unwind(payload)
            }
        }
    }
}

/// A read job: reads ahead while half the buffer is free. Returns with
/// the lock held, so that its last look and its exit are one step.
fn read_job<'a, T: Read>(core: &'a Core<T>, io: &mut T) -> MutexGuard<'a, State<T>> {
    let half = core.half();
    let mut st = core.lock();
    let mut chunk = mem::take(&mut st.chunk);
    chunk.resize(core.cap, 0);
    while !st.stop && !st.eof && st.error.is_none() && core.cap - st.bytes.len() >= half {
        let room = core.cap - st.bytes.len();
        match unlocked(&mut st, || io.read(&mut chunk[..room])) {
            Ok(0) => st.eof = true,
            Ok(n) => st.bytes.extend(&chunk[..n.min(room)]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => st.error = Some(err),
        }
        if let Some(waker) = st.waker.take() {
            unlocked(&mut st, || waker.wake());
        }
    }
    st.chunk = chunk;
    st
}

/// A write job: writes the buffer out (swapping it for an empty one, so
/// the async side can refill it meanwhile), flushes if asked, and returns
/// once there is nothing left to do — with the lock held, so that no byte
/// can arrive between its last look and its exit.
fn write_job<'a, T: Write>(core: &'a Core<T>, io: &mut T) -> MutexGuard<'a, State<T>> {
    let mut st = core.lock();
    let mut batch = mem::take(&mut st.batch);
    loop {
        if !st.bytes.is_empty() {
            mem::swap(&mut st.bytes, &mut batch);
            st.dirty = true;
            let waker = st.waker.take();
            let result = unlocked(&mut st, || {
                if let Some(waker) = waker {
                    waker.wake();
                }
                io.write_all(batch.make_contiguous())
            });
            batch.clear();
            if let Err(err) = result {
                // Bytes after a failed write cannot follow it: drop them.
                st.bytes.clear();
                st.dirty = false;
                st.flush = false;
                st.error = Some(err);
                break;
            }
        } else if st.flush {
            let result = unlocked(&mut st, || io.flush());
            st.flush = false;
            st.dirty = false;
            if let Err(err) = result {
                st.error = Some(err);
            }
        } else {
            break;
        }
    }
    st.batch = batch;
    st
}

fn start_write<T: Write + Send + 'static>(unblock: &mut Unblock<T>, io: Box<T>) -> io::Result<()> {
    unblock.start(io, write_job::<T>)
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::Other,
        "threadbridge: the Unblock's inner value is gone: an earlier operation on it panicked",
    )
}

impl<T> Unblock<T> {
    /// Wraps `io`, to run its blocking I/O on the [global](crate::global)
    /// pool through a buffer of [`DEFAULT_UNBLOCK_CAPACITY`] bytes.
    ///
    /// # Panics
    /// As [`global`](crate::global).
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::io::AsyncReadExt;
    ///
    /// let mut input = threadbridge::Unblock::new(&b"blocking bytes"[..]);
    /// let mut text = String::new();
    /// input.read_to_string(&mut text).await?;
    /// assert_eq!(text, "blocking bytes");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn new(io: T) -> Self {
        Self::with_pool(crate::global(), DEFAULT_UNBLOCK_CAPACITY, io)
    }

    /// Like [`new`](Unblock::new), with a buffer of `capacity` bytes.
    ///
    /// # Panics
    /// If `capacity` is 0, or as [`global`](crate::global).
    ///
    /// # Examples
    /// ```
    /// let stdout = threadbridge::Unblock::with_capacity(64 * 1024, std::io::stdout());
    /// assert_eq!(stdout.capacity(), 64 * 1024);
    /// ```
    pub fn with_capacity(capacity: usize, io: T) -> Self {
        Self::with_pool(crate::global(), capacity, io)
    }

    /// Wraps `io`, to run its blocking I/O on `pool` through a buffer of
    /// `capacity` bytes.
    ///
    /// # Panics
    /// If `capacity` is 0.
    ///
    /// # Examples
    /// ```
    /// use threadbridge::{Pool, Unblock, DEFAULT_UNBLOCK_CAPACITY};
    ///
    /// let files = Pool::builder().max_threads(8).build()?;
    /// let stdin = Unblock::with_pool(&files, DEFAULT_UNBLOCK_CAPACITY, std::io::stdin());
    /// assert_eq!(stdin.capacity(), DEFAULT_UNBLOCK_CAPACITY);
    /// # Ok::<(), threadbridge::Error>(())
    /// ```
    pub fn with_pool(pool: &Pool, capacity: usize, io: T) -> Self {
        assert!(
            capacity > 0,
            "threadbridge: an Unblock's capacity must be at least 1, got 0"
        );
        Self {
            core: Arc::new(Core {
                cap: capacity,
                state: Mutex::new(State {
                    mode: Mode::Idle,
                    busy: false,
                    io: Some(Box::new(io)),
                    lost: false,
                    bytes: VecDeque::new(),
                    eof: false,
                    stop: false,
                    flush: false,
                    dirty: false,
                    error: None,
                    seek: None,
                    chunk: Vec::new(),
                    batch: VecDeque::new(),
                    waker: None,
                }),
            }),
            run: None,
            pool: pool.clone(),
            flusher: None,
        }
    }

    /// The size of the buffer, in bytes.
    ///
    /// # Examples
    /// ```
    /// let input = threadbridge::Unblock::new(std::io::empty());
    /// assert_eq!(input.capacity(), threadbridge::DEFAULT_UNBLOCK_CAPACITY);
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.cap
    }

    /// Waits for the background job to end — a reader is stopped, buffered
    /// writes are written and flushed — and returns the inner value.
    ///
    /// Bytes read ahead are dropped: the inner value's position is where
    /// the read-ahead left it. A write or flush error on the way is
    /// dropped too; [`close`](futures_io::AsyncWrite::poll_close) first to
    /// see it.
    ///
    /// # Panics
    /// If the inner value was lost to a panic in an earlier operation.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::io::AsyncWriteExt;
    ///
    /// let mut out = threadbridge::Unblock::new(Vec::new());
    /// out.write_all(b"abc").await?;
    /// let bytes = out.into_inner().await; // flushes first
    /// assert_eq!(bytes, b"abc");
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn into_inner(self) -> IntoInner<T> {
        IntoInner {
            unblock: Some(self),
        }
    }

    /// Runs `f` on the inner value on a pool thread (after stopping a
    /// reader or flushing a writer, as [`into_inner`](Unblock::into_inner)
    /// does) and returns what it returns: for the calls the async traits
    /// lack, such as `File::set_len` or `File::metadata`.
    ///
    /// The job starts when the future is first polled and runs to its end
    /// even if the future is dropped. A flush error on the way is kept for
    /// the next read, write, flush or seek.
    ///
    /// # Panics
    /// If `f` panics (the panic resumes here), if the inner value was lost
    /// to an earlier panic, or if the pool is shut down or cannot start a
    /// thread.
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::io::AsyncWriteExt;
    ///
    /// let mut out = threadbridge::Unblock::new(Vec::<u8>::new());
    /// out.write_all(b"four").await?;
    /// let len = out.with_mut(|bytes| bytes.len()).await;
    /// assert_eq!(len, 4);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn with_mut<F, R>(&mut self, f: F) -> WithMut<'_, T, R>
    where
        T: Send + 'static,
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        WithMut {
            unblock: self,
            f: Some(Box::new(f)),
            run: None,
        }
    }

    /// Hands a job holding the value (taken out by the caller, who set
    /// `busy`) to the pool. If the pool refuses, the value goes back.
    fn submit<W: Work>(&self, job: W, value: fn(W) -> Box<T>) -> io::Result<Run<W::Output>> {
        let (job, err) = match pool::submit(self.pool.shared(), None, job, false) {
            Ok(run) => return Ok(run),
            Err(TryRunError::Spawn(job, err)) => (job, err),
            Err(TryRunError::Closed(job) | TryRunError::Full(job)) => (
                job,
                io::Error::new(io::ErrorKind::Other, "threadbridge: the pool is shut down"),
            ),
        };
        let mut st = self.core.lock();
        st.io = Some(value(job));
        st.busy = false;
        match st.mode {
            // Keep "no job ⇒ nothing to write": drop what could not go.
            Mode::Write => st.bytes.clear(),
            Mode::Seek | Mode::Call => {
                st.mode = Mode::Idle;
                st.seek = None;
            }
            Mode::Idle | Mode::Read => {}
        }
        Err(err)
    }

    /// Starts a read or write loop on the value.
    fn start(&mut self, io: Box<T>, f: IoFn<T>) -> io::Result<()>
    where
        T: Send + 'static,
    {
        let job = IoJob {
            core: Arc::clone(&self.core),
            io,
            f,
        };
        // The job before, if any, has put the value back: its Run is done
        // or about to be, and holds no panic (a panic sets `lost`, and no
        // job starts after that).
        self.run = Some(self.submit(job, |job| job.io)?);
        Ok(())
    }

    /// Starts a one-off job on the value (a seek, a `with_mut` closure).
    fn start_once<F, R>(&self, io: Box<T>, f: F) -> io::Result<Run<R>>
    where
        T: Send + 'static,
        F: FnOnce(&Core<T>, &mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let job = Job {
            core: Arc::clone(&self.core),
            io,
            f,
        };
        self.submit(job, |job| job.io)
    }

    /// Called where the async side is about to wait for a job. On a worker
    /// thread of the pool (a job that `block_on`s this `Unblock`) a job
    /// still queued would wait for a thread that this very thread may be
    /// holding: polling its [`Run`] there takes it back and runs it inline,
    /// as [`Run`] does for nested jobs. Jobs never wait for the async side,
    /// so running one inline cannot deadlock.
    fn poll_inline(&mut self, cx: &mut Context<'_>) {
        if !worker::is_worker_of(self.pool.shared()) {
            return;
        }
        if let Some(mut run) = self.run.take() {
            if Pin::new(&mut run).poll(cx).is_pending() {
                self.run = Some(run);
            }
        }
    }

    /// The value is lost: resumes the panic that lost it (if it was an I/O
    /// job's), then reports an error.
    fn poll_lost(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if let Some(mut run) = self.run.take() {
            if Pin::new(&mut run).poll(cx).is_pending() {
                self.run = Some(run);
                return Poll::Pending;
            }
        }
        Poll::Ready(gone())
    }

    /// Brings the `Unblock` into `want` mode, ending the job of any other
    /// mode first. Returns how many bytes of read-ahead it dropped (all in
    /// this one call, so a seek can account for them). A write error met
    /// on the way stays in `error` for the caller to report; `Err` only if
    /// the value is lost.
    fn poll_switch(&mut self, cx: &mut Context<'_>, want: Mode) -> Poll<io::Result<usize>> {
        let mut ahead = 0;
        loop {
            let mut st = self.core.lock();
            if st.mode == want {
                return Poll::Ready(Ok(ahead));
            }
            if st.lost {
                drop(st);
                return self.poll_lost(cx).map(Err);
            }
            match st.mode {
                Mode::Idle => st.mode = want,
                Mode::Read => {
                    st.stop = true;
                    if st.busy {
                        register_waker(&mut st.waker, cx.waker());
                        drop(st);
                        self.poll_inline(cx);
                        return Poll::Pending;
                    }
                    ahead = st.bytes.len();
                    st.bytes.clear();
                    st.stop = false;
                    st.eof = false;
                    // An error of the read-ahead, about bytes nobody asked for.
                    st.error = None;
                    st.mode = Mode::Idle;
                }
                Mode::Write => {
                    if !st.busy && !st.dirty {
                        st.mode = Mode::Idle;
                        continue;
                    }
                    st.flush = true;
                    register_waker(&mut st.waker, cx.waker());
                    let io = take_if_idle(&mut st);
                    drop(st);
                    if let Some(io) = io {
                        let flusher = self.flusher.expect("write mode is entered by a write");
                        if let Err(err) = flusher(self, io) {
                            // No flush can happen: report why, move on.
                            let mut st = self.core.lock();
                            st.dirty = false;
                            st.flush = false;
                            st.error = Some(err);
                            st.mode = Mode::Idle;
                            continue;
                        }
                    }
                    self.poll_inline(cx);
                    return Poll::Pending;
                }
                Mode::Seek | Mode::Call => {
                    if st.busy {
                        register_waker(&mut st.waker, cx.waker());
                        drop(st);
                        self.poll_inline(cx);
                        return Poll::Pending;
                    }
                    st.seek = None;
                    st.mode = Mode::Idle;
                }
            }
        }
    }
}

impl<T: Read + Send + 'static> AsyncRead for Unblock<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_switch(cx, Mode::Read))?;
        let mut st = this.core.lock();
        // A switch away that its caller gave up on: keep reading.
        st.stop = false;
        // Reading from a VecDeque<u8> copies out and drains; it never fails.
        let n = st.bytes.read(out).unwrap_or(0);
        if n == 0 {
            if st.lost {
                drop(st);
                return this.poll_lost(cx).map(Err);
            }
            if let Some(err) = st.error.take() {
                return Poll::Ready(Err(err));
            }
            if st.eof {
                // Reported once; the next read tries again, as std's do.
                st.eof = false;
                return Poll::Ready(Ok(0));
            }
            register_waker(&mut st.waker, cx.waker());
        }
        let io = if !st.eof
            && st.error.is_none()
            && this.core.cap - st.bytes.len() >= this.core.half()
        {
            take_if_idle(&mut st)
        } else {
            None
        };
        drop(st);
        if let Some(io) = io {
            if let Err(err) = this.start(io, read_job::<T>) {
                if n == 0 {
                    return Poll::Ready(Err(err));
                }
                this.core.lock().error = Some(err);
            }
        }
        if n > 0 {
            Poll::Ready(Ok(n))
        } else {
            this.poll_inline(cx);
            Poll::Pending
        }
    }
}

impl<T: Write + Send + 'static> AsyncWrite for Unblock<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.flusher = Some(start_write::<T>);
        ready!(this.poll_switch(cx, Mode::Write))?;
        let mut st = this.core.lock();
        if st.lost {
            drop(st);
            return this.poll_lost(cx).map(Err);
        }
        if let Some(err) = st.error.take() {
            return Poll::Ready(Err(err));
        }
        let room = this.core.cap - st.bytes.len();
        if room == 0 {
            // Full, so a job is on it (no job ⇒ empty).
            register_waker(&mut st.waker, cx.waker());
            drop(st);
            this.poll_inline(cx);
            return Poll::Pending;
        }
        let n = room.min(data.len());
        st.bytes.extend(&data[..n]);
        let io = take_if_idle(&mut st);
        drop(st);
        if let Some(io) = io {
            this.start(io, write_job::<T>)?;
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.core.lock();
        if st.lost {
            drop(st);
            return this.poll_lost(cx).map(Err);
        }
        match st.mode {
            Mode::Write => {}
            // A write error carried over a switch is reported here too.
            Mode::Idle => return Poll::Ready(st.error.take().map_or(Ok(()), Err)),
            Mode::Read | Mode::Seek | Mode::Call => return Poll::Ready(Ok(())),
        }
        if let Some(err) = st.error.take() {
            return Poll::Ready(Err(err));
        }
        if !st.busy && !st.dirty {
            return Poll::Ready(Ok(()));
        }
        st.flush = true;
        register_waker(&mut st.waker, cx.waker());
        let io = take_if_idle(&mut st);
        drop(st);
        if let Some(io) = io {
            this.start(io, write_job::<T>)?;
        }
        this.poll_inline(cx);
        Poll::Pending
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_switch(cx, Mode::Idle))?;
        Poll::Ready(this.core.lock().error.take().map_or(Ok(()), Err))
    }
}

impl<T: Seek + Send + 'static> AsyncSeek for Unblock<T> {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            let mut st = this.core.lock();
            if st.mode == Mode::Seek && !st.lost {
                if st.busy {
                    register_waker(&mut st.waker, cx.waker());
                    drop(st);
                    this.poll_inline(cx);
                    return Poll::Pending;
                }
                st.mode = Mode::Idle;
                if let Some((asked, Some(result))) = st.seek.take() {
                    if asked == pos {
                        return Poll::Ready(result);
                    }
                    // A seek whose caller gave up; this one seeks anew.
                }
            }
            drop(st);
            let ahead = ready!(this.poll_switch(cx, Mode::Idle))?;
            let mut st = this.core.lock();
            if let Some(err) = st.error.take() {
                // A write error from the flush: report it instead of seeking.
                return Poll::Ready(Err(err));
            }
            let target = match pos {
                // The inner value is `ahead` bytes past the caller.
                SeekFrom::Current(offset) if ahead > 0 => {
                    match i64::try_from(ahead)
                        .ok()
                        .and_then(|ahead| offset.checked_sub(ahead))
                    {
                        Some(offset) => SeekFrom::Current(offset),
                        None => {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::InvalidInput,
                                "threadbridge: seek offset out of range",
                            )))
                        }
                    }
                }
                other => other,
            };
            let Some(io) = take_if_idle(&mut st) else {
                return Poll::Ready(Err(gone()));
            };
            st.mode = Mode::Seek;
            st.seek = Some((pos, None));
            drop(st);
            this.run = Some(this.start_once(io, move |core: &Core<T>, io: &mut T| {
                let result = io.seek(target);
                if let Some((_, slot)) = &mut core.lock().seek {
                    *slot = Some(result);
                }
            })?);
        }
    }
}

impl<T> Drop for Unblock<T> {
    fn drop(&mut self) {
        let writing = {
            let mut st = self.core.lock();
            st.stop = true;
            st.mode == Mode::Write
        };
        if let Some(run) = self.run.take() {
            if writing {
                // Let it write what was accepted, then end.
                run.detach();
            }
            // Otherwise dropping the Run stops a job that has not started;
            // one that has sees `stop` after its current read.
        }
    }
}

impl<T> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.core.lock();
        f.debug_struct("Unblock")
            .field("mode", &st.mode)
            .field("busy", &st.busy)
            .field("buffered", &st.bytes.len())
            .field("capacity", &self.core.cap)
            .finish_non_exhaustive()
    }
}

/// The inner value of an [`Unblock`], once its job has ended; from
/// [`Unblock::into_inner`].
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let cursor = threadbridge::Unblock::new(std::io::Cursor::new(vec![1, 2, 3]));
/// let cursor = cursor.into_inner().await;
/// assert_eq!(cursor.into_inner(), [1, 2, 3]);
/// # });
/// ```
#[must_use = "an IntoInner does nothing unless awaited"]
pub struct IntoInner<T> {
    unblock: Option<Unblock<T>>,
}

impl<T> Future for IntoInner<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let unblock = self
            .unblock
            .as_mut()
            .expect("IntoInner polled after it completed");
        if ready!(unblock.poll_switch(cx, Mode::Idle)).is_err() {
            panic!("{}", gone());
        }
        let io = unblock.core.lock().io.take();
        self.unblock = None;
        Poll::Ready(*io.unwrap_or_else(|| panic!("{}", gone())))
    }
}

impl<T> fmt::Debug for IntoInner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoInner")
            .field("done", &self.unblock.is_none())
            .finish_non_exhaustive()
    }
}

/// A [`WithMut`]'s closure, boxed so its type need not be named.
type CallFn<T, R> = Box<dyn FnOnce(&mut T) -> R + Send>;

/// The result of a closure run on an [`Unblock`]'s inner value; from
/// [`Unblock::with_mut`].
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// let mut input = threadbridge::Unblock::new(std::io::Cursor::new(b"abc".to_vec()));
/// let len = input.with_mut(|cursor| cursor.get_ref().len()).await;
/// assert_eq!(len, 3);
/// # });
/// ```
#[must_use = "a WithMut does nothing unless awaited"]
pub struct WithMut<'a, T, R> {
    unblock: &'a mut Unblock<T>,
    f: Option<CallFn<T, R>>,
    run: Option<Run<R>>,
}

impl<T: Send + 'static, R: Send + 'static> Future for WithMut<'_, T, R> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        if let Some(run) = &mut this.run {
            let out = ready!(Pin::new(run).poll(cx));
            this.run = None;
            return Poll::Ready(out);
        }
        if ready!(this.unblock.poll_switch(cx, Mode::Idle)).is_err() {
            panic!("{}", gone());
        }
        let f = this.f.take().expect("WithMut polled after it completed");
        let io = {
            let mut st = this.unblock.core.lock();
            let io = take_if_idle(&mut st);
            st.mode = Mode::Call;
            io
        };
        let io = io.unwrap_or_else(|| panic!("{}", gone()));
        let mut run = match this
            .unblock
            .start_once(io, move |_: &Core<T>, io: &mut T| f(io))
        {
            Ok(run) => run,
            Err(err) => panic!("threadbridge: with_mut could not start its job: {err}"),
        };
        match Pin::new(&mut run).poll(cx) {
            Poll::Ready(out) => Poll::Ready(out),
            Poll::Pending => {
                this.run = Some(run);
                Poll::Pending
            }
        }
    }
}

impl<T, R> Drop for WithMut<'_, T, R> {
    fn drop(&mut self) {
        // Started: the closure runs to its end; the Unblock waits for it.
        if let Some(run) = self.run.take() {
            run.detach();
        }
    }
}

impl<T, R> fmt::Debug for WithMut<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithMut")
            .field("started", &self.f.is_none())
            .field("done", &(self.f.is_none() && self.run.is_none()))
            .finish_non_exhaustive()
    }
}

#[allow(dead_code)]
const fn assert_send<T: Send>() {}
const _: () = assert_send::<Unblock<std::fs::File>>();
const _: () = assert_send::<IntoInner<std::fs::File>>();
const _: () = assert_send::<WithMut<'static, std::fs::File, u64>>();
