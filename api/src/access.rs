//! Which role may use which operation and read which field: one table,
//! [`RULES`], checked on every field a request selects, however deeply
//! nested, before it executes ([`refused_field`]). A field the table does not name is refused to everyone, and a
//! test fails for every field of the schema without a rule.
//!
//! The table decides by role alone. What depends on the data — that an
//! order is the storefront's own, that a warehouse is the partner's — is
//! decided by `domain::access` in each operation's use case, and answered
//! as "not found" rather than "forbidden".

use std::collections::HashMap;
use std::sync::OnceLock;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet};
use async_graphql::registry::{MetaTypeName, Registry};
use domain::access::Role;

/// A set of roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    const fn of(role: Role) -> Self {
        Self(match role {
            Role::Storefront => 1,
            Role::Partner => 2,
            Role::Agent => 4,
            Role::Admin => 8,
        })
    }

    const fn and(self, other: Roles) -> Self {
        Self(self.0 | other.0)
    }

    pub fn allows(self, role: Role) -> bool {
        self.0 & Roles::of(role).0 != 0
    }
}

const S: Roles = Roles::of(Role::Storefront);
const P: Roles = Roles::of(Role::Partner);
const G: Roles = Roles::of(Role::Agent);
const A: Roles = Roles::of(Role::Admin);
const ANY: Roles = S.and(P).and(G).and(A);
/// Orders: the storefront that placed one (with its token), agents, admins.
const ORDERS: Roles = S.and(G).and(A);
/// Stock and the network as operators see them.
const STAFF: Roles = P.and(G).and(A);
/// Stock writes and packages: a partner (its own warehouses), admins.
const STOCK: Roles = P.and(A);
/// Every order, whoever placed it.
const DESK: Roles = G.and(A);

