//! The EC loader: a PKCS#8 P-256 or P-384 key into an ES256/ES384 signer,
//! its public point as JWK `x`/`y`, and the decoding key.
//!
//! Not here: telling the curve from the DER (`pkcs8`), or ring's algorithm
//! tables and the point layout (crypto, shared with the jsonwebtoken
//! provider).

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair};

use super::load::Loaded;
use super::{file_err, jwk, rejected, KeyError};
use crate::crypto::{ec_point_xy, ecdsa_signing, Signer};

/// Loads an EC key whose curve `pkcs8` found to match `alg` (ES256/ES384).
pub(super) fn load(der: &[u8], alg: Algorithm, path: &Path) -> Result<Loaded, KeyError> {
    let (signing, crv) = match (ecdsa_signing(alg), alg) {
        (Some(signing), Algorithm::ES256) => (signing, "P-256"),
        (Some(signing), Algorithm::ES384) => (signing, "P-384"),
        _ => return Err(file_err(path, format!("{alg:?} is not an EC algorithm"))),
    };
    let pair = EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
        .map_err(|e| rejected(path, "EC", e))?;
    let point = pair.public_key().as_ref().to_vec();
    let (x, y) = ec_point_xy(&point)
        .ok_or_else(|| file_err(path, "EC public point is not in uncompressed form"))?;
    Ok(Loaded {
        members: jwk::ec(crv, x, y),
        decoding: DecodingKey::from_ec_der(&point),
        signer: Signer::ecdsa(alg, pair),
    })
}
