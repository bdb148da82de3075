//! Input objects shared by several operations, and their conversion into
//! domain values ("parse, don't validate"): every failure names its field.

use async_graphql::{Enum, InputObject};
use domain::sourcing::{MaxShipments, SourcingRequest};
use domain::{GeoPoint, OrderLine, Quantity};

use crate::error::{ApiError, ErrorCode, UserError};

/// Whether what is in stock ships now or waits for the rest of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
pub(crate) enum SplitPolicy {
    /// Ship what is available now; backordered units follow.
    #[default]
    ShipAvailable,
    /// Reserve now, ship everything together once nothing is backordered.
    ShipComplete,
}

impl From<SplitPolicy> for domain::sourcing::SplitPolicy {
    fn from(p: SplitPolicy) -> Self {
        match p {
            SplitPolicy::ShipAvailable => Self::ShipAvailable,
            SplitPolicy::ShipComplete => Self::ShipComplete,
        }
    }
}

impl From<domain::sourcing::SplitPolicy> for SplitPolicy {
    fn from(p: domain::sourcing::SplitPolicy) -> Self {
        match p {
            domain::sourcing::SplitPolicy::ShipAvailable => Self::ShipAvailable,
            domain::sourcing::SplitPolicy::ShipComplete => Self::ShipComplete,
        }
    }
}

#[derive(Debug, Clone, InputObject)]
pub(crate) struct OrderLineInput {
    pub sku: String,
    pub quantity: i32,
}

/// Where the order goes.
#[derive(Debug, Clone, InputObject)]
pub(crate) struct DestinationInput {
    pub latitude: f64,
    pub longitude: f64,
    /// ISO 3166-1 alpha-2, e.g. "US".
    pub country_code: Option<String>,
    pub postal_code: Option<String>,
}

/// An order to quote.
#[derive(Debug, Clone, InputObject)]
pub(crate) struct QuoteInput {
    pub lines: Vec<OrderLineInput>,
    pub destination: DestinationInput,
    #[graphql(default)]
    pub policy: SplitPolicy,
    /// Ship in at most this many packages (at least 1).
    pub max_shipments: Option<i32>,
}

/// Most lines one order may have.
pub(crate) const MAX_LINES: usize = 100;

pub(crate) use crate::input::{sku, warehouse_code};

/// The point a destination names; its country and postal code are
/// checked too, so a quote refuses what placing the order would.
pub(crate) fn destination(input: &DestinationInput) -> Result<GeoPoint, ApiError> {
    let point = GeoPoint::new(input.latitude, input.longitude)
        .map_err(|e| ApiError::User(UserError::new(ErrorCode::BadCoordinates, e.to_string()).at(&["destination"])))?;
    address(input)?;
    Ok(point)
}

/// A destination's country (ISO 3166-1 alpha-2, upper case) and postal code.
pub(crate) fn address(input: &DestinationInput) -> Result<(Option<String>, Option<String>), ApiError> {
    let country = input
        .country_code
        .as_deref()
        .map(|c| crate::input::country_code(c, &["destination", "countryCode"]))
        .transpose()?;
    let postal = input
        .postal_code
        .as_deref()
        .map(|p| crate::input::postal_code(p, &["destination", "postalCode"]))
        .transpose()?;
    Ok((country, postal))
}

pub(crate) fn sourcing_request(
    lines: &[(String, i32)],
    destination_input: &DestinationInput,
    policy: SplitPolicy,
    max_shipments: Option<i32>,
) -> Result<SourcingRequest, ApiError> {
    if lines.is_empty() {
        return Err(ApiError::User(
            UserError::new(ErrorCode::InvalidInput, "an order needs at least one line").at(&["lines"]),
        ));
    }
    if lines.len() > MAX_LINES {
        return Err(ApiError::User(
            UserError::new(ErrorCode::InvalidInput, format!("an order may have at most {MAX_LINES} lines"))
                .at(&["lines"]),
        ));
    }
    let parsed = lines
        .iter()
        .enumerate()
        .map(|(i, (s, q))| {
            let index = i.to_string();
            let sku = sku(s, &["lines", &index, "sku"])?;
            let quantity = Quantity::new(i64::from(*q)).map_err(|e| {
                ApiError::User(UserError::new(ErrorCode::BadQuantity, e.to_string()).at(&["lines", &index, "quantity"]))
            })?;
            Ok(OrderLine::new(sku, quantity))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let max = max_shipments
        .map(|k| MaxShipments::new(i64::from(k)))
        .transpose()
        .map_err(|e| ApiError::User(UserError::new(ErrorCode::InvalidInput, e.to_string()).at(&["maxShipments"])))?;
    SourcingRequest::new(parsed, destination(destination_input)?, policy.into(), max)
        .map_err(|e| ApiError::User(UserError::new(ErrorCode::BadQuantity, e.to_string()).at(&["lines"])))
}

impl QuoteInput {
    pub(crate) fn to_request(&self) -> Result<SourcingRequest, ApiError> {
        let lines: Vec<(String, i32)> = self.lines.iter().map(|l| (l.sku.clone(), l.quantity)).collect();
        sourcing_request(&lines, &self.destination, self.policy, self.max_shipments)
    }
}
