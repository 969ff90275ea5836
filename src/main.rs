//! The `faultline` binary: parses the command line, runs the subcommand, and
//! is the only place where errors become text. Exit codes: 0 success, 1 the
//! check found a problem (a service over capacity), 2 bad input or error.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`| head`) would
    // panic; a command-line tool should end quietly instead, as `cat` does.
    #[cfg(unix)]
    // SAFETY: first thing in main, before any other thread exists; SIG_DFL
    // is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match cli::main() {
        Ok(code) => code,
        Err(err) => {
            // One line: the chain of context, outermost first.
            let text: Vec<String> = err.chain().map(|e| e.to_string()).collect();
            eprintln!("error: {}", text.join(": "));
            ExitCode::from(2)
        }
    }
}
