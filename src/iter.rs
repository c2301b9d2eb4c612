//! [`Iter<T>`]: a blocking iterator as a `Stream`, its `next()` calls made
//! by short jobs on a pool (Starlette's `iterate_in_threadpool`, batched).
//!
//! # Design
//! The iterator and a bounded queue of items live in one core under one
//! lock, shared by the stream and at most one job at a time (`busy`). A job
//! takes the iterator out, calls `next()` until the queue is full, puts the
//! iterator back and returns its thread to the pool; the stream starts the
//! next job once the consumer has drained the queue to half. So a fast
//! consumer pays one thread hand-off per half-queue of items, not one per
//! item, and a slow one holds no thread while it works.
//!
//! Wake-ups and the hand-back of the iterator follow `adapter.rs`: a job's
//! last look at the queue and its clearing `busy` are one critical section,
//! and the stream starts a job in the critical section where it sees none
//! `busy`: a refill is never left to nobody.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::stream::{FusedStream, Stream};

use crate::adapter;

use crate::job::{MakeToken, Work};
use crate::pool::Pool;
use crate::run::Run;
use crate::sync::{self, register_waker, unlocked, Arc, Mutex, MutexGuard};

/// How many items [`iter`](crate::iter) and [`Pool::iter`] buffer: 64, so a
/// fast consumer pays one thread hand-off per 32 items, while the items
/// fetched ahead stay few (Starlette fetches one at a time).
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// use futures::StreamExt;
/// let pool = threadbridge::Pool::builder().build()?;
/// // Fetch fewer items ahead than the default, e.g. for large rows.
/// let rows: Vec<u32> = pool
///     .iter_with_capacity(threadbridge::DEFAULT_ITER_CAPACITY / 8, 0..100u32)
///     .collect()
///     .await;
/// assert_eq!(rows.len(), 100);
/// # Ok::<(), threadbridge::Error>(())
/// # }).unwrap();
/// ```
pub const DEFAULT_ITER_CAPACITY: usize = 64;

type BoxIter<T> = Box<dyn Iterator<Item = T> + Send>;

/// A blocking iterator as a [`Stream`]: its `next()` calls run on a pool's
/// threads, never on the executor's. From [`iter`](crate::iter),
/// [`Pool::iter`] or [`Pool::iter_with_capacity`].
///
/// Starlette's `iterate_in_threadpool`, batched: a job calls `next()` until
/// [`capacity`](Iter::capacity) items wait, then gives its thread back; the
/// stream starts another once half of them are taken. Each such job is an
/// ordinary job on the pool (it counts against `max_threads` and in
/// [`Stats`](crate::Stats)); no thread is held while the consumer works.
///
/// * The first job is submitted when the `Iter` is made, like
///   [`run`](crate::run)'s: items are fetched ahead before the first poll.
/// * **Dropping** the `Iter` stops its job after at most the `next()` call
///   under way, and the iterator is dropped on that job's thread (where
///   the `Iter` is dropped, if no job had it).
/// * If `next()` **panics**, the items before the panic are yielded, then
///   the panic resumes in the task polling the stream, which ends there.
///
/// # Panics
/// Polling panics as above, and if the pool has been shut down (or cannot
/// start a thread) when the next job is due.
///
/// # Examples
/// ```
/// # futures::executor::block_on(async {
/// use futures::StreamExt;
/// use std::io::BufRead;
///
/// let file = threadbridge::run(|| std::fs::File::open("Cargo.toml")).await?;
/// let mut lines = threadbridge::iter(std::io::BufReader::new(file).lines());
/// let first = lines.next().await.expect("a first line")?;
/// assert_eq!(first, "[package]");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[must_use = "streams do nothing unless polled; the first items are fetched already"]
pub struct Iter<T> {
    core: Arc<Core<T>>,
    /// The latest job's `Run`: polled to resume its panic, or to run it
    /// inline on a worker of the pool.
    run: Option<Run<()>>,
    pool: Pool,
    /// The stream has ended (returned `None` or resumed a panic).
    done: bool,
}

