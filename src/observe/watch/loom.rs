//! loom: a watched poll against the timer's scan, and a watch dropped
//! while it is being reported to. Under loom there is no timer thread and
//! the hook runs inline: the models call the scanner themselves, as the
//! timer thread would. loom has no clock; a 1 ns threshold makes every
//! poll slow.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;

use super::registry::registry;
use super::{on_slow_poll, watch};
use crate::observe::loom_support::Gate;
use crate::timer::Due;

const SLOW: Duration = Duration::from_nanos(1);

fn scan() {
    let _ = registry().scanner.fire(Instant::now());
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

/// A poll racing a scan: at most one report while it runs, exactly one
/// when it returns; and once it returned (its thread still alive), a
/// scan reports nothing more of it.
#[test]
fn a_poll_vs_the_scan() {
    loom::model(|| {
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let finished = std::sync::Arc::new(AtomicUsize::new(0));
        let (r, f) = (running.clone(), finished.clone());
        let watch_handle = on_slow_poll(SLOW, move |report| {
            if report.finished { &f } else { &r }.fetch_add(1, SeqCst);
        });
        let (polled, stay) = (Gate::default(), Gate::default());
        let poller = {
            let (polled, stay) = (polled.clone(), stay.clone());
            thread::spawn(move || {
                let mut fut = watch(std::future::ready(1)).name("fast");
                assert_eq!(poll_once(&mut fut), Poll::Ready(1));
                polled.open();
                stay.wait();
            })
        };
        let scanner = thread::spawn(scan);
        scanner.join().unwrap();
        polled.wait();
        let seen = running.load(SeqCst);
        assert!(seen <= 1, "reported running {seen} times");
        assert_eq!(finished.load(SeqCst), 1, "reported once when it returned");
        // The poll is over, its thread alive: nothing more to report.
        scan();
        assert_eq!(
            running.load(SeqCst),
            seen,
            "a poll that returned is not running"
        );
        stay.open();
        poller.join().unwrap();
        // Its thread has exited: its slot is gone from the scan.
        scan();
        assert_eq!(running.load(SeqCst), seen);
        drop(watch_handle);
    });
}

/// A watch dropped while the scan reports a running poll to it: once
/// the drop returned, no call of its hook starts.
#[test]
fn a_watch_dropped_while_reported_to() {
    loom::model(|| {
        let dropped = std::sync::Arc::new(AtomicBool::new(false));
        let late = std::sync::Arc::new(AtomicBool::new(false));
        let (d, l) = (dropped.clone(), late.clone());
        // (A panic in a hook is caught: the hook records instead.)
        let watch_handle = on_slow_poll(SLOW, move |_| {
            if d.load(SeqCst) {
                l.store(true, SeqCst);
            }
        });
        let (inside, release) = (Gate::default(), Gate::default());
        let poller = {
            let (inside, release) = (inside.clone(), release.clone());
            thread::spawn(move || {
                let mut fut = watch(std::future::poll_fn(move |_| {
                    inside.open();
                    release.wait(); // blocks inside the watched poll
                    Poll::Ready(())
                }))
                .name("blocking");
                let _ = poll_once(&mut fut);
            })
        };
        inside.wait();
        let scanner = thread::spawn(scan);
        drop(watch_handle);
        dropped.store(true, SeqCst);
        scanner.join().unwrap();
        release.open();
        poller.join().unwrap();
        assert!(
            !late.load(SeqCst),
            "a hook call started after its watch was dropped"
        );
    });
}
