//! Files and bytes for the tests of the adapters (`iter`, `Unblock`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A file under the temp dir with a unique name, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("threadbridge-test-{tag}-{}-{n}", std::process::id());
        Self(std::env::temp_dir().join(name))
    }

    pub fn with_contents(tag: &str, bytes: &[u8]) -> Self {
        let file = Self::new(tag);
        std::fs::write(&file.0, bytes).expect("write the temp file");
        file
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Deterministic, non-repeating-looking bytes (a 64-bit LCG's high byte).
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}
