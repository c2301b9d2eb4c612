//! The `tracing` feature: a job runs inside the span that was current where
//! it was submitted, and reports to the submitter's subscriber — even one
//! set only for that task (`WithSubscriber`), which the worker thread has
//! never seen. Run with `cargo test --all-features`.

#![cfg(feature = "tracing")]

mod common;

use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use tracing::instrument::WithSubscriber;
use tracing::{Dispatch, Instrument};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One event as the recorder saw it.
#[derive(Clone, Debug)]
struct Seen {
    message: String,
    /// Span names from the innermost out.
    scope: Vec<String>,
    thread: Option<String>,
}

/// A layer recording every event with its span context, and every span
/// that closed.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Seen>>>,
    closed: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn dispatch(&self) -> Dispatch {
        Dispatch::new(tracing_subscriber::registry().with(self.clone()))
    }

    fn event(&self, message: &str) -> Option<Seen> {
        let events = self.events.lock().unwrap();
        events.iter().find(|e| e.message == message).cloned()
    }

    fn closed(&self, span: &str) -> bool {
        self.closed.lock().unwrap().iter().any(|s| s == span)
    }
}

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl<S> Layer<S> for Recorder
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name().to_owned()).collect())
            .unwrap_or_default();
        let thread = thread::current().name().map(str::to_owned);
        self.events.lock().unwrap().push(Seen {
            message,
            scope,
            thread,
        });
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            self.closed.lock().unwrap().push(span.name().to_owned());
        }
    }
}

fn traced_pool() -> threadbridge::Pool {
    threadbridge::Pool::builder()
        .max_threads(2)
        .thread_name(|i| format!("traced-worker-{i}"))
        .build()
        .unwrap()
}

#[test]
fn job_runs_in_the_callers_span_under_every_executor() {
    on_every_executor(|ex| async move {
        let recorder = Recorder::default();
        let pool = traced_pool();
        let message = format!("in job under {ex:?}");
        let in_job = message.clone();
        // The span current where `run` is *called* is the one captured.
        async {
            let span = tracing::info_span!("request", id = 7);
            async { pool.run(move || tracing::info!("{in_job}")).await }
                .instrument(span)
                .await
        }
        .with_subscriber(recorder.dispatch())
        .await;
        let seen = recorder
            .event(&message)
            .expect("the job's event reached the caller's subscriber");
        assert_eq!(seen.scope, ["request"], "{seen:?}");
        let worker = seen.thread.unwrap_or_default();
        assert!(worker.starts_with("traced-worker-"), "ran on {worker}");
    });
}

#[test]
fn limiter_and_cancellable_jobs_carry_the_span() {
    on_every_executor(|_| async move {
        let recorder = Recorder::default();
        let pool = traced_pool();
        let limiter = pool.limiter(1);
        async {
            let span = tracing::info_span!("outer");
            async {
                limiter.run(|| tracing::info!("limited")).await;
                pool.run_cancellable(|_| tracing::info!("cancellable"))
                    .await;
                limiter
                    .run_cancellable(|_| tracing::info!("limited cancellable"))
                    .await;
            }
            .instrument(span)
            .await
        }
        .with_subscriber(recorder.dispatch())
        .await;
        for message in ["limited", "cancellable", "limited cancellable"] {
            let seen = recorder.event(message).expect(message);
            assert_eq!(seen.scope, ["outer"], "{seen:?}");
        }
    });
}

#[test]
fn the_span_is_left_when_the_job_ends() {
    // One worker runs both jobs: the second, submitted outside any span,
    // must not see the first job's span still entered.
    on_every_executor(|_| async move {
        let recorder = Recorder::default();
        let pool = pool(1);
        async {
            async { pool.run(|| tracing::info!("first")).await }
                .instrument(tracing::info_span!("first span"))
                .await;
            pool.run(|| tracing::info!("second")).await;
        }
        .with_subscriber(recorder.dispatch())
        .await;
        assert_eq!(recorder.event("first").unwrap().scope, ["first span"]);
        let second = recorder.event("second").unwrap();
        assert!(second.scope.is_empty(), "{second:?}");
        assert_eq!(pool.stats().threads, 1, "both jobs ran on one worker");
    });
}

