//! The short link to an agent's page (seed 004 claims 1, 4, 5): `/a/CODE`, bound to
//! exactly one (agent, customer phone) pair.
//!
//! The code is a keyed MAC: HMAC-SHA256 under the server's secret over the agent's id
//! and the phone number (E.164), truncated to [`CODE_BYTES`] bytes (96 bits) and
//! written in URL-safe base64 without padding ([`CODE_LEN`] characters). So:
//! - the same pair always gives the same link, and the link is a function of the
//!   pair and the secret alone (changing the secret changes every code);
//! - nobody without the secret can make a valid code for any pair, nor tell from a
//!   code which agent or phone it stands for; guessing one means guessing 96 bits;
//! - two pairs meet on one code only by a 96-bit collision (about 2⁻⁴⁸ after 2⁴⁸
//!   links). The server still stores every code with its pair and refuses a code
//!   that is already another pair's, so even that cannot conflate two customers.
//!
//! The MAC's input is a fixed-width agent id followed by the phone, after a
//! domain-separation label, so no two pairs share an input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of MAC kept in a code.
pub const CODE_BYTES: usize = 12;
/// Characters in a code (URL-safe base64 of [`CODE_BYTES`] bytes).
pub const CODE_LEN: usize = 16;
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

const LABEL: &[u8] = b"frontdesk agent link v1\0";

/// The server's secret for link codes.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// The secret is too short to be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the link secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
pub struct SecretTooShort(pub usize);

impl LinkKey {
    /// A key from the secret's bytes.
    ///
    /// # Errors
    /// [`SecretTooShort`] under [`MIN_SECRET_BYTES`].
    pub fn new(secret: &[u8]) -> Result<Self, SecretTooShort> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(SecretTooShort(secret.len()));
        }
        Ok(Self(secret.to_vec()))
    }

    fn mac(&self, agent: i64, phone: &str) -> Hmac<Sha256> {
        // HMAC takes keys of any length; `new` has already refused short ones.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(LABEL);
        mac.update(&agent.to_be_bytes());
        mac.update(phone.as_bytes());
        mac
    }

    /// The code of the link for `agent` and `phone` (E.164).
    #[must_use]
    pub fn code(&self, agent: i64, phone: &str) -> String {
        let tag = self.mac(agent, phone).finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..CODE_BYTES])
    }

    /// Whether `code` is the code for `agent` and `phone`, compared in constant time.
    #[must_use]
    pub fn verify(&self, code: &str, agent: i64, phone: &str) -> bool {
        let Some(tag) = decode(code) else {
            return false;
        };
        self.mac(agent, phone).verify_truncated_left(&tag).is_ok()
    }
}

/// Whether `s` has the shape of a code (length and alphabet), before any lookup.
#[must_use]
pub fn well_formed(s: &str) -> bool {
    s.len() == CODE_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn decode(code: &str) -> Option<[u8; CODE_BYTES]> {
    if !well_formed(code) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(code).ok()?;
    bytes.try_into().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn key(seed: u8) -> LinkKey {
        LinkKey::new(&[seed; 32]).unwrap()
    }

    #[test]
    fn the_code_is_a_function_of_the_pair_and_the_secret() {
        let k = key(1);
        let a = k.code(7, "+447700900123");
        assert_eq!(a, k.code(7, "+447700900123"), "same pair, same code");
        assert_eq!(a, key(1).code(7, "+447700900123"), "same secret, same code");
        assert_eq!(a.len(), CODE_LEN);
        assert!(well_formed(&a), "{a}");
        assert_ne!(a, k.code(8, "+447700900123"), "another agent");
        assert_ne!(a, k.code(7, "+447700900124"), "another phone");
        assert_ne!(a, key(2).code(7, "+447700900123"), "another secret");
    }

    #[test]
    fn a_code_verifies_for_its_pair_only() {
        let k = key(3);
        let code = k.code(42, "+8613800138000");
        assert!(k.verify(&code, 42, "+8613800138000"));
        assert!(!k.verify(&code, 43, "+8613800138000"));
        assert!(!k.verify(&code, 42, "+8613800138001"));
        assert!(!key(4).verify(&code, 42, "+8613800138000"));
        // One character changed.
        let mut tampered: Vec<char> = code.chars().collect();
        tampered[5] = if tampered[5] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        assert!(!k.verify(&tampered, 42, "+8613800138000"));
        for bad in ["", "short", "!!!!!!!!!!!!!!!!", &format!("{code}A")] {
            assert!(!k.verify(bad, 42, "+8613800138000"), "{bad:?}");
        }
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert_eq!(LinkKey::new(&[0; 15]).unwrap_err(), SecretTooShort(15));
        assert!(LinkKey::new(&[0; 16]).is_ok());
        assert_eq!(
            format!("{:?}", key(9)),
            "LinkKey(..)",
            "the secret never prints"
        );
    }

    #[test]
    fn inputs_do_not_run_into_each_other() {
        // Without the fixed-width agent id, (1, "23…") and (12, "3…") could share
        // an input.
        let k = key(5);
        assert_ne!(k.code(1, "+23456789"), k.code(12, "+3456789"));
    }

    /// 100 000 random (agent, phone) pairs give 100 000 different codes.
    #[test]
    fn no_collisions_among_a_hundred_thousand_random_pairs() {
        let k = key(6);
        // A small deterministic generator (xorshift) keeps the test reproducible.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut seen: HashMap<String, (i64, String)> = HashMap::with_capacity(100_000);
        let mut pairs = std::collections::HashSet::with_capacity(100_000);
        while pairs.len() < 100_000 {
            let agent = i64::try_from(next() % 5_000).unwrap() + 1;
            let phone = format!("+1{:010}", next() % 10_000_000_000);
            if !pairs.insert((agent, phone.clone())) {
                continue;
            }
            let code = k.code(agent, &phone);
            if let Some(other) = seen.insert(code.clone(), (agent, phone.clone())) {
                panic!("{code} for both {other:?} and {:?}", (agent, phone));
            }
        }
        assert_eq!(seen.len(), 100_000);
    }
}
