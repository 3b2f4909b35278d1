//! Public keys that verify client assertions (docs/client-authentication.md): a client's own JWK
//! Set (`private_key_jwt`) or a trusted issuer's (workload identity
//! federation). Parsed once, when the config or the fetched document is
//! loaded, into [`PublicKeys`]: each key with the algorithms it may verify
//! (RFC 8725 §3.1: pinned to the key, never taken from a token alone).
//! Symmetric keys, private keys, RSA under 2048 bits and duplicate `kid`s
//! are refused, each with a message that names the key and the fix.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::parse_alg;
use crate::crypto::sha256;

/// The smallest RSA modulus accepted (RFC 7518 §3.3, and ring's floor).
pub const MIN_RSA_BITS: usize = 2048;

/// One verification key.
pub struct PublicKey {
    pub kid: Option<String>,
    /// What it may verify: one algorithm, or for an RSA key without `alg`
    /// both RS256 and PS256.
    pub algs: Vec<Algorithm>,
    pub key: DecodingKey,
    /// RFC 7638 thumbprint (a DPoP proof's `cnf.jkt`; how a self-signed
    /// client certificate's key is matched).
    pub thumbprint: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("algs", &self.algs)
            .finish_non_exhaustive()
    }
}

/// A parsed JWK Set.
#[derive(Debug, Default)]
pub struct PublicKeys {
    keys: Vec<PublicKey>,
}

impl PublicKeys {
    /// An RFC 7517 JWK Set document (`{"keys": [...]}`).
    pub fn from_document(text: &str) -> Result<Self, Vec<String>> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            vec![format!(
                "is not JSON ({e}); expected a JWK Set {{\"keys\": [...]}}"
            )]
        })?;
        match value.get("keys") {
            Some(Value::Array(keys)) => Self::from_jwks(keys),
            _ => Err(vec![
                "is not a JWK Set: expected an object with a \"keys\" array (RFC 7517 §5)".into(),
            ]),
        }
    }

    /// A list of JWKs (the `keys` of a set, or a client's inline `jwks`).
    /// Every problem of every key is listed, each prefixed `keys[i]`.
    pub fn from_jwks(jwks: &[Value]) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut keys: Vec<PublicKey> = Vec::new();
        for (i, jwk) in jwks.iter().enumerate() {
            match jwk
                .as_object()
                .ok_or_else(|| "is not a JSON object".to_string())
            {
                Ok(jwk) => match parse_jwk(jwk) {
                    Ok(key) => {
                        if let Some(kid) = &key.kid {
                            if let Some(j) = keys.iter().position(|k| k.kid.as_deref() == Some(kid))
                            {
                                problems.push(format!("keys[{i}]: kid \"{kid}\" is also the kid of keys[{j}]: kids must be unique in a JWK Set"));
                            }
                        }
                        keys.push(key);
                    }
                    Err(e) => problems.push(format!("keys[{i}]: {e}")),
                },
                Err(e) => problems.push(format!("keys[{i}]: {e}")),
            }
        }
        if jwks.is_empty() {
            problems.push("holds no key".into());
        }
        if problems.is_empty() {
            Ok(Self { keys })
        } else {
            Err(problems)
        }
    }

    /// The keys that may verify a token signed with `alg` naming `kid`: the
    /// key with that `kid` (when it allows `alg`); without a `kid`, every
    /// key of `alg` (docs/client-authentication.md). A `kid` no key has is tried against the
    /// keys of `alg` that have no `kid` themselves (a JWK exported without
    /// one, while the client library names its key): never against a key
    /// whose `kid` differs.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a PublicKey> + 'a {
        let named = kid.is_some_and(|kid| self.has_kid(kid));
        self.keys.iter().filter(move |k| {
            k.algs.contains(&alg)
                && match (kid, named) {
                    (Some(kid), true) => k.kid.as_deref() == Some(kid),
                    (Some(_), false) => k.kid.is_none(),
                    (None, _) => true,
                }
        })
    }

    /// Whether a key has this `kid` (for the unknown-`kid` refetch).
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key has this RFC 7638 thumbprint.
    pub fn has_thumbprint(&self, thumbprint: &str) -> bool {
        self.keys.iter().any(|k| k.thumbprint == thumbprint)
    }

    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.keys.iter().map(|k| k.kid.as_deref())
    }
}

