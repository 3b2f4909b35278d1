//! The ring primitives the rest of tokenmint shares: the per-key [`Signer`]
//! built once per snapshot, the one JOSE → ring ECDSA table
//! ([`ecdsa_signing`]) and EC point split ([`ec_point_xy`]), random bytes,
//! SHA-256 and constant-time comparison; and the ring-backed jsonwebtoken
//! [`CryptoProvider`], used only to verify (introspection, `inspect`, the
//! example resource server).
//!
//! Not here: reading key files into key pairs (keys), PBKDF2 (secret_hash),
//! the verified-secret cache's HMAC (clients) or TLS (tls, rustls' own ring
//! provider).
//!
//! Why our own signer: jsonwebtoken's `encode()` asks its provider for a new
//! signer on every call, which for ring means re-parsing the PKCS#8 key per
//! token (+75 % on ES256, +100 % on EdDSA; see STYLE.md). A [`Signer`] holds the
//! parsed key pair for the life of a snapshot instead.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};

/// A parsed private key, ready to sign JWS signing input many times.
pub struct Signer {
    alg: Algorithm,
    kind: SignerKind,
    rng: SystemRandom,
}

enum SignerKind {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
}

impl std::fmt::Debug for Signer {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn ecdsa(alg: Algorithm, pair: EcdsaKeyPair) -> Self {
        Self::new(alg, SignerKind::Ecdsa(pair))
    }
    pub fn ed25519(pair: Ed25519KeyPair) -> Self {
        Self::new(Algorithm::EdDSA, SignerKind::Ed25519(pair))
    }
    pub fn rsa(alg: Algorithm, pair: RsaKeyPair) -> Self {
        let encoding: &'static dyn sig::RsaEncoding = match alg {
            Algorithm::PS256 => &sig::RSA_PSS_SHA256,
            _ => &sig::RSA_PKCS1_SHA256,
        };
        Self::new(alg, SignerKind::Rsa(pair, encoding))
    }
    fn new(alg: Algorithm, kind: SignerKind) -> Self {
        Self {
            alg,
            kind,
            rng: SystemRandom::new(),
        }
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// Signs `msg` (the JWS signing input) and returns the raw signature.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
        match &self.kind {
            SignerKind::Ecdsa(pair) => Ok(pair.sign(&self.rng, msg)?.as_ref().to_vec()),
            SignerKind::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
            SignerKind::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &self.rng, msg, &mut out)?;
                Ok(out)
            }
        }
    }
}

impl signature::Signer<Vec<u8>> for Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        self.sign(msg).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Signer {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// Fills `buf` from the operating system's CSPRNG (through ring).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), ring::error::Unspecified> {
    SystemRandom::new().fill(buf)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Constant-time equality of two equal-length digests.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    #[allow(deprecated)] // still the ring primitive for this in 0.17
    ring::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Installs the ring-backed provider as jsonwebtoken's process default.
/// jsonwebtoken only offers a process-wide provider; installing is idempotent
/// here (a second call finds ours already in place).
pub fn install_jwt_provider() {
    let _ = RING_PROVIDER.install_default();
}

/// jsonwebtoken's provider over ring, for `decode`. Signing through it is
/// refused (see `refuse_signer`); HMAC is refused outright because
/// tokenmint never issues or accepts HS* tokens (RFC 8725 §2.1). Of the
/// `key_utils` (jsonwebtoken's JWK helpers) only the digest works: JWKs and
/// kids are built in `keys` from the loaded key, never from key bytes
/// through jsonwebtoken.
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: refuse_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        ed_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        compute_digest,
    },
};