struct Core<T> {
    cap: usize,
    state: Mutex<State<T>>,
}

struct State<T> {
    items: VecDeque<T>,
    /// The iterator while no job holds it.
    iter: Option<BoxIter<T>>,
    /// A job was submitted and has not put the iterator back yet.
    busy: bool,
    /// The iterator returned `None` or panicked: no job runs again.
    ended: bool,
    panicked: bool,
    /// The stream was dropped.
    stop: bool,
    waker: Option<Waker>,
}

impl<T> Core<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// A job's `next()` panicked: the iterator is gone, the stream ends.
    fn lose(&self) {
        let mut st = self.lock();
        st.ended = true;
        st.panicked = true;
        st.busy = false;
        let waker = st.waker.take();
        drop(st);
        if let Some(waker) = waker {
            sync::wake(waker);
        }
    }
}

/// One job: a named type so a pool that refuses it hands the iterator back.
struct Pump<T> {
    core: Arc<Core<T>>,
    iter: BoxIter<T>,
}

impl<T: Send + 'static> Work for Pump<T> {
    type Output = ();

    fn call(self, _: MakeToken<'_>) {
        let Pump { core, iter } = self;
        adapter::hand_back(
            iter,
            |iter| {
                let held = iter.as_mut().expect("the job holds the iterator");
                let (mut st, more) = pump(&core, &mut **held);
                // An ended iterator stays in `iter`, dropped on this thread.
                if more {
                    st.iter = iter.take();
                } else {
                    st.ended = true;
                }
                st.busy = false;
                st.waker.take()
            },
            || core.lose(),
        );
    }
}

/// Calls `next()` until the queue is full or the stream is gone (`true`:
/// more may come) or the iterator ends (`false`); returns with the lock
/// held.
fn pump<'a, T>(
    core: &'a Core<T>,
    iter: &mut dyn Iterator<Item = T>,
) -> (MutexGuard<'a, State<T>>, bool) {
    let mut st = core.lock();
    while !st.stop && st.items.len() < core.cap {
        let Some(item) = unlocked(&mut st, || iter.next()) else {
            return (st, false);
        };
        st.items.push_back(item);
        if let Some(waker) = st.waker.take() {
            unlocked(&mut st, || sync::wake(waker));
        }
    }
    (st, true)
}

impl Pool {
    /// A [`Stream`](futures_core::Stream) of `iter`'s items, its blocking
    /// `next()` calls made on this pool, [`DEFAULT_ITER_CAPACITY`] items
    /// ahead at most. See [`Iter`].
    ///
    /// # Panics
    /// As [`run`](Pool::run).
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::StreamExt;
    ///
    /// let pool = threadbridge::Pool::builder().build()?;
    /// let squares: Vec<u64> = pool.iter((1..=4u64).map(|i| i * i)).collect().await;
    /// assert_eq!(squares, [1, 4, 9, 16]);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn iter<I>(&self, iter: I) -> Iter<I::Item>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
    {
        self.iter_with_capacity(DEFAULT_ITER_CAPACITY, iter)
    }

    /// Like [`iter`](Pool::iter), fetching at most `capacity` items ahead
    /// (1: one `next()` per request, as Starlette's
    /// `iterate_in_threadpool`).
    ///
    /// # Panics
    /// If `capacity` is 0, or as [`run`](Pool::run).
    ///
    /// # Examples
    /// ```
    /// # futures::executor::block_on(async {
    /// use futures::StreamExt;
    ///
    /// let pool = threadbridge::Pool::builder().build()?;
    /// let mut rows = pool.iter_with_capacity(1, vec!["a", "b"]);
    /// assert_eq!(rows.next().await, Some("a"));
    /// assert_eq!(rows.next().await, Some("b"));
    /// assert_eq!(rows.next().await, None);
    /// # Ok::<(), threadbridge::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn iter_with_capacity<I>(&self, capacity: usize, iter: I) -> Iter<I::Item>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
    {
        Iter::new(self, capacity, Box::new(iter.into_iter()))
    }
}

