//! The batch file formats (README.md, "File formats"): a network (warehouses and their
//! available stock) and a list of orders, as JSON.
//!
//! Reading validates everything into domain values before anything is
//! planned, and every error names the file and the offending entry
//! (`net.json: stock[3]: unknown warehouse "WH999"`), so an operations team can
//! fix a 10,000-order export without guessing. Field names are checked too: a
//! misspelt key is an error, not a silently ignored field.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use domain::sourcing::{MaxShipments, SourcingRequest, SplitPolicy};
use domain::{GeoPoint, Network, OrderLine, Quantity, ShippingRate, Sku, Warehouse, WarehouseCode};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A batch file that cannot be used, and where.
#[derive(Debug, Error)]
#[error("{}: {}{message}", file.display(), entry.as_deref().map(|e| format!("{e}: ")).unwrap_or_default())]
pub struct BatchError {
    pub file: PathBuf,
    /// JSON path of the offending entry, e.g. `orders[2].lines[0].quantity`.
    pub entry: Option<String>,
    pub message: String,
}

/// Priority of a warehouse whose entry gives none.
pub const DEFAULT_PRIORITY: i32 = 100;

/// A network read from a file, with the display names the engine ignores.
#[derive(Debug, Clone)]
pub struct BatchNetwork {
    pub network: Network,
    /// Display names in the network's warehouse order (empty if none given).
    pub names: Vec<String>,
    /// Every stock row of the file, in file order, zeros included: the
    /// network keeps only what can be sold, but a zero is a level (the
    /// warehouse stocks the sku and has none now), which an import keeps.
    pub levels: Vec<(WarehouseCode, Sku, u32)>,
}

/// One order of a batch.
#[derive(Debug, Clone)]
pub struct BatchOrder {
    pub id: String,
    pub request: SourcingRequest,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileDto {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warehouses: Option<Vec<WarehouseDto>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stock: Option<Vec<StockDto>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    orders: Option<Vec<OrderDto>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WarehouseDto {
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    latitude: f64,
    longitude: f64,
    #[serde(serialize_with = "decimal_as_number")]
    base_cost: Decimal,
    #[serde(serialize_with = "decimal_as_number")]
    cost_per_km: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<i32>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct StockDto {
    warehouse: String,
    sku: String,
    available: serde_json::Number,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OrderDto {
    id: String,
    destination: DestinationDto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyDto>,
    #[serde(default)]
    max_shipments: Option<i64>,
    lines: Vec<LineDto>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DestinationDto {
    latitude: f64,
    longitude: f64,
    // Accepted for parity with the GraphQL input; the cost model does not
    // use them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    postal_code: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum PolicyDto {
    ShipAvailable,
    ShipComplete,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct LineDto {
    sku: String,
    quantity: serde_json::Number,
}

/// Money is written as a JSON number with the decimal's own digits; the
/// shortest float that prints them back is exactly those digits for any
/// amount a tariff uses.
fn decimal_as_number<S: serde::Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(value.to_f64().unwrap_or(f64::NAN))
}

fn read(path: &Path) -> Result<FileDto, BatchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BatchError {
        file: path.to_owned(),
        entry: None,
        message: format!("cannot read: {e}"),
    })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let entry = e.path().to_string();
        BatchError {
            file: path.to_owned(),
            entry: (entry != ".").then_some(entry),
            message: e.into_inner().to_string(),
        }
    })
}

struct Errors<'a> {
    file: &'a Path,
}

impl Errors<'_> {
    fn at(&self, entry: impl fmt::Display, message: impl fmt::Display) -> BatchError {
        BatchError { file: self.file.to_owned(), entry: Some(entry.to_string()), message: message.to_string() }
    }
}

/// Reads the network of a network file (or of a combined file).
pub fn read_network(path: &Path) -> Result<BatchNetwork, BatchError> {
    let dto = read(path)?;
    let err = Errors { file: path };
    let Some(warehouses) = dto.warehouses else {
        return Err(BatchError { file: path.to_owned(), entry: None, message: "no \"warehouses\" list".into() });
    };
    let mut parsed = Vec::with_capacity(warehouses.len());
    let mut names = Vec::with_capacity(warehouses.len());
    let mut seen = HashSet::new();
    for (i, w) in warehouses.into_iter().enumerate() {
        let at = format!("warehouses[{i}]");
        let code = WarehouseCode::new(w.code).map_err(|e| err.at(format!("{at}.code"), e))?;
        if !seen.insert(code.clone()) {
            return Err(err.at(format!("{at}.code"), format!("warehouse {code} is listed twice")));
        }
        let location = GeoPoint::new(w.latitude, w.longitude).map_err(|e| err.at(&at, e))?;
        let rate = ShippingRate::new(w.base_cost, w.cost_per_km).map_err(|e| err.at(&at, e))?;
        names.push((code.clone(), w.name.unwrap_or_default()));
        parsed.push(Warehouse::new(code, location, rate, w.priority.unwrap_or(DEFAULT_PRIORITY)));
    }
    let mut network = Network::new(parsed).map_err(|e| err.at("warehouses", e))?;
    let mut rows = HashSet::new();
    let mut levels = Vec::new();
    for (i, row) in dto.stock.unwrap_or_default().into_iter().enumerate() {
        let at = format!("stock[{i}]");
        let code = WarehouseCode::new(row.warehouse.clone()).map_err(|e| err.at(format!("{at}.warehouse"), e))?;
        if network.index_of(&code).is_none() {
            return Err(err.at(&at, format!("unknown warehouse {:?}", row.warehouse)));
        }
        let sku = Sku::new(row.sku).map_err(|e| err.at(format!("{at}.sku"), e))?;
        let units = row
            .available
            .as_i64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|&n| n <= domain::limits::MAX_ON_HAND)
            .ok_or_else(|| {
                let max = domain::limits::MAX_ON_HAND;
                let got = &row.available;
                err.at(format!("{at}.available"), format!("must be a whole number from 0 to {max}, got {got}"))
            })?;
        if !rows.insert((code.clone(), sku.clone())) {
            return Err(err.at(&at, format!("{sku} at {code} is listed twice")));
        }
        network.set_available(&code, sku.clone(), units).map_err(|e| err.at(&at, e))?;
        levels.push((code, sku, units));
    }
    let names = network
        .warehouses()
        .iter()
        .map(|w| names.iter().find(|(c, _)| c == w.code()).map(|(_, n)| n.clone()).unwrap_or_default())
        .collect();
    Ok(BatchNetwork { network, names, levels })
}

