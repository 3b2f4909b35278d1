//! The Ed25519 loader: a PKCS#8 Ed25519 key (v1 as openssl and Python's
//! `cryptography` write it, or v2 with the public key) into an EdDSA signer,
//! its JWK `x`, and the decoding key.
//!
//! Not here: telling the key type from the DER (`pkcs8`) or writing keys
//! (`generate`).

use std::path::Path;

use jsonwebtoken::DecodingKey;
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::load::Loaded;
use super::{jwk, rejected, KeyError};
use crate::crypto::Signer;

pub(super) fn load(der: &[u8], path: &Path) -> Result<Loaded, KeyError> {
    // from_pkcs8_maybe_unchecked: openssl and Python's cryptography write
    // PKCS#8 v1 (no public key inside), which from_pkcs8 refuses.
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
        .map_err(|e| rejected(path, "Ed25519", e))?;
    let public = pair.public_key().as_ref().to_vec();
    Ok(Loaded {
        members: jwk::ed25519(&public),
        decoding: DecodingKey::from_ed_der(&public),
        signer: Signer::ed25519(pair),
    })
}