impl<T: Send + 'static> Iter<T> {
    /// Builds the stream and submits its first job.
    pub(crate) fn new(pool: &Pool, capacity: usize, iter: BoxIter<T>) -> Self {
        assert!(
            capacity > 0,
            "threadbridge: an Iter's capacity must be at least 1, got 0"
        );
        let mut this = Self {
            core: Arc::new(Core {
                cap: capacity,
                state: Mutex::new(State {
                    items: VecDeque::new(),
                    iter: None,
                    busy: true,
                    ended: false,
                    panicked: false,
                    stop: false,
                    waker: None,
                }),
            }),
            run: None,
            pool: pool.clone(),
            done: false,
        };
        this.start(iter);
        this
    }

    /// Hands the iterator (taken out by the caller, who set `busy`) to a
    /// new job.
    fn start(&mut self, iter: BoxIter<T>) {
        let job = Pump {
            core: Arc::clone(&self.core),
            iter,
        };
        let (job, err) = match adapter::submit(&self.pool, job) {
            Ok(run) => {
                // The job before has put the iterator back: its Run is done
                // or about to be, without a panic (a panic ends the stream).
                self.run = Some(run);
                return;
            }
            Err(refused) => refused,
        };
        let mut st = self.core.lock();
        st.iter = Some(job.iter);
        st.busy = false;
        drop(st);
        panic!("threadbridge: an Iter cannot fetch more items: {err}");
    }
}

impl<T> Iter<T> {
    /// How many items the stream fetches ahead at most.
    ///
    /// # Examples
    /// ```
    /// let numbers = threadbridge::iter(0..10);
    /// assert_eq!(numbers.capacity(), threadbridge::DEFAULT_ITER_CAPACITY);
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.cap
    }
}

impl<T: Send + 'static> Stream for Iter<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut st = this.core.lock();
        let item = st.items.pop_front();
        if item.is_none() {
            if st.panicked {
                drop(st);
                this.done = true;
                // Resumes the panic of the job that ended the iterator.
                if adapter::poll_run(&mut this.run, cx).is_pending() {
                    this.done = false;
                    return Poll::Pending;
                }
                return Poll::Ready(None);
            }
            if st.ended {
                this.done = true;
                return Poll::Ready(None);
            }
            register_waker(&mut st.waker, cx.waker());
        }
        let iter = if !st.busy && !st.ended && st.items.len() <= this.core.cap / 2 {
            st.iter.take()
        } else {
            None
        };
        if iter.is_some() {
            st.busy = true;
        }
        drop(st);
        if let Some(iter) = iter {
            this.start(iter);
        }
        match item {
            Some(item) => Poll::Ready(Some(item)),
            None => {
                adapter::poll_inline(&this.pool, &mut this.run, cx);
                Poll::Pending
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (self.core.lock().items.len(), None)
        }
    }
}

impl<T: Send + 'static> FusedStream for Iter<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Iter<T> {
    fn drop(&mut self) {
        self.core.lock().stop = true;
        // Dropping the Run (after this) keeps a job that has not started
        // from running; one that has sees `stop` after its current next().
    }
}

// The iterator lives behind the stream's lock and a panic of its `next`
// ends the stream (see `fault.rs`): unwind safe like the other handles.
impl<T> std::panic::UnwindSafe for Iter<T> {}
impl<T> std::panic::RefUnwindSafe for Iter<T> {}

impl<T> fmt::Debug for Iter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.core.lock();
        f.debug_struct("Iter")
            .field("buffered", &st.items.len())
            .field("busy", &st.busy)
            .field("capacity", &self.core.cap)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[allow(dead_code)]
const fn assert_send<T: Send>() {}
const _: () = assert_send::<Iter<String>>();
const _: () = assert_send::<Iter<std::io::Result<String>>>();
