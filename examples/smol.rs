//! `threadbridge` under smol: walk a directory with blocking `std::fs` calls,
//! reading at most 4 files at once through a limiter.
//!
//! `cargo run --example smol`

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    smol::block_on(async {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
        // `read_dir` blocks too: run it on the pool as well.
        let paths: Vec<PathBuf> = threadbridge::run(move || {
            std::fs::read_dir(dir)?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<std::io::Result<_>>()
        })
        .await?;

        // A limiter caps these jobs at 4 running at once; the rest wait in
        // its queue without holding a thread.
        let files = threadbridge::limiter(4);
        let tasks: Vec<_> = paths
            .into_iter()
            .map(|path| {
                let job = files.run(move || std::fs::read_to_string(&path).map(|s| (path, s)));
                smol::spawn(job)
            })
            .collect();
        for task in tasks {
            let (path, text) = task.await?;
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            println!("{name:<16} {:>5} lines", text.lines().count());
        }
        println!("{:?}", files.stats());
        Ok(())
    })
}
