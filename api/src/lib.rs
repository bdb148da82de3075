//! shipmix's shell: the `shipmix` command line. Use cases here load through
//! `infra`, decide through `domain` and render; nothing in this crate makes a
//! sourcing decision of its own.

pub mod access;
pub mod cli;
pub mod contention;
pub mod demo;
pub mod error;
pub mod fulfillment;
pub mod graphql;
mod http;
pub mod import;
pub mod input;
pub mod metrics;
pub mod operations;
pub mod planning;
pub mod server;
pub mod simulate;
pub mod state;
pub mod throttle;
pub mod worker;
