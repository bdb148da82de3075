//! What the gateway derives from its own secret (made once per database,
//! shared by every replica):
//! - the access token of each order, handed to the shopper when it is
//!   placed: a keyed hash of the order's id, so it is checked without being
//!   stored, and the same one is given again when a placement is replayed;
//! - the ids clients see of orders and their parts: the row's number under
//!   a keyed permutation of 64-bit numbers (a four-round Feistel network
//!   whose round function is SHA-256 under the secret), so consecutive rows
//!   get unrelated ids, an id tells nothing of how many there are, and a
//!   guessed one names nothing (about one in 2^64/rows names a row, and
//!   that row is then still fenced by its owner).

use crate::digest::fingerprint;
use crate::store::{Store, StoreError};

use sha2::Digest as _;

const ORDER_TOKEN_PREFIX: &str = "sho_";
/// Four rounds make a Feistel network a pseudorandom permutation.
const ROUNDS: u8 = 4;

/// What a public id names; each kind has its own prefix and its own
/// permutation, so one kind's id is never another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Order,
    Line,
    Shipment,
    Backorder,
    Substitution,
    Event,
    Compensation,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Order => "ord",
            IdKind::Line => "lin",
            IdKind::Shipment => "shp",
            IdKind::Backorder => "bko",
            IdKind::Substitution => "sub",
            IdKind::Event => "evt",
            IdKind::Compensation => "cmp",
        }
    }
}

/// A public id that is not one at all (wrong kind, wrong shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

#[derive(Clone)]
pub struct Secrets {
    key: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self { key: store.gateway_secret("gateway").await? })
    }

    /// The access token of an order.
    pub fn order_token(&self, order_id: i64) -> String {
        let mac = fingerprint(&[self.key.as_bytes(), b"order token", &order_id.to_le_bytes()]);
        format!("{ORDER_TOKEN_PREFIX}{}", &mac[..40])
    }

    /// The id clients see of row `id` of `kind`: `ord_` and 16 hex digits.
    pub fn public_id(&self, kind: IdKind, id: i64) -> String {
        let (mut left, mut right) = ((id as u64 >> 32) as u32, id as u64 as u32);
        for round in 0..ROUNDS {
            (left, right) = (right, left ^ self.round(kind, round, right));
        }
        format!("{}_{:016x}", kind.prefix(), (u64::from(left) << 32) | u64::from(right))
    }

    /// The row a public id names: `Ok(None)` for a well-formed id that
    /// names no row there could be (a guess), `Err` for one of another
    /// kind or shape.
    pub fn row_id(&self, kind: IdKind, public: &str) -> Result<Option<i64>, Malformed> {
        let digits = public.strip_prefix(kind.prefix()).and_then(|rest| rest.strip_prefix('_')).ok_or(Malformed)?;
        if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Malformed);
        }
        let value = u64::from_str_radix(digits, 16).map_err(|_| Malformed)?;
        let (mut left, mut right) = ((value >> 32) as u32, value as u32);
        for round in (0..ROUNDS).rev() {
            (left, right) = (right ^ self.round(kind, round, left), left);
        }
        let id = (u64::from(left) << 32) | u64::from(right);
        Ok(i64::try_from(id).ok().filter(|&id| id > 0))
    }

    fn round(&self, kind: IdKind, round: u8, half: u32) -> u32 {
        let mac = sha2::Sha256::new()
            .chain_update(self.key.as_bytes())
            .chain_update(kind.prefix().as_bytes())
            .chain_update([round])
            .chain_update(half.to_le_bytes())
            .finalize();
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]])
    }

    /// Whether `token` is the order's, compared in time that does not
    /// depend on where they first differ.
    pub fn order_token_matches(&self, order_id: i64, token: &str) -> bool {
        let expected = self.order_token(order_id);
        expected.len() == token.len() && expected.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_its_orders_alone() {
        let secrets = Secrets { key: "k".into() };
        let token = secrets.order_token(7);
        assert!(token.starts_with("sho_") && token.len() == 44);
        assert!(secrets.order_token_matches(7, &token));
        assert!(!secrets.order_token_matches(8, &token));
        assert!(!secrets.order_token_matches(7, &token[..43]));
        assert!(!Secrets { key: "other".into() }.order_token_matches(7, &token));
    }

    #[test]
    fn public_ids_round_trip_and_tell_nothing_of_their_rows() {
        let secrets = Secrets { key: "k".into() };
        let ids: Vec<String> = (1..=1_000).map(|n| secrets.public_id(IdKind::Order, n)).collect();
        for (n, id) in (1..=1_000).zip(&ids) {
            assert_eq!(secrets.row_id(IdKind::Order, id), Ok(Some(n)));
            assert!(id.starts_with("ord_") && id.len() == 20, "{id}");
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Neighbouring rows share no prefix beyond what chance gives.
        let shared = ids.windows(2).filter(|w| w[0][4..8] == w[1][4..8]).count();
        assert!(shared < 5, "{shared}");
        assert_eq!(secrets.row_id(IdKind::Line, &ids[0]), Err(Malformed));
        assert_eq!(secrets.row_id(IdKind::Order, "ord_123"), Err(Malformed));
        assert_eq!(secrets.row_id(IdKind::Order, "1"), Err(Malformed));
        assert_ne!(Secrets { key: "other".into() }.row_id(IdKind::Order, &ids[0]), Ok(Some(1)));
        assert_ne!(secrets.public_id(IdKind::Line, 1), secrets.public_id(IdKind::Order, 1).replace("ord", "lin"));
    }
}
