//! shipmix's adapters to the outside world: everything that reads or writes
//! something `domain` must not know about. Today that is the batch file
//! format of `shipmix simulate`; the database, the stock cache and telemetry
//! join it here, so `api` never touches SQL, Redis or file formats directly.

pub mod batch;
pub mod cache;
pub mod clock;
pub mod db;
pub mod digest;
pub mod keyring;
pub mod secrets;
pub mod store;
pub mod telemetry;
