//! `close` closes, as futures-io means it: the inner value is dropped (on
//! a pool thread) even while the `Unblock` lives on, so the other end of a
//! pipe sees EOF. With a real child process (`cat`) and a real FIFO, under
//! tokio and smol; then what every later operation does.

use std::panic::AssertUnwindSafe;
use std::process::{Command, Stdio};

use threadbridge::Pool;

use super::*;

#[test]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn closing_a_childs_stdin_ends_its_output() {
    on_executors(TWO, |_| async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn cat");
        let mut stdin = Unblock::new(child.stdin.take().unwrap());
        let mut stdout = Unblock::new(child.stdout.take().unwrap());
        stdin.write_all(b"ping").await.unwrap();
        stdin.close().await.unwrap();
        // `stdin` is still alive: only close() can have sent the EOF.
        let mut echoed = Vec::new();
        stdout.read_to_end(&mut echoed).await.unwrap();
        assert_eq!(echoed, b"ping");
        let status = threadbridge::run(move || child.wait()).await.unwrap();
        assert!(status.success());
        drop(stdin);
    });
}

#[test]
#[cfg_attr(miri, ignore = "makes a FIFO with mkfifo")]
fn closing_a_fifos_writer_ends_its_reader() {
    on_executors(TWO, |_| async {
        let fifo = TempFile::new("fifo");
        let made = Command::new("mkfifo")
            .arg(&fifo.0)
            .status()
            .expect("run mkfifo");
        assert!(made.success(), "mkfifo failed");
        // Opening either end of a FIFO blocks until the other end opens.
        let (r, w) = (fifo.0.clone(), fifo.0.clone());
        let reader = threadbridge::run(move || std::fs::File::open(r));
        let writer = threadbridge::run(move || std::fs::OpenOptions::new().write(true).open(w));
        let (reader, writer) = futures::join!(reader, writer);
        let mut writer = Unblock::new(writer.unwrap());
        let mut reader = Unblock::new(reader.unwrap());
        writer.write_all(b"through the fifo").await.unwrap();
        writer.close().await.unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "through the fifo");
        drop(writer);
    });
}

#[test]
fn after_close_every_operation_says_so() {
    on_executors(TWO, |_| async {
        let mut out = Unblock::new(Cursor::new(Vec::new()));
        out.write_all(b"abc").await.unwrap();
        out.close().await.unwrap();
        out.close().await.expect("a second close succeeds");
        out.flush().await.expect("a flush after close succeeds");
        let write = out.write_all(b"more").await.unwrap_err();
        assert!(write.to_string().contains("close()"), "{write}");
        let read = out.read(&mut [0; 4]).await.unwrap_err();
        assert!(read.to_string().contains("close()"), "{read}");
        let seek = out.seek(SeekFrom::Start(0)).await.unwrap_err();
        assert!(seek.to_string().contains("close()"), "{seek}");
        let taken = futures::FutureExt::catch_unwind(AssertUnwindSafe(out.into_inner())).await;
        let msg = panic_message(&*taken.expect_err("into_inner after close panics"));
        assert!(
            msg.contains("close()") && msg.contains("into_inner"),
            "{msg}"
        );
    });
}

#[test]
fn close_drops_the_inner_value_on_a_pool_thread() {
    struct Where(Arc<Mutex<Option<String>>>);
    impl Write for Where {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Drop for Where {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = std::thread::current().name().map(str::to_owned);
        }
    }
    guard(|| {
        let pool = Pool::builder()
            .thread_name(|i| format!("closer-{i}"))
            .build()
            .unwrap();
        let dropped_on = Arc::new(Mutex::new(None));
        let mut out = Unblock::with_pool(&pool, 16, Where(dropped_on.clone()));
        block_on(async {
            out.write_all(b"x").await.unwrap();
            out.close().await.unwrap();
        });
        let name = dropped_on.lock().unwrap().clone();
        assert!(
            name.unwrap_or_default().starts_with("closer-"),
            "dropped off the pool"
        );
        drop(out);
    });
}