/// tokenmint never signs through jsonwebtoken: `encode()` would ask for a new
/// signer, and so re-parse the PKCS#8 key, on every token (STYLE.md, "Known
/// traps"). Tokens are signed by each key's [`Signer`], built once per
/// snapshot (`token::mint`). `CryptoProvider` requires the field, so this
/// one refuses.
fn refuse_signer(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>, JwtError> {
    Err(ErrorKind::Provider(
        "tokenmint does not sign through jsonwebtoken; use the key's Signer".into(),
    )
    .into())
}

/// The ring ECDSA signing algorithm of a JOSE algorithm (ES256: P-256 with
/// SHA-256; ES384: P-384 with SHA-384), in the fixed-length `r || s` form
/// JWS uses (RFC 7518 §3.4).
pub fn ecdsa_signing(alg: Algorithm) -> Option<&'static sig::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

/// Splits an uncompressed SEC1 point (`0x04 || x || y`, what ring's
/// `public_key()` returns) into its coordinates.
pub fn ec_point_xy(point: &[u8]) -> Option<(&[u8], &[u8])> {
    match point.split_first() {
        Some((0x04, xy)) if !xy.is_empty() && xy.len() % 2 == 0 => Some(xy.split_at(xy.len() / 2)),
        _ => None,
    }
}

/// Verifies with ring. The algorithm is the one the caller's `Validation`
/// names (tokenmint's callers take it from the key, never from the token
/// header, RFC 8725 §3.1); jsonwebtoken refuses a token whose header names
/// another.
struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let err = |_| signature::Error::new();
        match (self.alg, self.key.kind()) {
            (Algorithm::RS256 | Algorithm::PS256, DecodingKeyKind::RsaModulusExponent { n, e }) => {
                let params = rsa_params(self.alg);
                sig::RsaPublicKeyComponents { n, e }
                    .verify(params, msg, signature)
                    .map_err(err)
            }
            (alg, DecodingKeyKind::SecretOrDer(bytes)) => {
                let algorithm: &dyn sig::VerificationAlgorithm = match alg {
                    Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                    Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                    Algorithm::EdDSA => &sig::ED25519,
                    Algorithm::RS256 | Algorithm::PS256 => rsa_params(alg),
                    _ => return Err(signature::Error::new()),
                };
                sig::UnparsedPublicKey::new(algorithm, bytes)
                    .verify(msg, signature)
                    .map_err(err)
            }
            _ => Err(signature::Error::new()),
        }
    }
}

fn rsa_params(alg: Algorithm) -> &'static sig::RsaParameters {
    match alg {
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        _ => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, JwtError> {
    use jsonwebtoken::AlgorithmFamily as F;
    let family_ok = matches!(
        (alg, key.family()),
        (Algorithm::ES256 | Algorithm::ES384, F::Ec)
            | (Algorithm::EdDSA, F::Ed)
            | (Algorithm::RS256 | Algorithm::PS256, F::Rsa)
    );
    if !family_ok {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>, JwtError> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(ring::digest::digest(algorithm, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::KeyPair as _;

    #[test]
    fn a_signer_round_trips_through_the_provider_verifier() {
        install_jwt_provider();
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let public = pair.public_key().as_ref().to_vec();
        let signer = Signer::ecdsa(Algorithm::ES256, pair);
        let signature = signature::Signer::try_sign(&signer, b"payload").unwrap();
        let verifier = new_verifier(&Algorithm::ES256, &DecodingKey::from_ec_der(&public)).unwrap();
        assert!(verifier.verify(b"payload", &signature).is_ok());
        assert!(verifier.verify(b"tampered", &signature).is_err());
    }

    #[test]
    fn an_uncompressed_point_splits_into_equal_halves() {
        let point = [4, 1, 2, 3, 4, 5, 6];
        assert_eq!(ec_point_xy(&point), Some((&[1, 2, 3][..], &[4, 5, 6][..])));
        assert_eq!(ec_point_xy(&[2, 1, 2]), None, "compressed");
        assert_eq!(ec_point_xy(&[4, 1, 2, 3]), None, "odd length");
    }

    #[test]
    fn the_provider_refuses_to_sign() {
        let key = EncodingKey::from_ec_der(&[]);
        assert!(refuse_signer(&Algorithm::ES256, &key).is_err());
    }

    #[test]
    fn hmac_is_refused_by_the_provider() {
        let key = DecodingKey::from_secret(b"secret");
        assert!(new_verifier(&Algorithm::HS256, &key).is_err());
    }
}