/// A key a DPoP proof carries in its header (RFC 9449 §4.2): checked like
/// a configured key (public, usable, its `alg` pinned to its type), with
/// its RFC 7638 thumbprint, which a bound token names as `cnf.jkt`.
pub fn proof_key(jwk: &Map<String, Value>) -> Result<PublicKey, String> {
    parse_jwk(jwk)
}

/// RFC 7638 over a JWK that [`parse_jwk`] accepted.
fn jwk_thumbprint(jwk: &Map<String, Value>) -> String {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => &["e", "kty", "n"],
    };
    // parse_jwk read each of these as a string of base64url or a known
    // name, so none needs JSON escaping.
    let members: Vec<(&str, &str)> = required
        .iter()
        .map(|name| (*name, jwk.get(*name).and_then(Value::as_str).unwrap_or("")))
        .collect();
    thumbprint(&members)
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no
/// whitespace. `members` must already be sorted and hold base64url/ASCII
/// values, which need no JSON escaping.
pub fn thumbprint<V: AsRef<str>>(members: &[(&str, V)]) -> String {
    let mut canonical = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":\"");
        canonical.push_str(value.as_ref());
        canonical.push('"');
    }
    canonical.push('}');
    URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
}

/// One JWK's members, read with messages that name the key.
struct Members<'a> {
    jwk: &'a Map<String, Value>,
    /// `(kid "…") ` or nothing, to start every message.
    at: String,
}

impl Members<'_> {
    fn text(&self, name: &str) -> Result<Option<&str>, String> {
        match self.jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("\"{name}\" is not a string")),
        }
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        let at = &self.at;
        self.text(name)?
            .ok_or_else(|| format!("{at}has no \"{name}\""))
    }

    fn base64url(&self, name: &str) -> Result<Vec<u8>, String> {
        let at = &self.at;
        URL_SAFE_NO_PAD
            .decode(self.required(name)?.trim_end_matches('='))
            .map_err(|_| format!("{at}\"{name}\" is not base64url"))
    }
}

fn parse_jwk(jwk: &Map<String, Value>) -> Result<PublicKey, String> {
    let mut members = Members {
        jwk,
        at: String::new(),
    };
    let kid = members.text("kid")?.map(str::to_string);
    if let Some(k) = &kid {
        members.at = format!("(kid \"{k}\") ");
    }
    let kty = members.required("kty")?;
    check_use(&members, kty)?;
    let at = &members.at;
    let declared = match members.text("alg")? {
        None => None,
        Some(name) => Some(parse_alg(name).ok_or_else(|| {
            format!("{at}\"alg\" \"{name}\" is not accepted (ES256, ES384, EdDSA, PS256, RS256)")
        })?),
    };
    let (algs, key) = match kty {
        "EC" => ec_key(&members)?,
        "OKP" => okp_key(&members)?,
        "RSA" => rsa_key(&members)?,
        other => {
            return Err(format!(
                "{at}kty \"{other}\" is not accepted (EC, OKP, RSA)"
            ))
        }
    };
    let algs = match declared {
        None => algs,
        Some(alg) if algs.contains(&alg) => vec![alg],
        Some(alg) => {
            return Err(format!(
                "{at}\"alg\" {alg:?} does not match its key type \"{kty}\""
            ))
        }
    };
    Ok(PublicKey {
        kid,
        algs,
        key,
        thumbprint: jwk_thumbprint(jwk),
    })
}

/// What a verification key may be: a public signature key.
fn check_use(members: &Members<'_>, kty: &str) -> Result<(), String> {
    let at = &members.at;
    if let Some(u) = members.text("use")? {
        if u != "sig" {
            return Err(format!("{at}\"use\" is \"{u}\": a key that verifies assertions must be \"sig\" or leave \"use\" out"));
        }
    }
    if let Some(ops) = members.jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o == "verify"));
        if !verifies {
            return Err(format!("{at}\"key_ops\" does not include \"verify\""));
        }
    }
    if kty == "oct" {
        return Err(format!("{at}is a symmetric key (kty \"oct\"): client assertions are verified with public keys only (no HS256); publish the client's public key"));
    }
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| members.jwk.contains_key(*m))
    {
        return Err(format!("{at}holds private key material (\"d\"): list only the public key (e.g. `openssl pkey -pubout`, or drop \"d\")"));
    }
    Ok(())
}

