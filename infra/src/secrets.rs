//! What the gateway derives from its own secret (made once per database,
//! shared by every replica): the access token of each order, handed to
//! the shopper when it is placed. A token is a keyed hash of the order's
//! id, so it is checked without being stored, and the same one is given
//! again when a placement is replayed.

use crate::digest::fingerprint;
use crate::store::{Store, StoreError};

const ORDER_TOKEN_PREFIX: &str = "sho_";

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
}
