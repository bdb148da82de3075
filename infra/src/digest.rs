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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited_and_the_hash_is_stable() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        // Nothing hashed is SHA-256 of the empty input.
        assert_eq!(fingerprint::<&str>(&[]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