fn ec_key(members: &Members<'_>) -> Result<(Vec<Algorithm>, DecodingKey), String> {
    let at = &members.at;
    let crv = members.required("crv")?;
    let (alg, len) = match crv {
        "P-256" => (Algorithm::ES256, 32),
        "P-384" => (Algorithm::ES384, 48),
        other => {
            return Err(format!(
                "{at}curve \"{other}\" is not accepted (P-256 for ES256, P-384 for ES384)"
            ))
        }
    };
    let (x, y) = (members.base64url("x")?, members.base64url("y")?);
    if x.len() != len || y.len() != len {
        return Err(format!("{at}\"x\" and \"y\" must be {len} bytes for {crv}"));
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    // ring checks the point is on the curve when it verifies.
    Ok((vec![alg], DecodingKey::from_ec_der(&point)))
}

fn okp_key(members: &Members<'_>) -> Result<(Vec<Algorithm>, DecodingKey), String> {
    let at = &members.at;
    let crv = members.required("crv")?;
    if crv != "Ed25519" {
        return Err(format!(
            "{at}curve \"{crv}\" is not accepted (Ed25519 for EdDSA)"
        ));
    }
    let x = members.base64url("x")?;
    if x.len() != 32 {
        return Err(format!("{at}\"x\" must be 32 bytes for Ed25519"));
    }
    Ok((vec![Algorithm::EdDSA], DecodingKey::from_ed_der(&x)))
}

/// An RSA key without `alg` may verify RS256 and PS256.
fn rsa_key(members: &Members<'_>) -> Result<(Vec<Algorithm>, DecodingKey), String> {
    let at = &members.at;
    let n = members.base64url("n")?;
    members.base64url("e")?;
    let bits = n.iter().skip_while(|&&b| b == 0).count() * 8;
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "{at}is an RSA key of {bits} bits: at least {MIN_RSA_BITS} are required"
        ));
    }
    let key = DecodingKey::from_rsa_components(members.required("n")?, members.required("e")?)
        .map_err(|e| format!("{at}is not a usable key ({e})"))?;
    Ok((vec![Algorithm::RS256, Algorithm::PS256], key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(jwks: Value) -> Vec<String> {
        PublicKeys::from_jwks(jwks.as_array().unwrap()).unwrap_err()
    }

    #[test]
    fn symmetric_private_small_and_colliding_keys_are_refused_with_the_fix() {
        let small_n = URL_SAFE_NO_PAD.encode([0xffu8; 128]);
        let p = problems(json!([
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"},
            {"kty": "RSA", "n": small_n, "e": "AQAB", "kid": "r"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"},
        ]));
        assert!(p[0].contains("symmetric"), "{p:?}");
        assert!(p[1].contains("1024 bits"), "{p:?}");
        assert!(p[2].contains("private key"), "{p:?}");
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let p = problems(json!([
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "same"},
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "same"},
        ]));
        assert!(p[0].contains("unique"), "{p:?}");
    }

    #[test]
    fn alg_is_pinned_by_the_key_type_and_an_rsa_key_without_alg_takes_both_paddings() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let keys =
            PublicKeys::from_jwks(&[json!({"kty": "OKP", "crv": "Ed25519", "x": x})]).unwrap();
        assert_eq!(keys.candidates(None, Algorithm::EdDSA).count(), 1);
        assert_eq!(keys.candidates(None, Algorithm::ES256).count(), 0);
        let p = problems(json!([{"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "RS256"}]));
        assert!(p[0].contains("does not match"), "{p:?}");
        let p = problems(json!([{"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "HS256"}]));
        assert!(p[0].contains("not accepted"), "{p:?}");
        let n = URL_SAFE_NO_PAD.encode([0xc1u8; 256]);
        let keys = PublicKeys::from_jwks(&[json!({"kty": "RSA", "n": n, "e": "AQAB"})]).unwrap();
        assert_eq!(keys.candidates(None, Algorithm::RS256).count(), 1);
        assert_eq!(keys.candidates(None, Algorithm::PS256).count(), 1);
    }

    #[test]
    fn a_kid_selects_only_its_key() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let keys = PublicKeys::from_jwks(&[
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "b"}),
        ])
        .unwrap();
        assert_eq!(keys.candidates(Some("b"), Algorithm::EdDSA).count(), 1);
        assert_eq!(keys.candidates(Some("c"), Algorithm::EdDSA).count(), 0);
        let unnamed =
            PublicKeys::from_jwks(&[json!({"kty": "OKP", "crv": "Ed25519", "x": x})]).unwrap();
        assert_eq!(
            unnamed.candidates(Some("laptop"), Algorithm::EdDSA).count(),
            1
        );
        assert!(PublicKeys::from_document("{\"keys\": 1}").is_err());
    }
}
