//! Orders: what placing one decides beyond sourcing — which shipments are
//! released or held, which units wait as backorders and in what state, the
//! dates promised, and the events that record it all.
//!
//! Pure like the rest of `domain`: the caller passes the plan, the consent,
//! today, and the per-warehouse and per-sku facts the estimates need.

use crate::calendar::{Day, transit_days};
use crate::catalog::{Quantity, Sku};
use crate::money::Money;
use crate::network::WarehouseCode;
use crate::sourcing::{FulfillmentPlan, Release, ShipmentLine};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name clients and storage use.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;

named_enum!(
    /// Where a package is: `PENDING → RELEASED → SHIPPED`, or `CANCELLED`.
    ShipmentStatus {
        Pending => "PENDING",
        Released => "RELEASED",
        Shipped => "SHIPPED",
        Cancelled => "CANCELLED",
    }
);

named_enum!(
    /// Units of a line that could not be allocated.
    BackorderStatus {
        AwaitingConfirmation => "AWAITING_CONFIRMATION",
        Confirmed => "CONFIRMED",
        Allocated => "ALLOCATED",
        Cancelled => "CANCELLED",
        Substituted => "SUBSTITUTED",
        Expired => "EXPIRED",
    }
);

named_enum!(
    /// Where an order stands as a whole, derived from its shipments and
    /// backorders.
    OrderStatus {
        AwaitingShipment => "AWAITING_SHIPMENT",
        Backordered => "BACKORDERED",
        PartiallyShipped => "PARTIALLY_SHIPPED",
        Shipped => "SHIPPED",
        Cancelled => "CANCELLED",
    }
);

named_enum!(
    /// What an order event records.
    EventKind {
        OrderPlaced => "ORDER_PLACED",
        OrderSplit => "ORDER_SPLIT",
        ShipmentReleased => "SHIPMENT_RELEASED",
        ShipmentHeld => "SHIPMENT_HELD",
        LineBackordered => "LINE_BACKORDERED",
        BackorderConfirmed => "BACKORDER_CONFIRMED",
        BackorderCancelled => "BACKORDER_CANCELLED",
        BackorderAllocated => "BACKORDER_ALLOCATED",
        ShipmentShipped => "SHIPMENT_SHIPPED",
        BackorderEtaChanged => "BACKORDER_ETA_CHANGED",
        ShipmentCancelled => "SHIPMENT_CANCELLED",
        OrderCancelled => "ORDER_CANCELLED",
        OrderCompensated => "ORDER_COMPENSATED",
        BackorderExpired => "BACKORDER_EXPIRED",
        BackorderOverdue => "BACKORDER_OVERDUE",
        LineCancelled => "LINE_CANCELLED",
        SubstitutionProposed => "SUBSTITUTION_PROPOSED",
        SubstitutionDeclined => "SUBSTITUTION_DECLINED",
        LineSubstituted => "LINE_SUBSTITUTED",
        ShortPickReported => "SHORT_PICK_REPORTED",
        CompensationReversed => "COMPENSATION_REVERSED",
    }
);

/// Whether the shopper agreed up front to wait for backordered units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackorderConsent {
    /// Backorders wait for confirmation.
    #[default]
    NotGiven,
    /// Backorders join the queue at once.
    Given,
}

/// One thing that happened to an order, with its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    Placed { lines: usize, units_ordered: u64, units_now: u64 },
    Split { shipments: usize },
    ShipmentReleased { warehouse: WarehouseCode },
    ShipmentHeld { warehouse: WarehouseCode },
    Backordered { sku: Sku, quantity: u32, status: BackorderStatus, estimated_available: Day },
}

impl OrderEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            OrderEvent::Placed { .. } => EventKind::OrderPlaced,
            OrderEvent::Split { .. } => EventKind::OrderSplit,
            OrderEvent::ShipmentReleased { .. } => EventKind::ShipmentReleased,
            OrderEvent::ShipmentHeld { .. } => EventKind::ShipmentHeld,
            OrderEvent::Backordered { .. } => EventKind::LineBackordered,
        }
    }
}

