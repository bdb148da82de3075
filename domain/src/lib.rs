//! shipmix's pure core: the values a fulfillment network is made of and the
//! sourcing engine that decides which warehouses ship an order.
//!
//! Nothing here does I/O, reads the clock or draws randomness on its own, and
//! nothing here knows GraphQL, SQL or serde: callers load values, this crate
//! decides, callers persist. That keeps every decision reproducible from its
//! inputs, which is what the property tests and `shipmix simulate` rely on.

pub mod access;
pub mod amend;
pub mod backorder;
pub mod calendar;
pub mod catalog;
pub mod compensation;
pub mod geo;
pub mod ids;
pub mod inventory;
pub mod limits;
pub mod money;
pub mod network;
pub mod order;
pub mod policy;
pub mod sourcing;
#[cfg(feature = "synth")]
pub mod synth;

pub use catalog::{InvalidQuantity, InvalidSku, OrderLine, Quantity, Sku};
pub use geo::{GeoPoint, InvalidCoordinates};
pub use money::{InvalidRate, Money, ShippingRate};
pub use network::{InvalidWarehouseCode, Network, NetworkError, Warehouse, WarehouseCode};
