//! What the observers' loom models share: a gate a thread blocks on until
//! the model opens it, and a waker that records its wake-ups.

use std::sync::Arc;
use std::task::Wake;

use loom::sync::{Condvar, Mutex};

/// A gate a thread can block on until the model opens it.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub(crate) fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    pub(crate) fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }

    /// A job that blocks until the gate opens.
    pub(crate) fn waiter(&self) -> impl FnOnce() + Send + 'static {
        let gate = self.clone();
        move || gate.wait()
    }
}

/// A waker that records a wake-up; `wait` consumes one.
#[derive(Default)]
pub(crate) struct Flag(Mutex<bool>, Condvar);

impl Flag {
    pub(crate) fn wait(&self) {
        let mut woken = self.0.lock().unwrap();
        while !*woken {
            woken = self.1.wait(woken).unwrap();
        }
        *woken = false;
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}