/// A shipment about to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentDraft {
    pub warehouse: WarehouseCode,
    pub lines: Vec<ShipmentLine>,
    pub cost: Money,
    pub distance_m: u64,
    pub status: ShipmentStatus,
    pub estimated_delivery: Day,
}

/// A backorder about to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackorderDraft {
    pub sku: Sku,
    pub quantity: Quantity,
    pub status: BackorderStatus,
    pub estimated_available: Day,
}

/// Everything placing an order creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDraft {
    pub status: OrderStatus,
    pub shipments: Vec<ShipmentDraft>,
    pub backorders: Vec<BackorderDraft>,
    pub events: Vec<OrderEvent>,
}

/// Per-warehouse and per-sku facts the estimates need.
pub trait LeadTimes {
    /// Days a warehouse takes to pick and hand over a package.
    fn handling_days(&self, warehouse: &WarehouseCode) -> u32;
    /// Days until a sku nobody holds can be had again (supplier lead time).
    fn restock_days(&self, sku: &Sku) -> u32;
}

/// Decides what placing an order on `plan` creates.
pub fn draft_order(plan: &FulfillmentPlan, consent: BackorderConsent, today: Day, lead: &impl LeadTimes) -> OrderDraft {
    let held = plan.release() == Release::HeldUntilComplete;
    let status = if held { ShipmentStatus::Pending } else { ShipmentStatus::Released };
    let backorder_status = match consent {
        BackorderConsent::Given => BackorderStatus::Confirmed,
        BackorderConsent::NotGiven => BackorderStatus::AwaitingConfirmation,
    };
    let units_ordered = plan.lines().iter().map(|l| u64::from(l.ordered().units())).sum();
    let mut events = vec![OrderEvent::Placed { lines: plan.lines().len(), units_ordered, units_now: plan.units_now() }];
    if plan.shipment_count() > 1 {
        events.push(OrderEvent::Split { shipments: plan.shipment_count() });
    }
    let shipments: Vec<ShipmentDraft> = plan
        .shipments()
        .iter()
        .map(|s| {
            let meters = s.distance_m();
            let days = lead.handling_days(s.warehouse()).saturating_add(transit_days(meters));
            events.push(if held {
                OrderEvent::ShipmentHeld { warehouse: s.warehouse().clone() }
            } else {
                OrderEvent::ShipmentReleased { warehouse: s.warehouse().clone() }
            });
            ShipmentDraft {
                warehouse: s.warehouse().clone(),
                lines: s.lines().to_vec(),
                cost: s.cost(),
                distance_m: meters,
                status,
                estimated_delivery: today.plus_days(days),
            }
        })
        .collect();
    let backorders: Vec<BackorderDraft> = plan
        .backordered()
        .map(|(sku, quantity)| {
            let estimated_available = today.plus_days(lead.restock_days(sku));
            events.push(OrderEvent::Backordered {
                sku: sku.clone(),
                quantity,
                status: backorder_status,
                estimated_available,
            });
            BackorderDraft {
                sku: sku.clone(),
                quantity: Quantity::new(i64::from(quantity)).expect("backordered units are positive"),
                status: backorder_status,
                estimated_available,
            }
        })
        .collect();
    let status = if backorders.is_empty() { OrderStatus::AwaitingShipment } else { OrderStatus::Backordered };
    OrderDraft { status, shipments, backorders, events }
}

/// What an order's committed rows hold, as its settlement reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderProgress {
    pub complete_only: bool,
    /// Backorders still waiting (awaiting confirmation or confirmed).
    pub waiting: u32,
    /// Packages held until the order is complete.
    pub pending: u32,
    /// Packages the warehouse may ship.
    pub released: u32,
    pub shipped: u32,
}

