//! Who may do what: the roles an API key carries, the caller a request
//! acts as, and the fences that keep each caller to what is theirs.
//!
//! Which role may call which operation and read which field is the API's
//! table (`api::access`); what is decided here is the part that depends on
//! the data: whether this order is the caller's, whether this warehouse is
//! its partner's. Every decision answers "visible" or "hidden", never
//! "forbidden", for data of someone else: a caller learns nothing about
//! what exists outside its fence.

use std::fmt;
use std::str::FromStr;

/// The role an API key carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A shop: products, availability, quotes, its own orders.
    Storefront,
    /// A 3PL's portal, bound to one partner: its warehouses' stock and packages.
    Partner,
    /// Customer service: every order; reads stock.
    Agent,
    /// Everything, including the network, the catalog, the policy and keys.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Storefront, Role::Partner, Role::Agent, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Storefront => "STOREFRONT",
            Role::Partner => "PARTNER",
            Role::Agent => "AGENT",
            Role::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that widths and alignment apply (tables of keys).
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: one of STOREFRONT, PARTNER, AGENT, ADMIN")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A key's role and, for a partner key, the partner it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidGrant {
    #[error("a PARTNER key must name its partner")]
    PartnerWithoutCode,
    #[error("only a PARTNER key is bound to a partner")]
    CodeWithoutPartner,
}

/// What a key may act as: checked once when it is created, so every caller
/// built from a stored key is consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    role: Role,
    partner: Option<String>,
}

impl Grant {
    pub fn new(role: Role, partner: Option<String>) -> Result<Self, InvalidGrant> {
        match (role, partner) {
            (Role::Partner, None) => Err(InvalidGrant::PartnerWithoutCode),
            (Role::Partner, Some(code)) => Ok(Self { role, partner: Some(code) }),
            (_, Some(_)) => Err(InvalidGrant::CodeWithoutPartner),
            (_, None) => Ok(Self { role, partner: None }),
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn partner(&self) -> Option<&str> {
        self.partner.as_deref()
    }
}

/// Who caused a change, as the order's timeline and the stock audit trail
/// record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request made with an API key.
    Key { name: String, role: Role },
    /// The backorder worker, or the gateway on its own (a restock's allocation).
    Gateway,
    /// An operator on the command line (`shipmix import`).
    Operator,
}

impl Actor {
    /// The form stored beside an event: `ROLE:name`, `gateway` or `operator`.
    pub fn label(&self) -> String {
        match self {
            Actor::Key { name, role } => format!("{role}:{name}"),
            Actor::Gateway => "gateway".to_owned(),
            Actor::Operator => "operator".to_owned(),
        }
    }

    /// Reads a stored label back; anything unrecognised is the gateway's.
    pub fn from_label(label: &str) -> Self {
        match label.split_once(':') {
            Some((role, name)) => match role.parse() {
                Ok(role) => Actor::Key { name: name.to_owned(), role },
                Err(_) => Actor::Gateway,
            },
            None if label == "operator" => Actor::Operator,
            None => Actor::Gateway,
        }
    }
}

/// The caller a request acts as: the key it authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: i64,
    pub name: String,
    pub grant: Grant,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.grant.role
    }

    pub fn actor(&self) -> Actor {
        Actor::Key { name: self.name.clone(), role: self.grant.role }
    }

    /// Whether the caller sees every order (agents and admins) rather than
    /// only those it placed.
    pub fn sees_every_order(&self) -> bool {
        matches!(self.grant.role, Role::Agent | Role::Admin)
    }

    /// Whether the caller may see an order placed by `owner_key` (none for
    /// orders placed before keys existed, or by an operator), having shown
    /// `token_matches` (the order's access token, or none). A storefront
    /// needs both: the order is one it placed, and it holds the token it was
    /// given for the shopper. A partner reaches orders only through its
    /// packages, never directly.
    pub fn sees_order(&self, owner_key: Option<i64>, token_matches: bool) -> bool {
        match self.grant.role {
            Role::Agent | Role::Admin => true,
            Role::Storefront => owner_key == Some(self.key_id) && token_matches,
            Role::Partner => false,
        }
    }

    /// The partner whose warehouses bound what this caller sees of stock
    /// and packages, or `None` when it sees every warehouse.
    pub fn partner_fence(&self) -> Option<&str> {
        match self.grant.role {
            Role::Partner => self.grant.partner.as_deref(),
            _ => None,
        }
    }

    /// Whether stock and packages of a warehouse operated by `partner` are
    /// visible to the caller.
    pub fn sees_warehouse(&self, partner: Option<&str>) -> bool {
        match self.partner_fence() {
            None => self.grant.role != Role::Storefront,
            Some(own) => partner == Some(own),
        }
    }

    /// Whether the caller may change stock (levels, feeds, receipts,
    /// adjustments) and packages of a warehouse operated by `partner`.
    pub fn writes_warehouse(&self, partner: Option<&str>) -> bool {
        match self.grant.role {
            Role::Admin => true,
            Role::Partner => self.sees_warehouse(partner),
            Role::Storefront | Role::Agent => false,
        }
    }

    /// Whether a storefront may set a line's price other than the catalog's
    /// (agents and admins override prices; a storefront re-quotes).
    pub fn sets_prices(&self) -> bool {
        matches!(self.grant.role, Role::Agent | Role::Admin)
    }

    /// Whether the caller may cancel lines of an order only while nothing
    /// of it has shipped (a storefront); agents and admins may any time
    /// before the units themselves ship.
    pub fn cancels_only_before_shipping(&self) -> bool {
        self.grant.role == Role::Storefront
    }
}

