//! Bytes still being written when a process exits: `write_all` returns
//! once the bytes are in the buffer, so a program that drops its `Unblock`
//! without flushing and returns from `main` at once can lose the tail (as
//! with tokio's `File`). The documented remedy, shutting the pool down with
//! `shutdown_timeout` before exiting, waits for those write-outs. Checked in
//! a child process (this test binary, re-run), whose exit is the point.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;

const PATH: &str = "THREADBRIDGE_TEST_EXIT_PATH";
const LEN: usize = 1 << 20;

/// The child: writes 1 MiB through the global pool, drops the writer
/// without a flush, drains the pool, and exits. In a normal run it does
/// nothing.
#[test]
fn child_writes_drops_and_drains() {
    let Ok(path) = std::env::var(PATH) else {
        return;
    };
    guard(move || {
        let file = block_on(threadbridge::run(move || std::fs::File::create(path))).unwrap();
        let mut writer = Unblock::new(file);
        block_on(writer.write_all(&pattern(LEN))).unwrap();
        drop(writer);
        assert!(
            threadbridge::global().shutdown_timeout(Duration::from_secs(20)),
            "every write-out ended"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn a_dropped_writer_is_written_out_before_a_drained_exit() {
    let file = TempFile::new("exit");
    let path = file.0.clone();
    let output = guard(move || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "exit::child_writes_drops_and_drains",
                "--exact",
                "--test-threads=1",
            ])
            .env(PATH, &path)
            .stdin(Stdio::null())
            .output()
            .expect("run the child")
    });
    assert!(output.status.success(), "the child failed: {output:?}");
    let written = std::fs::read(&file.0).expect("the child's file");
    assert_eq!(written.len(), LEN, "every byte accepted reached the file");
    assert!(written == pattern(LEN), "in order");
}
