//! `cyborg`: train small essay-scoring students from human scores, evaluate them, and score
//! with them. A thin front end over the `cyborg-trainer` library: flags in, one library call,
//! results out.

mod args;
mod commands;
mod observer;

use std::sync::Arc;

use clap::Parser;
use cyborg_trainer::{CancelToken, Progress, Silent};

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let cli = args::Cli::parse();
    if !matches!(cli.command, args::Command::Serve(_)) {
        die_quietly_on_closed_pipe();
    }
    let progress = if cli.quiet {
        Progress::new(Arc::new(Silent), CancelToken::new())
    } else {
        Progress::new(Arc::new(observer::Terminal::new()), CancelToken::new())
    };
    match commands::run(cli, &progress) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// `cyborg … | head -1`: when the reader closes the pipe, stop at once and silently, as Unix
/// tools do, rather than fail on the next write. Rust ignores SIGPIPE by default; the server
/// keeps ignoring it, since a client that hangs up must not stop it.
fn die_quietly_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