/// What an order's rows say it is, and what its packages must do to agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub status: OrderStatus,
    /// A `SHIP_COMPLETE` order with nothing left to wait for: its held
    /// packages go.
    pub release_held: bool,
    /// A `SHIP_COMPLETE` order that has to wait again (a short pick, a
    /// substitute out of stock): its released packages are held.
    pub hold_released: bool,
}

impl OrderProgress {
    /// The one rule for an order's status and its `SHIP_COMPLETE` hold,
    /// applied after every change to its packages or backorders.
    pub fn settle(self) -> Settlement {
        let nothing_waits = self.waiting == 0;
        let release_held = self.complete_only && nothing_waits && self.pending > 0;
        let hold_released = self.complete_only && !nothing_waits && self.released > 0;
        let live = self.pending + self.released + self.shipped;
        let status = if self.shipped > 0 && self.shipped == live && nothing_waits {
            OrderStatus::Shipped
        } else if self.shipped > 0 {
            OrderStatus::PartiallyShipped
        } else if !nothing_waits {
            OrderStatus::Backordered
        } else if live == 0 {
            OrderStatus::Cancelled
        } else {
            OrderStatus::AwaitingShipment
        };
        Settlement { status, release_held, hold_released }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::catalog::OrderLine;
    use crate::geo::GeoPoint;
    use crate::money::ShippingRate;
    use crate::network::{Network, Warehouse};
    use crate::sourcing::{SearchBudget, SourcingRequest, SplitPolicy, plan_fulfillment};

    struct Lead;

    impl LeadTimes for Lead {
        fn handling_days(&self, warehouse: &WarehouseCode) -> u32 {
            if warehouse.as_str() == "SLOW" { 3 } else { 1 }
        }

        fn restock_days(&self, _sku: &Sku) -> u32 {
            10
        }
    }

    fn plan(policy: SplitPolicy, lines: &[(&str, i64)]) -> FulfillmentPlan {
        let wh = |code: &str, lon: f64| {
            Warehouse::new(
                WarehouseCode::new(code).unwrap(),
                GeoPoint::new(40.0, lon).unwrap(),
                ShippingRate::new(Decimal::ONE, Decimal::ZERO).unwrap(),
                1,
            )
        };
        let mut network = Network::new(vec![wh("NEAR", -74.0), wh("SLOW", -90.0)]).unwrap();
        network.set_available(&WarehouseCode::new("NEAR").unwrap(), Sku::new("A").unwrap(), 1).unwrap();
        network.set_available(&WarehouseCode::new("SLOW").unwrap(), Sku::new("B").unwrap(), 5).unwrap();
        let lines =
            lines.iter().map(|&(s, q)| OrderLine::new(Sku::new(s).unwrap(), Quantity::new(q).unwrap())).collect();
        let request = SourcingRequest::new(lines, GeoPoint::new(40.0, -74.0).unwrap(), policy, None).unwrap();
        plan_fulfillment(&request, &network, SearchBudget::default())
    }

    const TODAY: Day = Day::from_days_since_epoch(20_000);

    #[test]
    fn a_complete_order_releases_its_shipments_and_promises_dates() {
        let draft = draft_order(
            &plan(SplitPolicy::ShipAvailable, &[("A", 1), ("B", 2)]),
            BackorderConsent::NotGiven,
            TODAY,
            &Lead,
        );
        assert_eq!(draft.status, OrderStatus::AwaitingShipment);
        assert!(draft.backorders.is_empty());
        assert!(draft.shipments.iter().all(|s| s.status == ShipmentStatus::Released));
        // NEAR: 1 handling + 1 transit day; SLOW is ~1,360 km away: 3 + 2.
        let days: Vec<i32> = draft.shipments.iter().map(|s| s.estimated_delivery.days_since_epoch() - 20_000).collect();
        assert_eq!(days, [2, 5]);
        let kinds: Vec<EventKind> = draft.events.iter().map(OrderEvent::kind).collect();
        assert_eq!(
            kinds,
            [EventKind::OrderPlaced, EventKind::OrderSplit, EventKind::ShipmentReleased, EventKind::ShipmentReleased]
        );
    }

    #[test]
    fn backorders_wait_for_confirmation_unless_the_shopper_consented() {
        let p = plan(SplitPolicy::ShipAvailable, &[("A", 3)]);
        let waiting = draft_order(&p, BackorderConsent::NotGiven, TODAY, &Lead);
        assert_eq!(waiting.status, OrderStatus::Backordered);
        assert_eq!(waiting.backorders.len(), 1);
        assert_eq!(waiting.backorders[0].quantity.units(), 2);
        assert_eq!(waiting.backorders[0].status, BackorderStatus::AwaitingConfirmation);
        assert_eq!(waiting.backorders[0].estimated_available, TODAY.plus_days(10));
        let queued = draft_order(&p, BackorderConsent::Given, TODAY, &Lead);
        assert_eq!(queued.backorders[0].status, BackorderStatus::Confirmed);
        assert!(matches!(
            queued.events.last(),
            Some(OrderEvent::Backordered { status: BackorderStatus::Confirmed, .. })
        ));
    }

    #[test]
    fn ship_complete_holds_every_shipment_while_anything_is_backordered() {
        let held =
            draft_order(&plan(SplitPolicy::ShipComplete, &[("A", 2), ("B", 1)]), BackorderConsent::Given, TODAY, &Lead);
        assert!(held.shipments.iter().all(|s| s.status == ShipmentStatus::Pending));
        assert!(held.events.iter().any(|e| e.kind() == EventKind::ShipmentHeld));
        let whole = draft_order(&plan(SplitPolicy::ShipComplete, &[("B", 1)]), BackorderConsent::Given, TODAY, &Lead);
        assert_eq!(whole.shipments[0].status, ShipmentStatus::Released);
    }

    fn progress(complete_only: bool, waiting: u32, pending: u32, released: u32, shipped: u32) -> OrderProgress {
        OrderProgress { complete_only, waiting, pending, released, shipped }
    }

    #[test]
    fn an_order_is_what_its_packages_and_backorders_say() {
        let status = |p: OrderProgress| p.settle().status;
        assert_eq!(status(progress(false, 0, 0, 2, 0)), OrderStatus::AwaitingShipment);
        assert_eq!(status(progress(false, 1, 0, 2, 0)), OrderStatus::Backordered);
        assert_eq!(status(progress(false, 1, 0, 0, 1)), OrderStatus::PartiallyShipped);
        assert_eq!(status(progress(false, 0, 0, 1, 1)), OrderStatus::PartiallyShipped);
        assert_eq!(status(progress(false, 0, 0, 0, 2)), OrderStatus::Shipped);
        assert_eq!(status(progress(false, 0, 0, 0, 0)), OrderStatus::Cancelled);
        assert_eq!(status(progress(false, 2, 0, 0, 0)), OrderStatus::Backordered);
    }

    #[test]
    fn ship_complete_releases_once_nothing_waits_and_holds_again_when_something_does() {
        let done = progress(true, 0, 2, 0, 0).settle();
        assert!(done.release_held && !done.hold_released);
        assert_eq!(done.status, OrderStatus::AwaitingShipment);
        let again = progress(true, 1, 0, 2, 0).settle();
        assert!(again.hold_released && !again.release_held);
        let waiting = progress(true, 1, 2, 0, 0).settle();
        assert!(!waiting.release_held && !waiting.hold_released);
        // An order that may ship what it has never holds anything.
        let available = progress(false, 1, 0, 2, 0).settle();
        assert!(!available.release_held && !available.hold_released);
    }

    #[test]
    fn status_names_round_trip() {
        for s in ShipmentStatus::ALL {
            assert_eq!(ShipmentStatus::parse(s.as_str()), Some(*s));
        }
        for s in BackorderStatus::ALL {
            assert_eq!(BackorderStatus::parse(s.as_str()), Some(*s));
        }
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(OrderStatus::parse("LOST"), None);
    }
}
