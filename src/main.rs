//! The `faultline` binary: parses the command line, runs the subcommand, and
//! is the only place where errors become text. Exit codes: 0 success, 1 the
//! check found a problem (a service over capacity), 2 bad input or error.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
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
