//! `cyborg`: train small essay-scoring students from human scores, evaluate them, and score
//! with them.

mod bench;
mod cache;
mod cli;
mod commands;
mod data;
mod experiment;
mod output;
mod progress;
mod report;
mod ridge;
mod teacher;
mod train;
mod trait_bench;

use clap::Parser;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Candle allocates a fresh buffer for every tensor operation. glibc hands large buffers back
/// to the kernel when they are freed, and the next operation faults them in again zeroed: that
/// cost a third of training time. Raising the thresholds keeps them in the process.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread starts.
    unsafe {
        // 32 MiB is the most glibc accepts; encoder batches are sized to stay below it.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
