//! The `shipmix` binary: parses the command line and hands over to
//! [`api::cli::run`], which tests call in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Unlocked handles: the log writer shares stderr from other threads, so
    // holding its lock here for the whole run would block every log line.
    let code = api::cli::run(std::env::args_os(), &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(code)
}
