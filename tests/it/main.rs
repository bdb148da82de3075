//! The one integration-test binary: every feature's end-to-end tests, run
//! against the real command line in-process.

mod batch;
mod simulate;
mod support;
mod tidy;