#[test]
fn the_span_stays_open_until_the_job_ends_then_closes() {
    guard(|| {
        let recorder = Recorder::default();
        let pool = traced_pool();
        let gate = Gate::new();
        let started = Gate::new();
        let run = tracing::dispatcher::with_default(&recorder.dispatch(), || {
            let span = tracing::info_span!("long job");
            let _entered = span.enter();
            pool.run(started_then_held(&started, &gate, || ()))
        });
        // The caller's handle on the span is gone; the job still holds it.
        started.wait();
        assert!(!recorder.closed("long job"), "closed under a running job");
        gate.open();
        block_on(run);
        wait_until("the span closes once the job has ended", || {
            recorder.closed("long job")
        });
    });
}

#[test]
fn a_job_dropped_before_it_starts_releases_the_span() {
    guard(|| {
        let recorder = Recorder::default();
        let pool = pool(1);
        let gate = Gate::new();
        let busy = pool.run(gate.waiter());
        let queued = tracing::dispatcher::with_default(&recorder.dispatch(), || {
            let _entered = tracing::info_span!("never ran").entered();
            pool.run(|| tracing::info!("must not run"))
        });
        assert!(!recorder.closed("never ran"), "the queued job holds it");
        drop(queued);
        assert!(recorder.closed("never ran"), "dropped with the job");
        gate.open();
        block_on(busy);
        assert!(recorder.event("must not run").is_none());
    });
}

/// `on_starvation` with the feature: a `WARN` event says the same as the
/// hook. It is emitted on the crate's hook thread, which no task's
/// subscriber reaches, so it goes to the global one.
#[test]
#[cfg_attr(
    miri,
    ignore = "starts the crate's timer and hook threads, which outlive the test (Miri reports live threads at exit)"
)]
fn a_starvation_episode_is_a_warn_event() {
    static GLOBAL: std::sync::OnceLock<Recorder> = std::sync::OnceLock::new();
    let recorder = GLOBAL.get_or_init(|| {
        let recorder = Recorder::default();
        tracing::dispatcher::set_global_default(recorder.dispatch())
            .expect("no other test sets the global subscriber");
        recorder
    });
    guard(move || {
        let pool = threadbridge::Pool::builder()
            .max_threads(1)
            .on_starvation(std::time::Duration::from_millis(20), |_| {})
            .build()
            .unwrap();
        let held = HeldThread::new(&pool);
        let queued = pool.run(|| ());
        wait_until("a WARN event about starvation", || {
            recorder
                .events
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.message.contains("starvation"))
        });
        block_on(held.release());
        block_on(queued);
        assert_eq!(pool.stats().starved, 1);
    });
}

/// A slow poll of a watched future is a `WARN` event in the span current
/// where `watch` was called, sent to that span's subscriber (here a task's
/// own, which neither the timer thread nor the polling thread has as its
/// default): the report while it runs from the timer thread, and the
/// report when it returns from the polling thread.
#[test]
#[cfg_attr(
    miri,
    ignore = "starts the crate's timer and hook threads, which outlive the test (Miri reports live threads at exit)"
)]
fn a_slow_poll_is_a_warn_event_in_the_watched_futures_span() {
    const SLOW: &str = "threadbridge: a slow poll blocked its thread";
    let recorder = Recorder::default();
    let watch = threadbridge::on_slow_poll(std::time::Duration::from_millis(20), |_| {});
    let task = {
        let recorder = recorder.clone();
        async move {
            let blocking = tracing::info_span!("checkout").in_scope(|| {
                threadbridge::watch(async move {
                    wait_until("the WARN of the poll still running", || {
                        recorder.event(SLOW).is_some()
                    });
                })
            });
            // Outside the span: only the watched future carries it.
            blocking.await;
        }
    };
    let dispatch = recorder.dispatch();
    thread::Builder::new()
        .name("watched-poller".into())
        .spawn(move || block_on(task.with_subscriber(dispatch)))
        .unwrap()
        .join()
        .unwrap();
    drop(watch);
    let events: Vec<Seen> = recorder
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.message == SLOW)
        .cloned()
        .collect();
    assert_eq!(
        events.len(),
        2,
        "one report running, one returned: {events:?}"
    );
    let (running, returned) = (&events[0], &events[1]);
    assert_eq!(running.scope, ["checkout"], "{running:?}");
    assert_eq!(running.thread.as_deref(), Some("threadbridge-timer"));
    assert_eq!(returned.scope, ["checkout"], "{returned:?}");
    assert_eq!(returned.thread.as_deref(), Some("watched-poller"));
}
