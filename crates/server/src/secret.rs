//! Secrets: argon2id password hashes and random bearer tokens.
//!
//! Tokens are 256 random bits, URL-safe base64, with a prefix that says what they
//! are (`fds_` an API login, `fdc_` a consultation's resume token) so a leaked token
//! is recognisable in a log or a scanner. Only their SHA-256 is stored: a database
//! dump gives no usable token. SHA-256 (not argon2) is right for tokens: they have
//! full entropy, so there is nothing for a slow hash to protect.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// Prefix of API login tokens.
pub const LOGIN_PREFIX: &str = "fds_";
/// Prefix of consultation resume tokens.
pub const RESUME_PREFIX: &str = "fdc_";

/// A new random token with `prefix`.
#[must_use]
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A random password for generated accounts: 16 characters from an unambiguous set.
#[must_use]
pub fn new_password() -> String {
    const SET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    // `gen_range` is uniform; `next_u32() % len` would favour the first letters.
    (0..16)
        .map(|_| SET[rng.gen_range(0..SET.len())] as char)
        .collect()
}

/// The stored form of a token.
#[must_use]
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// SHA-256 of text, hex (menu versions are identified by it).
#[must_use]
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Hashes a password with argon2id and a random salt. CPU-heavy (tens of ms):
/// call from `spawn_blocking` on a server path.
///
/// # Errors
/// Only if argon2 rejects its own parameters.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Checks a password against a stored argon2 hash. CPU-heavy, like [`hash_password`].
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = new_token(RESUME_PREFIX);
        let b = new_token(RESUME_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("fdc_") && a.len() == 4 + 43, "{a}");
        assert_eq!(token_hash(&a).len(), 32);
        assert_eq!(new_password().len(), 16);
    }
}