/// A leaky bucket of request cost: it holds at most `size` points and
/// refills `per_second` points a second; a request takes its cost from it
/// or waits. The same arithmetic runs inside Redis when buckets are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSize {
    pub size: u64,
    pub per_second: u64,
}

/// What is in one bucket: points, as of an instant (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub available: f64,
    pub at_ms: i64,
}

/// How taking from a bucket went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Take {
    /// Paid; this much is left.
    Paid { left: f64 },
    /// Not enough: nothing was taken; the cost is payable in `retry_after_ms`.
    Refused { available: f64, retry_after_ms: i64 },
}

impl BucketSize {
    /// How long until `cost` points are there, with `available` now: never
    /// (`i64::MAX`) for a cost above the size or a bucket that never refills.
    pub fn wait_ms(self, cost: u64, available: f64) -> i64 {
        if self.per_second == 0 || cost > self.size {
            return i64::MAX;
        }
        ((cost as f64 - available).max(0.0) * 1_000.0 / self.per_second as f64).ceil() as i64
    }
}

impl Bucket {
    /// A full bucket.
    pub fn full(size: BucketSize, now_ms: i64) -> Self {
        Self { available: size.size as f64, at_ms: now_ms }
    }

    /// Takes `cost` points at `now_ms`, refilling first. A cost above the
    /// bucket's size can never be paid (the complexity limit keeps every
    /// request below the sizes a deployment may set).
    pub fn take(&mut self, size: BucketSize, cost: u64, now_ms: i64) -> Take {
        let elapsed = now_ms.saturating_sub(self.at_ms).max(0) as f64;
        self.available = (self.available + elapsed * size.per_second as f64 / 1_000.0).min(size.size as f64);
        self.at_ms = now_ms.max(self.at_ms);
        if self.available >= cost as f64 {
            self.available -= cost as f64;
            return Take::Paid { left: self.available };
        }
        Take::Refused { available: self.available, retry_after_ms: size.wait_ms(cost, self.available) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, partner: Option<&str>) -> Caller {
        Caller { key_id: 7, name: "k".into(), grant: Grant::new(role, partner.map(str::to_owned)).unwrap() }
    }

    #[test]
    fn a_partner_key_is_bound_to_exactly_one_partner() {
        assert_eq!(Grant::new(Role::Partner, None), Err(InvalidGrant::PartnerWithoutCode));
        assert_eq!(Grant::new(Role::Agent, Some("ACME".into())), Err(InvalidGrant::CodeWithoutPartner));
        assert_eq!("partner".parse::<Role>(), Ok(Role::Partner));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn a_storefront_sees_only_orders_it_placed_and_holds_the_token_of() {
        let shop = caller(Role::Storefront, None);
        assert!(shop.sees_order(Some(7), true));
        assert!(!shop.sees_order(Some(7), false));
        assert!(!shop.sees_order(Some(8), true));
        assert!(!shop.sees_order(None, true));
        assert!(caller(Role::Agent, None).sees_order(Some(8), false));
        assert!(!caller(Role::Partner, Some("A")).sees_order(Some(7), true));
    }

    #[test]
    fn a_partner_sees_and_writes_only_its_own_warehouses() {
        let acme = caller(Role::Partner, Some("ACME"));
        assert!(acme.sees_warehouse(Some("ACME")));
        assert!(!acme.sees_warehouse(Some("BLUE")));
        assert!(!acme.sees_warehouse(None));
        assert!(acme.writes_warehouse(Some("ACME")));
        assert!(!acme.writes_warehouse(Some("BLUE")));
        let agent = caller(Role::Agent, None);
        assert!(agent.sees_warehouse(Some("BLUE")));
        assert!(!agent.writes_warehouse(Some("BLUE")));
        assert!(caller(Role::Admin, None).writes_warehouse(None));
        assert!(!caller(Role::Storefront, None).sees_warehouse(Some("ACME")));
    }

    #[test]
    fn a_bucket_pays_what_it_holds_and_refills_at_its_rate() {
        let size = BucketSize { size: 1_000, per_second: 100 };
        let mut bucket = Bucket::full(size, 0);
        assert_eq!(bucket.take(size, 600, 0), Take::Paid { left: 400.0 });
        assert_eq!(bucket.take(size, 600, 0), Take::Refused { available: 400.0, retry_after_ms: 2_000 });
        assert_eq!(bucket.take(size, 600, 2_000), Take::Paid { left: 0.0 });
        // Never above its size, however long it rested.
        assert_eq!(bucket.take(size, 1, 1_000_000), Take::Paid { left: 999.0 });
        assert!(matches!(bucket.take(size, 5_000, 1_000_000), Take::Refused { retry_after_ms: i64::MAX, .. }));
    }

    #[test]
    fn actors_round_trip_through_their_labels() {
        for actor in [Actor::Key { name: "desk: anna".into(), role: Role::Agent }, Actor::Gateway, Actor::Operator] {
            assert_eq!(Actor::from_label(&actor.label()), actor);
        }
    }
}
