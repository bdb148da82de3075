//! sea-orm entities: one module per table. They never leave `infra`; stores
//! convert them into domain values.
//!
//! Conventions: money is stored as whole millionths of the currency unit
//! (`*_micros`, exact and portable across SQLite and Postgres), instants as
//! Unix milliseconds (`*_ms`), calendar days as days since 1970-01-01.

pub mod api_key;
pub mod backorder;
pub mod compensation;
pub mod gateway_secret;
pub mod idempotency_key;
pub mod inbound_receipt;
pub mod order;
pub mod order_event;
pub mod order_line;
pub mod partner;
pub mod product;
pub mod product_substitute;
pub mod queue_count;
pub mod shipment;
pub mod shipment_line;
pub mod stock_change;
pub mod stock_level;
pub mod substitution;
pub mod warehouse;
