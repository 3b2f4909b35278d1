//! The client secret hash strings (docs/configuration.md), PHC-style with standard base64
//! without padding; hashing, parsing and verifying through ring, nothing
//! about which client owns a hash.
//!
//! - `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA256, for
//!   secrets a person chose (`hash-secret`), where stretching slows a guesser.
//! - `$sha256$<hash>`: one SHA-256, for random secrets of at least 256 bits
//!   (`new-client`). Nobody can guess such a secret, so stretching would buy
//!   no safety, only a lever for making the server burn CPU.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::pbkdf2;

use crate::crypto::{ct_eq, sha256};

/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Below this a hash is accepted with a warning.
pub const WEAK_ITERATIONS: u32 = 100_000;
const PBKDF2_PREFIX: &str = "$pbkdf2-sha256$i=";
const SHA256_PREFIX: &str = "$sha256$";
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// A parsed secret hash. `Debug` shows the kind and cost only.
#[derive(Clone)]
pub enum SecretHash {
    Pbkdf2 {
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Sha256([u8; HASH_LEN]),
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pbkdf2 { iterations, .. } => f
                .debug_struct("Pbkdf2")
                .field("iterations", iterations)
                .finish_non_exhaustive(),
            Self::Sha256(_) => f.write_str("Sha256(..)"),
        }
    }
}

/// The string form, as `parse` reads it.
impl std::fmt::Display for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => write!(
                f,
                "{PBKDF2_PREFIX}{iterations}${}${}",
                STANDARD_NO_PAD.encode(salt),
                STANDARD_NO_PAD.encode(hash)
            ),
            Self::Sha256(hash) => write!(f, "{SHA256_PREFIX}{}", STANDARD_NO_PAD.encode(hash)),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashFormatError {
    #[error("not a tokenmint secret hash: expected `$sha256$<hash>` as printed by `tokenmint new-client` or `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>` as printed by `tokenmint hash-secret`")]
    Format,
    #[error("iteration count must be a number from 1000 to 10000000")]
    Iterations,
    #[error("salt or hash is not valid base64 (standard alphabet, no padding)")]
    Base64,
    #[error("salt must be at least 8 bytes and the hash exactly 32 bytes")]
    Length,
}

