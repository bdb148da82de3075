//! shipmix's shell: the `shipmix` command line. Use cases here load through
//! `infra`, decide through `domain` and render; nothing in this crate makes a
//! sourcing decision of its own.

pub mod cli;
pub mod simulate;
