//! The client secret hash string: `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>`
//! (PHC-style, standard base64 without padding), PBKDF2-HMAC-SHA256 via ring.
//! Hashing, parsing and verifying; nothing about which client owns a hash.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::pbkdf2;

/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Below this a hash is accepted with a warning.
pub const WEAK_ITERATIONS: u32 = 100_000;
const PREFIX: &str = "$pbkdf2-sha256$i=";
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// A parsed secret hash. `Debug` shows the cost only.
#[derive(Clone)]
pub struct SecretHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The string form, as `parse` reads it.
impl std::fmt::Display for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}${}${}",
            self.iterations,
            STANDARD_NO_PAD.encode(&self.salt),
            STANDARD_NO_PAD.encode(&self.hash)
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashFormatError {
    #[error("not a tokenmint secret hash: expected `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>` as printed by `tokenmint hash-secret`")]
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
        let rest = s.strip_prefix(PREFIX).ok_or(HashFormatError::Format)?;
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
        Ok(Self {
            iterations: NonZeroU32::new(iterations).ok_or(HashFormatError::Iterations)?,
            salt,
            hash,
        })
    }

    /// Hashes `secret` with a fresh random salt.
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
        Ok(Self {
            iterations,
            salt,
            hash,
        })
    }

    /// The hash string of `secret` with a fresh random salt, for the config.
    pub fn hash(secret: &str, iterations: u32) -> Result<String, ring::error::Unspecified> {
        Self::derive(secret, iterations).map(|h| h.to_string())
    }

    /// Constant-time check of `secret` (ring's pbkdf2::verify).
    pub fn verify(&self, secret: &str) -> bool {
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &self.salt,
            secret.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }

    pub fn iterations(&self) -> u32 {
        self.iterations.get()
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
        assert_eq!(h.iterations(), 1000);
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
    }
}
