//! API keys: `sk_sfs_` + 32 hex characters (16 random bytes). Only the SHA-256 is stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "sk_sfs_";
/// Characters of a raw key kept for display (`sk_sfs_c09be`).
pub const DISPLAY_PREFIX_LEN: usize = 12;

/// A new raw key and its hash.
pub struct NewRawKey {
    pub raw: String,
    pub hash: String,
}

impl NewRawKey {
    pub fn display_prefix(&self) -> String {
        self.raw[..DISPLAY_PREFIX_LEN].to_string()
    }
}

pub fn generate() -> NewRawKey {
    let raw = format!("{KEY_PREFIX}{}", random_hex(16));
    let hash = hash_token(&raw);
    NewRawKey { raw, hash }
}

/// Lowercase hex SHA-256 of a presented token, as stored in `api_keys.key_hash`.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `bytes` random bytes from the OS generator, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_format() {
        let key = generate();
        assert_eq!(key.raw.len(), 39);
        assert!(key.raw.starts_with("sk_sfs_"));
        assert!(key.raw[7..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(key.hash, hash_token(&key.raw));
        assert_eq!(key.display_prefix(), key.raw[..12]);
    }
}