impl SecretHash {
    pub fn parse(s: &str) -> Result<Self, HashFormatError> {
        if let Some(hash) = s.strip_prefix(SHA256_PREFIX) {
            let hash = STANDARD_NO_PAD
                .decode(hash)
                .map_err(|_| HashFormatError::Base64)?;
            return Ok(Self::Sha256(
                hash.try_into().map_err(|_| HashFormatError::Length)?,
            ));
        }
        let rest = s
            .strip_prefix(PBKDF2_PREFIX)
            .ok_or(HashFormatError::Format)?;
        let mut parts = rest.split('$');
        let (Some(i), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HashFormatError::Format);
        };
        let iterations: u32 = i.parse().map_err(|_| HashFormatError::Iterations)?;
        if !(1000..=10_000_000).contains(&iterations) {
            return Err(HashFormatError::Iterations);
        }
        let salt = STANDARD_NO_PAD
            .decode(salt)
            .map_err(|_| HashFormatError::Base64)?;
        let hash = STANDARD_NO_PAD
            .decode(hash)
            .map_err(|_| HashFormatError::Base64)?;
        if salt.len() < 8 || hash.len() != HASH_LEN {
            return Err(HashFormatError::Length);
        }
        Ok(Self::Pbkdf2 {
            iterations: NonZeroU32::new(iterations).ok_or(HashFormatError::Iterations)?,
            salt,
            hash,
        })
    }

    /// PBKDF2 of `secret` with a fresh random salt.
    pub fn derive(secret: &str, iterations: u32) -> Result<Self, ring::error::Unspecified> {
        let iterations = NonZeroU32::new(iterations).ok_or(ring::error::Unspecified)?;
        let mut salt = vec![0u8; SALT_LEN];
        crate::crypto::random_bytes(&mut salt)?;
        let mut hash = vec![0u8; HASH_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            secret.as_bytes(),
            &mut hash,
        );
        Ok(Self::Pbkdf2 {
            iterations,
            salt,
            hash,
        })
    }

    /// The PBKDF2 hash string of `secret`, for the config (`hash-secret`).
    pub fn hash(secret: &str, iterations: u32) -> Result<String, ring::error::Unspecified> {
        Self::derive(secret, iterations).map(|h| h.to_string())
    }

    /// The fast form, for a random secret of at least 256 bits (`new-client`).
    pub fn fast(secret: &str) -> Self {
        Self::Sha256(sha256(secret.as_bytes()))
    }

    /// Constant-time check of `secret` (ring's pbkdf2::verify, or a
    /// constant-time comparison of digests).
    pub fn verify(&self, secret: &str) -> bool {
        match self {
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA256,
                *iterations,
                salt,
                secret.as_bytes(),
                hash,
            )
            .is_ok(),
            Self::Sha256(hash) => ct_eq(&sha256(secret.as_bytes()), hash),
        }
    }

    /// Feeds what identifies this hash (kind, cost, salt, hash) to `out`:
    /// equal for equal hash strings, without formatting one.
    pub fn identify(&self, out: &mut Vec<u8>) {
        match self {
            Self::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => {
                out.push(1);
                out.extend_from_slice(&iterations.get().to_le_bytes());
                out.extend_from_slice(&(salt.len() as u32).to_le_bytes());
                out.extend_from_slice(salt);
                out.extend_from_slice(hash);
            }
            Self::Sha256(hash) => {
                out.push(2);
                out.extend_from_slice(hash);
            }
        }
    }

    /// PBKDF2 iterations; `None` for the fast form.
    pub fn iterations(&self) -> Option<u32> {
        match self {
            Self::Pbkdf2 { iterations, .. } => Some(iterations.get()),
            Self::Sha256(_) => None,
        }
    }

    /// Whether checking it is slow work (PBKDF2), to run off the workers.
    pub fn is_slow(&self) -> bool {
        matches!(self, Self::Pbkdf2 { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let s = SecretHash::hash("s3cret:%+ é", 1000).unwrap();
        let h = SecretHash::parse(&s).unwrap();
        assert!(h.verify("s3cret:%+ é"));
        assert!(!h.verify("s3cret"));
        assert_eq!(h.iterations(), Some(1000));
        assert_eq!(h.to_string(), s, "the string form round-trips");
    }

    #[test]
    fn the_fast_form_verifies_its_secret_only_and_round_trips() {
        let h = SecretHash::fast("random-256-bit-secret");
        let s = h.to_string();
        assert!(s.starts_with("$sha256$"), "{s}");
        let parsed = SecretHash::parse(&s).unwrap();
        assert!(parsed.verify("random-256-bit-secret"));
        assert!(!parsed.verify("random-256-bit-secreT"));
        assert!(!parsed.is_slow());
        assert_eq!(parsed.iterations(), None);
        assert_eq!(
            SecretHash::parse("$sha256$AAAA").err(),
            Some(HashFormatError::Length)
        );
    }

    #[test]
    fn malformed_hash_strings_are_refused() {
        assert_eq!(
            SecretHash::parse("plain").err(),
            Some(HashFormatError::Format)
        );
        assert_eq!(
            SecretHash::parse("$pbkdf2-sha256$i=10$AAAAAAAAAAA$AAAA").err(),
            Some(HashFormatError::Iterations)
        );
        assert_eq!(
            SecretHash::parse("$pbkdf2-sha256$i=1000$!!$AAAA").err(),
            Some(HashFormatError::Base64)
        );
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let h = SecretHash::parse(&SecretHash::hash("x", 1000).unwrap()).unwrap();
        assert!(!format!("{h:?}").contains('$'));
        assert!(!format!("{:?}", SecretHash::fast("x")).contains('$'));
    }
}
