//! The adapters' user code: an `iter`'s `Iterator::next` and `Drop`, an
//! `Unblock`'s inner `Read` and `Drop`, each panicking.

use super::*;

#[test]
fn an_iterator_whose_next_and_drop_panic() {
    struct Hostile(u32);
    impl Iterator for Hostile {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            self.0 += 1;
            if self.0 > 3 {
                panic!("a hostile next");
            }
            Some(self.0)
        }
    }
    impl Drop for Hostile {
        fn drop(&mut self) {
            panic!("a hostile iterator drop");
        }
    }
    after_each(|site| async move {
        let pool = site.pool.clone();
        let before = pool.stats();
        let mut items = Vec::new();
        let mut stream = pool.iter_with_capacity(1, Hostile(0));
        let caught = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
            while let Some(item) = stream.next().await {
                items.push(item);
            }
        }))
        .await;
        let payload = caught.expect_err("the iterator's panic resumes in the stream");
        assert_eq!(panic_message(&*payload), "a hostile next");
        assert_eq!(items, [1, 2, 3], "the items before the panic are yielded");
        drop(stream);
        // How many jobs fetched the three items depends on how fast the
        // stream drains them; the last one, and only it, panicked.
        let after = settled(&site);
        assert_eq!(after.panicked - before.panicked, 1);
        let completed = after.completed - before.completed;
        assert!(completed <= 3, "{completed} jobs fetched 3 items");
        Outcomes {
            completed,
            panicked: 1,
            ..Outcomes::default()
        }
    });
}

#[test]
fn an_unblock_whose_inner_reader_and_drop_panic() {
    struct Hostile(bool);
    impl Read for Hostile {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 {
                panic!("a hostile read");
            }
            self.0 = true;
            buf[0] = 42;
            Ok(1)
        }
    }
    impl Drop for Hostile {
        fn drop(&mut self) {
            panic!("a hostile reader drop");
        }
    }
    after_each(|site| async move {
        let mut reader = Unblock::with_pool(&site.pool, 16, Hostile(false));
        let mut out = Vec::new();
        let caught = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            reader.read_to_end(&mut out),
        ))
        .await;
        let payload = caught.expect_err("the reader's panic resumes in the read");
        assert_eq!(panic_message(&*payload), "a hostile read");
        assert_eq!(out, [42], "the byte before the panic was read");
        let err = reader.read(&mut [0; 4]).await.unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
        drop(reader);
        outcomes(0, 1, 0)
    });
}
