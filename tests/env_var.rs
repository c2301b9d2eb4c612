//! `THREADBRIDGE_MAX_THREADS`: sets the global pool's `max_threads` when it
//! is built lazily; a value that is not a positive integer is a clear error
//! naming the variable.
//!
//! The global pool is per process, so each case re-runs this test binary as
//! a child process (selecting [`child_entry_point`] by name, and its role by
//! an environment flag) with the variable set, and checks how it exits.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const VAR: &str = "THREADBRIDGE_MAX_THREADS";
/// Selects the child role: which entry point builds the global pool.
const ROLE: &str = "THREADBRIDGE_TEST_CHILD_ROLE";
/// In the child: the cap the global pool must have.
const EXPECT_CAP: &str = "THREADBRIDGE_TEST_EXPECT_CAP";
const CHILD_OK: &str = "THREADBRIDGE-CHILD-OK";

/// The child's body. In a normal run (no role set) it does nothing.
#[test]
fn child_entry_point() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let expect_cap: Option<usize> = std::env::var(EXPECT_CAP).ok().map(|v| v.parse().unwrap());
    guard(move || {
        match role.as_str() {
            "run" => assert_eq!(block_on(threadbridge::run(|| 1)), 1),
            "limiter" => assert_eq!(block_on(threadbridge::limiter(2).run(|| 2)), 2),
            "global" => {
                let _ = threadbridge::global().stats();
            }
            other => panic!("unknown child role {other:?}"),
        }
        if let Some(cap) = expect_cap {
            let pool = threadbridge::global();
            let gate = Gate::new();
            let runs = held(pool, cap + 3, &gate);
            let total = cap + 3;
            // Settled: every job running or queued, every thread busy.
            let s = wait_stats(pool, "the global pool to settle", |s| {
                s.running + s.queued == total && s.running == s.threads
            });
            assert_eq!((s.running, s.threads, s.queued), (cap, cap, 3), "{s:?}");
            assert_stays(SETTLE, "no thread above the cap", || {
                pool.stats().threads == cap
            });
            release(&gate, runs);
        }
    });
    println!("{CHILD_OK}");
}

struct ChildOutcome {
    success: bool,
    output: String,
}

/// Runs [`child_entry_point`] in a child process with `role`, the variable
/// set to `value` (or unset), and an optional expected cap. Kills the child
/// and fails if it does not exit within the deadline.
fn run_child(role: &str, value: Option<&str>, expect_cap: Option<usize>) -> ChildOutcome {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([
        "child_entry_point",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env("RUST_BACKTRACE", "0")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    match value {
        Some(v) => cmd.env(VAR, v),
        None => cmd.env_remove(VAR),
    };
    match expect_cap {
        Some(cap) => cmd.env(EXPECT_CAP, cap.to_string()),
        None => cmd.env_remove(EXPECT_CAP),
    };
    let mut child = cmd.spawn().expect("spawn the child test process");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("TIMEOUT: child ({role}, {VAR}={value:?}) did not exit within {DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let output = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        out_reader.join().unwrap(),
        err_reader.join().unwrap()
    );
    ChildOutcome {
        success: status.success(),
        output,
    }
}

/// Checks that the child refused `value` with an error naming the
/// variable and the value; returns what it printed.
fn assert_child_rejects(role: &str, value: &str) -> String {
    let child = run_child(role, Some(value), None);
    assert!(
        !child.success && !child.output.contains(CHILD_OK),
        "{VAR}={value:?} was accepted by `{role}`:\n{}",
        child.output
    );
    assert!(
        child.output.contains(VAR),
        "the error for {VAR}={value:?} does not name the variable:\n{}",
        child.output
    );
    assert!(
        child.output.contains(value),
        "the error for {VAR}={value:?} does not show the bad value:\n{}",
        child.output
    );
    child.output
}

fn assert_child_accepts(role: &str, value: Option<&str>, cap: usize) {
    let child = run_child(role, value, Some(cap));
    assert!(
        child.success && child.output.contains(CHILD_OK),
        "{VAR}={value:?} with `{role}` failed:\n{}",
        child.output
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn a_non_numeric_value_is_an_error_naming_the_variable() {
    assert_child_rejects("run", "abc");
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn zero_is_an_error_naming_the_variable() {
    assert_child_rejects("run", "0");
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn a_value_past_usize_max_is_an_error_naming_the_bound() {
    let output = assert_child_rejects("run", "99999999999999999999");
    assert!(output.contains("at most usize::MAX"), "{output}");
    let output = assert_child_rejects("run", "0");
    assert!(output.contains("at least 1"), "{output}");
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn a_negative_value_is_an_error_naming_the_variable() {
    assert_child_rejects("run", "-4");
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn global_and_limiter_also_reject_a_bad_value() {
    assert_child_rejects("global", "abc");
    assert_child_rejects("limiter", "0");
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn a_valid_value_sets_the_global_cap() {
    assert_child_accepts("run", Some("3"), 3);
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn a_valid_value_sets_the_cap_via_global_and_limiter() {
    assert_child_accepts("global", Some("2"), 2);
    assert_child_accepts("limiter", Some("5"), 5);
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process, which Miri cannot")]
fn unset_means_the_default_of_40() {
    assert_child_accepts("run", None, 40);
}