/// Per type, who may read (or, on `Mutation`, run) each field. Every field
/// of the schema is named exactly once.
pub const RULES: &[(&str, Roles, &[&str])] = &[
    ("Query", ANY, &["product", "products", "availability", "fulfillmentPolicy"]),
    ("Query", ORDERS, &["quoteFulfillment", "substitutes", "order"]),
    ("Query", STAFF, &["warehouses", "warehouse"]),
    ("Query", STOCK, &["partnerShipments", "stockChanges"]),
    ("Query", DESK, &["orders", "backorders"]),
    ("Query", A, &["apiKeys"]),
    ("Mutation", A, &["upsertWarehouse", "upsertProducts", "createApiKey", "revokeApiKey"]),
    (
        "Mutation",
        STOCK,
        &[
            "setStockLevels",
            "receiveStock",
            "adjustStock",
            "recordInboundReceipt",
            "markShipmentShipped",
            "reportShortPick",
        ],
    ),
    (
        "Mutation",
        ORDERS,
        &["placeOrder", "confirmBackorder", "cancelBackorder", "cancelOrderLine", "respondToSubstitution"],
    ),
    ("Mutation", DESK, &["cancelOrder", "issueCompensation", "substituteLine", "proposeSubstitution"]),
    // The network: a shop sees which warehouse, operators the rest.
    ("Warehouse", ANY, &["code", "name"]),
    (
        "Warehouse",
        STAFF,
        &["partnerCode", "latitude", "longitude", "priority", "handlingDays", "baseCost", "costPerKm", "active"],
    ),
    ("WarehouseConnection", STAFF, &["pageInfo", "edges", "nodes"]),
    ("WarehouseEdge", STAFF, &["node", "cursor"]),
    ("PageInfo", ANY, &["hasPreviousPage", "hasNextPage", "startCursor", "endCursor"]),
    // The catalog and availability: a shop sees what it can sell.
    ("Product", ANY, &["sku", "name", "unitPrice", "backorderable", "leadTimeDays", "substitutes"]),
    ("ProductConnection", ANY, &["pageInfo", "edges", "nodes"]),
    ("ProductEdge", ANY, &["node", "cursor"]),
    ("SkuAvailability", ANY, &["sku", "totalAvailable", "locations"]),
    ("StockLocation", ANY, &["warehouse", "available"]),
    ("StockLocation", STAFF, &["onHand", "reserved", "safetyStock", "feedSequence"]),
    (
        "FulfillmentPolicyView",
        ANY,
        &[
            "partialShipmentCharge",
            "chargePerExtraPackage",
            "maxBackorderSeconds",
            "cancelOverdue",
            "confirmationWindowSeconds",
            "delayCompensation",
        ],
    ),
    ("DelayCompensationPolicy", ANY, &["thresholdDays", "percent"]),
    // Quotes.
    (
        "FulfillmentPlan",
        ORDERS,
        &[
            "policy",
            "shipments",
            "backordered",
            "shipmentCount",
            "shippingCost",
            "unitsNow",
            "unitsBackordered",
            "optimal",
            "lowerBound",
            "explanation",
            "planToken",
            "firstDeliveryDate",
            "completeDeliveryDate",
            "policyOptions",
            "partialShipmentCharge",
        ],
    ),
    ("PlannedShipment", ORDERS, &["warehouse", "lines", "cost", "distanceKm", "estimatedDeliveryDate", "held"]),
    ("PlannedLine", ORDERS, &["sku", "quantity"]),
    ("BackorderedLine", ORDERS, &["sku", "quantity", "estimatedAvailableDate"]),
    (
        "PolicyOption",
        ORDERS,
        &[
            "policy",
            "shipmentCount",
            "shippingCost",
            "unitsNow",
            "unitsBackordered",
            "partialShipmentCharge",
            "firstDeliveryDate",
            "completeDeliveryDate",
        ],
    ),
    ("SubstituteOption", ORDERS, &["rank", "product", "totalAvailable", "plan"]),
    // Orders: never a partner's (it sees its packages, below).
    (
        "Order",
        ORDERS,
        &[
            "id",
            "customerReference",
            "status",
            "policy",
            "maxShipments",
            "destination",
            "backorderConsent",
            "shippingCost",
            "createdAt",
            "lines",
            "substitutions",
            "shipments",
            "backorders",
            "totals",
            "compensations",
            "events",
        ],
    ),
    ("OrderConnection", DESK, &["pageInfo", "edges", "nodes"]),
    ("OrderEdge", DESK, &["node", "cursor"]),
    (
        "OrderLine",
        ORDERS,
        &[
            "id",
            "lineNumber",
            "sku",
            "quantity",
            "unitPrice",
            "shipped",
            "allocated",
            "backordered",
            "cancelled",
            "substituted",
            "replacesLineNumber",
            "replacedByLineNumbers",
        ],
    ),
    ("OrderTotals", ORDERS, &["merchandise", "shipping", "partialShipmentCharge", "compensation", "total"]),
    ("Compensation", ORDERS, &["id", "amount", "reason", "automatic", "at"]),
    ("OrderEvent", ORDERS, &["id", "kind", "at", "causedBy", "payload"]),
    ("EventActor", ANY, &["kind", "name", "role"]),
    (
        "Backorder",
        ORDERS,
        &[
            "id",
            "sku",
            "quantity",
            "status",
            "estimatedAvailableDate",
            "promisedAvailableDate",
            "queuePosition",
            "orderId",
            "createdAt",
            "confirmedAt",
            "overdueSince",
        ],
    ),
    (
        "Substitution",
        ORDERS,
        &[
            "id",
            "lineId",
            "originalSku",
            "substituteSku",
            "quantity",
            "status",
            "priceDifference",
            "substituteLineId",
            "note",
            "createdAt",
            "respondedAt",
        ],
    ),
    // Packages: the order's owner, the desk, and the partner that picks them.
    (
        "Shipment",
        ORDERS.and(P),
        &[
            "id",
            "warehouse",
            "status",
            "trackingNumber",
            "carrier",
            "distanceKm",
            "estimatedDeliveryDate",
            "lines",
            "shipTo",
            "createdAt",
        ],
    ),
    // What the order pays to ship it: not the partner's to see.
    ("Shipment", ORDERS, &["cost"]),
    ("ShipmentConnection", STOCK, &["pageInfo", "edges", "nodes"]),
    ("StockChangeConnection", STOCK, &["pageInfo", "edges", "nodes"]),
    ("StockChangeEdge", STOCK, &["node", "cursor"]),
    (
        "StockChange",
        STOCK,
        &[
            "warehouseCode",
            "sku",
            "kind",
            "causedBy",
            "onHandBefore",
            "onHandAfter",
            "safetyStockBefore",
            "safetyStockAfter",
            "sequence",
            "note",
            "at",
        ],
    ),
    ("ShipmentEdge", STOCK, &["node", "cursor"]),
    ("ShipmentLine", ORDERS.and(P), &["sku", "quantity"]),
    ("Destination", ORDERS.and(P), &["latitude", "longitude", "countryCode", "postalCode"]),
    // Payloads: as their mutation, less what a partner may not see.
    ("UserError", ANY, &["code", "message", "field"]),
    ("UpsertWarehousePayload", A, &["warehouse", "userErrors"]),
    ("UpsertProductsPayload", A, &["products", "userErrors"]),
    ("SetStockLevelsPayload", STOCK, &["results", "userErrors"]),
    ("StockLevelResult", STOCK, &["warehouseCode", "sku", "applied", "currentSequence"]),
    ("StockChangePayload", STOCK, &["availability", "userErrors"]),
    ("RecordInboundReceiptPayload", STOCK, &["receipt", "userErrors"]),
    ("InboundReceipt", STOCK, &["id", "warehouseCode", "sku", "quantity", "expectedOn"]),
    ("ShipmentPayload", STOCK, &["shipment", "userErrors"]),
    ("ShipmentPayload", A, &["order"]),
    ("ShortPickPayload", STOCK, &["resourced", "backordered", "userErrors"]),
    ("ShortPickPayload", A, &["order"]),
    ("ResourcedUnits", STOCK, &["warehouseCode", "quantity"]),
    ("PlaceOrderPayload", ORDERS, &["order", "replayed", "orderToken", "freshPlan", "userErrors"]),
    ("BackorderPayload", ORDERS, &["backorder", "order", "userErrors"]),
    ("CancelOrderPayload", DESK, &["order", "userErrors"]),
    ("IssueCompensationPayload", DESK, &["order", "userErrors"]),
    ("OrderPayload", ORDERS, &["order", "userErrors"]),
    ("SubstitutionPayload", ORDERS, &["substitution", "order", "userErrors"]),
    // Keys.
    ("ApiKey", A, &["id", "name", "role", "partnerCode", "createdAt", "revokedAt", "lastUsedAt"]),
    ("CreateApiKeyPayload", A, &["key", "secret", "userErrors"]),
    ("RevokeApiKeyPayload", A, &["key", "userErrors"]),
];

