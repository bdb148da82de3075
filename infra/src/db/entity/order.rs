//! The `orders` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_reference: String,
    pub status: String,
    pub policy: String,
    pub max_shipments: Option<i32>,
    pub latitude: f64,
    pub longitude: f64,
    pub country_code: Option<String>,
    pub postal_code: Option<String>,
    pub backorder_consent: bool,
    /// Jumps the backorder queue when higher.
    pub priority: i32,
    pub shipping_cost_micros: i64,
    /// What the deployment's partial-shipment policy charged for extra packages.
    pub partial_shipment_charge_micros: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The API key that placed it (none: placed before keys, or by an operator).
    pub owner_key_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
