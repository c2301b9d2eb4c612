//! Seeking with read-ahead, and switching between reading and writing.

use super::*;

#[test]
fn write_seek_to_start_and_read_back() {
    guard(|| {
        block_on(async {
            let data = pattern(sized(10_000, 300));
            let mut io = private(64, Cursor::new(Vec::new()));
            io.write_all(&data).await.unwrap();
            assert_eq!(io.seek(SeekFrom::Start(0)).await.unwrap(), 0);
            let mut back = Vec::new();
            io.read_to_end(&mut back).await.unwrap();
            assert!(back == data);
            let end = io.seek(SeekFrom::End(-10)).await.unwrap();
            assert_eq!(end, data.len() as u64 - 10);
            let mut tail = Vec::new();
            io.read_to_end(&mut tail).await.unwrap();
            assert_eq!(tail, data[data.len() - 10..]);
        });
    });
}

/// The job reads ahead of the caller; `SeekFrom::Current` must count from
/// where the caller is, not from where the read-ahead got.
#[test]
fn seek_from_current_after_a_partial_read_counts_from_the_caller() {
    guard(|| {
        block_on(async {
            let data: Vec<u8> = (0..=255).collect();
            // Capacity 16: the first job reads 16 bytes in one read, so
            // after the caller takes 5, 11 are read ahead.
            let mut io = private(16, Cursor::new(data.clone()));
            let mut five = [0; 5];
            io.read_exact(&mut five).await.unwrap();
            assert_eq!(five, [0, 1, 2, 3, 4]);
            assert_eq!(io.seek(SeekFrom::Current(0)).await.unwrap(), 5);
            assert_eq!(
                io.with_mut(|cursor| cursor.position()).await,
                5,
                "the inner value was not put back at the caller's position"
            );
            let mut one = [0; 1];
            io.read_exact(&mut one).await.unwrap();
            assert_eq!(one, [5]);
            assert_eq!(io.seek(SeekFrom::Current(3)).await.unwrap(), 9);
            io.read_exact(&mut one).await.unwrap();
            assert_eq!(one, [9]);
            assert_eq!(io.seek(SeekFrom::Current(-4)).await.unwrap(), 6);
            io.read_exact(&mut one).await.unwrap();
            assert_eq!(one, [6]);
        });
    });
}

/// C's stdio rule: seek between a read and a write. The write then lands
/// at the caller's position.
#[test]
fn a_write_after_a_read_and_a_seek_lands_at_the_caller_position() {
    guard(|| {
        block_on(async {
            let mut io = private(32, Cursor::new(b"0123456789".to_vec()));
            let mut four = [0; 4];
            io.read_exact(&mut four).await.unwrap();
            io.seek(SeekFrom::Current(0)).await.unwrap();
            io.write_all(b"XY").await.unwrap();
            let cursor = io.into_inner().await;
            assert_eq!(cursor.get_ref(), b"0123XY6789");
        });
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "touches the filesystem; write_seek_to_start_and_read_back covers it in memory"
)]
fn a_file_seeks_and_reads_back() {
    on_every_executor(|_| async {
        let file = TempFile::new("seek");
        let path = file.0.clone();
        let handle = threadbridge::run(move || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
        })
        .await
        .unwrap();
        let data = pattern(100_000);
        let mut io = Unblock::with_capacity(1000, handle);
        io.write_all(&data).await.unwrap();
        io.seek(SeekFrom::Start(50_000)).await.unwrap();
        let mut chunk = vec![0; 10];
        io.read_exact(&mut chunk).await.unwrap();
        assert_eq!(chunk, data[50_000..50_010]);
        assert_eq!(io.seek(SeekFrom::Current(0)).await.unwrap(), 50_010);
        io.seek(SeekFrom::Start(0)).await.unwrap();
        let mut back = Vec::new();
        io.read_to_end(&mut back).await.unwrap();
        assert!(back == data);
        drop(io);
        drop(file);
    });
}
