//! Stable fingerprints of requests and snapshots (SHA-256, hex). Unlike
//! `std`'s hasher these never change between builds, so they can be stored
//! (idempotency records) and handed to clients (plan tokens).

use sha2::{Digest, Sha256};

/// SHA-256 of the parts, each length-prefixed so `["ab", "c"]` and
/// `["a", "bc"]` differ.
pub fn fingerprint<S: AsRef<[u8]>>(parts: &[S]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        let bytes = part.as_ref();
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hex::encode(hasher.finalize())
}

/// A new secret: `prefix` and 256 random bits from the operating system,
/// in hex. Being random and that long, a secret cannot be guessed, and its
/// hash (below) cannot be reversed by trying candidates.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    format!("{prefix}{}", hex::encode(bytes))
}

/// What is stored of a secret (an API key, an order's access token):
/// SHA-256 under a label of its kind, so one kind's hash never stands for
/// another's.
pub fn secret_hash(kind: &str, secret: &str) -> String {
    fingerprint(&[kind.as_bytes(), secret.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited_and_the_hash_is_stable() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        // Nothing hashed is SHA-256 of the empty input.
        assert_eq!(fingerprint::<&str>(&[]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn secrets_are_fresh_and_their_hashes_depend_on_the_kind() {
        let (a, b) = (new_secret("k_"), new_secret("k_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 + 64);
        assert_ne!(secret_hash("key", &a), secret_hash("token", &a));
    }
}