/// Reads the orders of an orders file (or of a combined file).
pub fn read_orders(path: &Path) -> Result<Vec<BatchOrder>, BatchError> {
    let dto = read(path)?;
    let err = Errors { file: path };
    let Some(orders) = dto.orders else {
        return Err(BatchError { file: path.to_owned(), entry: None, message: "no \"orders\" list".into() });
    };
    let mut ids = HashSet::new();
    orders
        .into_iter()
        .enumerate()
        .map(|(o, order)| {
            let at = format!("orders[{o}]");
            if order.id.is_empty() {
                return Err(err.at(format!("{at}.id"), "must not be empty"));
            }
            if !ids.insert(order.id.clone()) {
                return Err(err.at(format!("{at}.id"), format!("order {:?} is listed twice", order.id)));
            }
            let destination = GeoPoint::new(order.destination.latitude, order.destination.longitude)
                .map_err(|e| err.at(format!("{at}.destination"), e))?;
            if order.lines.is_empty() {
                return Err(err.at(format!("{at}.lines"), "an order needs at least one line"));
            }
            let lines = order
                .lines
                .into_iter()
                .enumerate()
                .map(|(l, line)| {
                    let sku = Sku::new(line.sku).map_err(|e| err.at(format!("{at}.lines[{l}].sku"), e))?;
                    let at = format!("{at}.lines[{l}].quantity");
                    let units = line.quantity.as_i64().ok_or_else(|| {
                        let got = &line.quantity;
                        err.at(&at, format!("must be a positive whole number of units, got {got}"))
                    })?;
                    let quantity = Quantity::new(units).map_err(|e| err.at(&at, e))?;
                    Ok(OrderLine::new(sku, quantity))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let policy = match order.policy {
                Some(PolicyDto::ShipComplete) => SplitPolicy::ShipComplete,
                Some(PolicyDto::ShipAvailable) | None => SplitPolicy::ShipAvailable,
            };
            let max_shipments = order
                .max_shipments
                .map(MaxShipments::new)
                .transpose()
                .map_err(|e| err.at(format!("{at}.maxShipments"), e))?;
            let request = SourcingRequest::new(lines, destination, policy, max_shipments)
                .map_err(|e| err.at(format!("{at}.lines"), e))?;
            Ok(BatchOrder { id: order.id, request })
        })
        .collect()
}

/// Writes a network in the batch format, stock rows by sku then warehouse.
pub fn network_to_json(network: &Network, names: &[String], skus: &[Sku]) -> String {
    let warehouses = network
        .warehouses()
        .iter()
        .enumerate()
        .map(|(i, w)| WarehouseDto {
            code: w.code().to_string(),
            name: names.get(i).filter(|n| !n.is_empty()).cloned(),
            latitude: w.location().latitude(),
            longitude: w.location().longitude(),
            base_cost: w.rate().base().amount(),
            cost_per_km: w.rate().per_km(),
            priority: Some(w.priority()),
        })
        .collect();
    let stock = skus
        .iter()
        .flat_map(|sku| {
            network.stock_of(sku).iter().map(move |&(w, units)| StockDto {
                warehouse: network.warehouse(w).code().to_string(),
                sku: sku.to_string(),
                available: units.into(),
            })
        })
        .collect();
    let file = FileDto { warehouses: Some(warehouses), stock: Some(stock), orders: None };
    serde_json::to_string(&file).expect("plain data serializes")
}

/// Writes orders in the batch format.
pub fn orders_to_json(orders: &[BatchOrder]) -> String {
    let orders = orders
        .iter()
        .map(|o| OrderDto {
            id: o.id.clone(),
            destination: DestinationDto {
                latitude: o.request.destination().latitude(),
                longitude: o.request.destination().longitude(),
                country_code: None,
                postal_code: None,
            },
            policy: Some(match o.request.policy() {
                SplitPolicy::ShipAvailable => PolicyDto::ShipAvailable,
                SplitPolicy::ShipComplete => PolicyDto::ShipComplete,
            }),
            max_shipments: o.request.max_shipments().map(|k| i64::from(k.get())),
            lines: o
                .request
                .lines()
                .iter()
                .map(|l| LineDto { sku: l.sku().to_string(), quantity: l.quantity().units().into() })
                .collect(),
        })
        .collect();
    let file = FileDto { orders: Some(orders), ..FileDto::default() };
    serde_json::to_string(&file).expect("plain data serializes")
}
