//! Stateless DPoP nonces (RFC 9449 §8): a nonce is a time step and an
//! HMAC-SHA256 of it under `[dpop] nonce_secret_file`, so every replica
//! with the same file accepts the nonces any of them issued, for the
//! previous, the current and the next step (replica clocks differ a
//! little), and nothing is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;

/// Bytes of the MAC kept: 128 bits.
const MAC_BYTES: usize = 16;
/// Domain separation: this key signs nothing else, but a nonce must never
/// be mistaken for another HMAC of the same step.
const CONTEXT: &[u8] = b"tokenmint dpop nonce\0";

pub struct Nonces {
    key: hmac::Key,
    lifetime: u64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    pub fn new(secret: &[u8], lifetime: u64) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            lifetime: lifetime.max(1),
        }
    }

    fn mac(&self, step: u64) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(CONTEXT);
        ctx.update(&step.to_be_bytes());
        ctx.sign()
    }

    /// The nonce of the step `now` falls in: 32 base64url characters.
    pub fn issue(&self, now: u64) -> String {
        let step = now / self.lifetime;
        let mut raw = [0u8; 8 + MAC_BYTES];
        raw[..8].copy_from_slice(&step.to_be_bytes());
        raw[8..].copy_from_slice(&self.mac(step).as_ref()[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` was issued (by any replica with this secret) in the
    /// previous, the current or the next step.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let mut raw = [0u8; 8 + MAC_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw) {
            Ok(n) if n == raw.len() && nonce.len() == 32 => {}
            _ => return false,
        }
        let mut step = [0u8; 8];
        step.copy_from_slice(&raw[..8]);
        let step = u64::from_be_bytes(step);
        let current = now / self.lifetime;
        if step.abs_diff(current) > 1 {
            return false;
        }
        crate::crypto::ct_eq(&raw[8..], &self.mac(step).as_ref()[..MAC_BYTES])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_holds_for_the_neighbouring_steps_and_any_replica_with_the_secret() {
        let a = Nonces::new(&[7; 32], 60);
        let b = Nonces::new(&[7; 32], 60);
        let n = a.issue(6000);
        assert_eq!(n.len(), 32);
        assert!(b.accepts(&n, 6000));
        assert!(b.accepts(&n, 5999), "the previous step's clock");
        assert!(b.accepts(&n, 6119), "the next step");
        assert!(!b.accepts(&n, 6120), "two steps on: stale");
        assert!(!b.accepts(&n, 5939), "two steps back");
        let other = Nonces::new(&[8; 32], 60);
        assert!(!other.accepts(&n, 6000), "another secret: forged");
        let mut forged = n.clone().into_bytes();
        forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
        assert!(!b.accepts(std::str::from_utf8(&forged).unwrap(), 6000));
        assert!(!b.accepts("", 6000));
        assert!(!b.accepts(&"A".repeat(4000), 6000));
    }
}
