//! The `shipmix` binary: parses the command line and hands over to
//! [`api::cli::run`], which tests call in-process.

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = api::cli::run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
