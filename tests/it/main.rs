//! The one integration-test binary: every feature's end-to-end tests, run
//! against the real command line in-process and the real HTTP server on
//! port 0, on SQLite always and on Postgres when `TEST_DATABASE_URL` is set.

mod access;
mod backorders;
mod batch;
mod cache;
mod catalog;
mod cli;
mod concurrency;
mod hostile;
mod http;
mod lifecycle;
mod lifecycle_properties;
mod orders;
mod plans;
mod schema;
mod simulate;
mod soak;
mod support;
mod tidy;
