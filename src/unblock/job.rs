//! The jobs that take an [`Unblock`]'s value to a pool thread: a read or
//! write loop ([`IoJob`]), a one-off call ([`CallJob`]) or `close`'s drop
//! ([`CloseJob`]); how the async side submits them, and how it polls their
//! [`Run`].

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::task::{ready, Context, Poll};

use crate::adapter;

use crate::job::{MakeToken, Work};
use crate::run::Run;
use crate::sync::{Arc, MutexGuard};

use super::core::{gone, Core, Mode, State};
use super::Unblock;

/// A one-off job on the value (a seek, a `with_mut` closure): a named
/// type, not a closure, so a pool that refuses it hands the value back.
struct CallJob<T, F> {
    core: Arc<Core<T>>,
    io: Box<T>,
    f: F,
}

/// A read or write loop. It returns with the lock held, and the job puts
/// the value back under that same lock: were there a gap between the
/// loop's last look and `busy` turning false, the async side could add
/// work in it, see `busy`, and leave the work with no job to do it.
pub(super) type IoFn<T> = for<'a, 'b> fn(&'a Core<T>, &'b mut T) -> MutexGuard<'a, State<T>>;

/// A job running an [`IoFn`].
struct IoJob<T> {
    core: Arc<Core<T>>,
    io: Box<T>,
    f: IoFn<T>,
}

impl<T: Send + 'static> Work for IoJob<T> {
    type Output = ();

    fn call(self, _: MakeToken<'_>) {
        let IoJob { core, io, f } = self;
        adapter::hand_back(
            io,
            |io| {
                let mut st = f(&core, io.as_mut().expect("the job holds the value"));
                st.io = io.take();
                st.busy = false;
                st.waker.take()
            },
            || core.put_back(None),
        );
    }
}

impl<T, F, R> Work for CallJob<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Core<T>, &mut T) -> R + Send + 'static,
    R: Send + 'static,
{
    type Output = R;

    fn call(self, _: MakeToken<'_>) -> R {
        let CallJob { core, mut io, f } = self;
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

/// `close`'s job: drops the value, so that whatever it holds open (a
/// pipe, a file, a socket) is closed on a pool thread.
struct CloseJob<T> {
    core: Arc<Core<T>>,
    io: Box<T>,
}

impl<T: Send + 'static> Work for CloseJob<T> {
    type Output = ();

    fn call(self, _: MakeToken<'_>) {
        let CloseJob { core, io } = self;
        adapter::hand_back(
            io,
            |io| {
                drop(io.take());
                let mut st = core.lock();
                st.busy = false;
                st.waker.take()
            },
            || core.put_back(None),
        );
    }
}

impl<T> Unblock<T> {
    /// Hands a job holding the value (taken out by the caller, who set
    /// `busy`) to the pool. If the pool refuses, the value goes back.
    fn submit<W: Work>(&self, job: W, value: fn(W) -> Box<T>) -> io::Result<Run<W::Output>> {
        let (job, err) = match adapter::submit(&self.pool, job) {
            Ok(run) => return Ok(run),
            Err(refused) => refused,
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
            Mode::Closed => unreachable!("a closed Unblock starts no job but its close"),
        }
        Err(err)
    }

    /// Starts a read or write loop on the value.
    pub(super) fn start(&mut self, io: Box<T>, f: IoFn<T>) -> io::Result<()>
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

    /// Starts `close`'s job, which drops the value on a pool thread; a pool
    /// that refuses it (shut down) leaves the drop to this thread.
    pub(super) fn start_close(&mut self, io: Box<T>)
    where
        T: Send + 'static,
    {
        let job = CloseJob {
            core: Arc::clone(&self.core),
            io,
        };
        match adapter::submit(&self.pool, job) {
            Ok(run) => self.run = Some(run),
            Err((job, _)) => {
                self.core.lock().busy = false;
                drop(job);
            }
        }
    }

    /// Starts a one-off job on the value (a seek, a `with_mut` closure).
    pub(super) fn start_once<F, R>(&self, io: Box<T>, f: F) -> io::Result<Run<R>>
    where
        T: Send + 'static,
        F: FnOnce(&Core<T>, &mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let job = CallJob {
            core: Arc::clone(&self.core),
            io,
            f,
        };
        self.submit(job, |job| job.io)
    }

    /// See [`adapter::poll_inline`]: a job still queued is run here when
    /// the async side polls on a worker of the pool.
    pub(super) fn poll_inline(&mut self, cx: &mut Context<'_>) {
        adapter::poll_inline(&self.pool, &mut self.run, cx);
    }

    /// The value is lost: resumes the panic that lost it (if it was an I/O
    /// job's), then reports an error.
    pub(super) fn poll_lost(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        ready!(adapter::poll_run(&mut self.run, cx));
        Poll::Ready(gone())
    }
}
