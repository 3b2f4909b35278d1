//! The JOSE vocabulary tokenmint speaks: the signature algorithms it signs
//! and verifies, by their JOSE names (one table, [`ALGS`]), and public keys
//! parsed from JWKs ([`jwk`]). No I/O and no settings: the configuration,
//! the fetched JWK Sets and `inspect` all parse keys here, so they accept
//! exactly the same keys.

pub mod jwk;

use jsonwebtoken::Algorithm;

pub use jwk::{PublicKey, PublicKeys};

/// Every algorithm tokenmint signs and verifies, with its JOSE name, in
/// the order discovery lists them.
pub const ALGS: [(Algorithm, &str); 5] = [
    (Algorithm::ES256, "ES256"),
    (Algorithm::ES384, "ES384"),
    (Algorithm::EdDSA, "EdDSA"),
    (Algorithm::PS256, "PS256"),
    (Algorithm::RS256, "RS256"),
];

/// The JOSE name of an algorithm, as written in headers, JWKs and
/// discovery.
pub fn alg_name(alg: Algorithm) -> &'static str {
    ALGS.iter()
        .find(|(a, _)| *a == alg)
        .map_or("unsupported", |(_, name)| name)
}

/// An `alg` header or JWK member, if tokenmint accepts it (exact names).
pub fn parse_alg(name: &str) -> Option<Algorithm> {
    ALGS.iter().find(|(_, n)| *n == name).map(|(alg, _)| *alg)
}

/// A name a person typed (`keygen --alg`): any case, and `Ed25519` for
/// EdDSA.
pub fn parse_alg_typed(name: &str) -> Option<Algorithm> {
    if name.eq_ignore_ascii_case("Ed25519") {
        return Some(Algorithm::EdDSA);
    }
    ALGS.iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(alg, _)| *alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_typed_names_are_forgiving() {
        for (alg, name) in ALGS {
            assert_eq!(parse_alg(name), Some(alg));
            assert_eq!(alg_name(alg), name);
            assert_eq!(parse_alg_typed(&name.to_lowercase()), Some(alg));
        }
        assert_eq!(parse_alg("es256"), None);
        assert_eq!(parse_alg("HS256"), None);
        assert_eq!(parse_alg_typed("ed25519"), Some(Algorithm::EdDSA));
    }
}
