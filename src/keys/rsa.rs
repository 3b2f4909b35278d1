//! The RSA loader: a PKCS#8 `rsaEncryption` key of at least 2048 bits into
//! an RS256 or PS256 signer (PS256 when the file is marked so, docs/http-api.md),
//! its JWK `n`/`e`, and the decoding key.
//!
//! Not here: reading the modulus length from the DER (`pkcs8`), reading the
//! marker line (`pem`), or making RSA keys (`generate`).

use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey};
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents};

use super::load::Loaded;
use super::{file_err, jwk, rejected, KeyError};
use crate::crypto::Signer;

/// docs/http-api.md: RSA keys sign with at least 2048 bits.
const MIN_BITS: usize = 2048;

/// Loads an RSA key whose modulus `pkcs8` measured at `modulus_bits`.
pub(super) fn load(
    der: &[u8],
    modulus_bits: usize,
    ps256: bool,
    path: &Path,
) -> Result<Loaded, KeyError> {
    if modulus_bits < MIN_BITS {
        return Err(file_err(
            path,
            format!(
                "RSA key has {modulus_bits} bits; at least {MIN_BITS} are required: \
                 make a new one with `tokenmint keygen --alg RS256`"
            ),
        ));
    }
    let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| rejected(path, "RSA", e))?;
    let RsaPublicKeyComponents { n, e } = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    let alg = if ps256 {
        Algorithm::PS256
    } else {
        Algorithm::RS256
    };
    Ok(Loaded {
        members: jwk::rsa(&n, &e),
        decoding: DecodingKey::from_rsa_raw_components(&n, &e),
        signer: Signer::rsa(alg, pair),
    })
}