fn table() -> &'static HashMap<&'static str, HashMap<&'static str, Roles>> {
    static TABLE: OnceLock<HashMap<&'static str, HashMap<&'static str, Roles>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<&str, HashMap<&str, Roles>> = HashMap::new();
        for &(ty, roles, fields) in RULES {
            for &field in fields {
                let previous = table.entry(ty).or_default().insert(field, roles);
                assert!(previous.is_none(), "{ty}.{field} has two rules");
            }
        }
        table
    })
}

/// Who may use `ty.field`; `None` for a field without a rule.
pub fn rule(ty: &str, field: &str) -> Option<Roles> {
    table().get(ty)?.get(field).copied()
}

/// Whether `role` may use `ty.field`. Introspection is every caller's who
/// got this far (without a key, only when the deployment allows it).
pub fn allowed(ty: &str, field: &str, role: Option<Role>) -> bool {
    if ty.starts_with("__") || field.starts_with("__") {
        return true;
    }
    match (rule(ty, field), role) {
        (Some(roles), Some(role)) => roles.allows(role),
        _ => false,
    }
}

/// The first field of the operation, fragments expanded, that `role` may
/// not use (no role: a request without a key), as its response path and
/// `Type.field`. Run on a validated document, before anything executes:
/// async-graphql calls an extension around every field it resolves, which
/// halves the throughput of a query of many fields, so the table is
/// checked by walking the document once instead.
pub fn refused_field(
    registry: &Registry,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    role: Option<Role>,
) -> Option<(Vec<String>, String)> {
    let root = match operation.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    let mut path = Vec::new();
    walk(registry, document, root, &operation.selection_set.node, role, &mut path)
}

fn walk(
    registry: &Registry,
    document: &ExecutableDocument,
    ty: &str,
    set: &SelectionSet,
    role: Option<Role>,
    path: &mut Vec<String>,
) -> Option<(Vec<String>, String)> {
    for item in &set.items {
        let refused = match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                if name.starts_with("__") {
                    continue;
                }
                path.push(field.node.response_key().node.to_string());
                let refused = if allowed(ty, name, role) {
                    let child = registry
                        .types
                        .get(ty)
                        .and_then(|t| t.field_by_name(name))
                        .map(|f| MetaTypeName::concrete_typename(&f.ty).to_owned());
                    match child {
                        Some(child) if !field.node.selection_set.node.items.is_empty() => {
                            walk(registry, document, &child, &field.node.selection_set.node, role, path)
                        }
                        _ => None,
                    }
                } else {
                    Some((path.clone(), format!("{ty}.{name}")))
                };
                path.pop();
                refused
            }
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref().map_or(ty, |c| c.node.on.node.as_str());
                walk(registry, document, on, &fragment.node.selection_set.node, role, path)
            }
            Selection::FragmentSpread(spread) => {
                document.fragments.get(&spread.node.fragment_name.node).and_then(|f| {
                    walk(
                        registry,
                        document,
                        f.node.type_condition.node.on.node.as_str(),
                        &f.node.selection_set.node,
                        role,
                        path,
                    )
                })
            }
        };
        if refused.is_some() {
            return refused;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_gets_what_its_row_says() {
        assert!(allowed("Query", "order", Some(Role::Storefront)));
        assert!(!allowed("Query", "order", Some(Role::Partner)));
        assert!(!allowed("Mutation", "upsertWarehouse", Some(Role::Agent)));
        assert!(allowed("Mutation", "upsertWarehouse", Some(Role::Admin)));
        assert!(!allowed("StockLocation", "onHand", Some(Role::Storefront)));
        assert!(!allowed("Query", "product", None));
        assert!(!allowed("Query", "noSuchField", Some(Role::Admin)));
        assert!(allowed("__Type", "name", None));
    }
}
