//! `[client_auth]` and `[[trusted_issuers]]` validation (docs/client-authentication.md), and the
//! key sources clients and issuers share: an inline JWK list or a
//! `jwks_file` parsed here (so `check-config` names a bad key), or a URL
//! fetched at run time (`https`, or `http` on a loopback host for tests).

use std::path::{Path, PathBuf};

use url::{Host, Url};

use super::problem::{Checked, Findings};
use super::raw::{RawClientAuth, RawTrustedIssuer};
use super::settings::{ClientAuthSettings, IssuerSettings, KeySource, RemoteSource};
use crate::jose::PublicKeys;

pub(super) fn client_auth(raw: RawClientAuth) -> Checked<ClientAuthSettings> {
    let mut f = Findings::default();
    if raw.max_assertion_lifetime == 0 {
        f.problem(
            "client_auth.max_assertion_lifetime",
            "= 0: no assertion could be accepted; the default is 3600 (what client libraries sign)",
        );
    }
    let value = ClientAuthSettings {
        strict_audience: raw.strict_audience,
        max_assertion_lifetime: raw.max_assertion_lifetime,
        jwks_min_refresh: raw.jwks_min_refresh,
    };
    Checked::new(value, f)
}

/// Every trusted issuer; `issuer` is tokenmint's own, their default audience.
pub(super) fn trusted_issuers(
    raw: Vec<RawTrustedIssuer>,
    issuer: &str,
) -> Checked<Vec<IssuerSettings>> {
    let mut f = Findings::default();
    let mut out: Vec<IssuerSettings> = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("trusted_issuers[{i}].{field}");
        let says = |m: &str| format!("(issuer \"{}\") {m}", t.name);
        check_identity(&t, &out, issuer, &key, &says, &mut f);
        let keys = issuer_keys(&t, &key, &says, &mut f);
        let max_token_lifetime = t.max_token_lifetime.unwrap_or(86_400);
        if max_token_lifetime == 0 {
            f.problem(
                key("max_token_lifetime"),
                says("= 0: no token could be accepted"),
            );
        }
        let audience = t.audience.unwrap_or_else(|| issuer.to_string());
        if audience.trim().is_empty() {
            f.problem(key("audience"), says("is empty"));
        }
        if let Some(keys) = keys {
            out.push(IssuerSettings {
                name: t.name,
                issuer: t.issuer,
                keys,
                audience,
                max_token_lifetime,
            });
        }
    }
    Checked::new(out, f)
}

/// A name and an `iss` that select exactly one issuer, and never
/// tokenmint's own.
fn check_identity(
    t: &RawTrustedIssuer,
    before: &[IssuerSettings],
    issuer: &str,
    key: &dyn Fn(&str) -> String,
    says: &dyn Fn(&str) -> String,
    f: &mut Findings,
) {
    if t.name.trim().is_empty() {
        f.problem(key("name"), "is empty: clients name the issuer by it");
    }
    if let Some(j) = before.iter().position(|o| o.name == t.name) {
        f.problem(
            key("name"),
            format!("trusted_issuers[{j}] has the same name \"{}\"", t.name),
        );
    }
    if let Some(j) = before.iter().position(|o| o.issuer == t.issuer) {
        f.problem(
            key("issuer"),
            says(&format!(
                "\"{}\" is also trusted_issuers[{j}]'s: an assertion's iss must select one issuer",
                t.issuer
            )),
        );
    }
    if t.issuer == issuer {
        f.problem(
            key("issuer"),
            says("is tokenmint's own issuer: tokens it signs must never authenticate clients"),
        );
    }
    if Url::parse(&t.issuer).is_err() {
        f.problem(
            key("issuer"),
            says(&format!(
                "\"{}\" is not a URL (the iss its tokens carry)",
                t.issuer
            )),
        );
    }
}

/// Where the issuer's keys come from: exactly one of `jwks_file`,
/// `jwks_uri` and `discovery`.
fn issuer_keys(
    t: &RawTrustedIssuer,
    key: &dyn Fn(&str) -> String,
    says: &dyn Fn(&str) -> String,
    f: &mut Findings,
) -> Option<KeySource> {
    if t.discovery && (t.jwks_file.is_some() || t.jwks_uri.is_some()) {
        f.problem(
            key("discovery"),
            says("set only one of jwks_file, jwks_uri and discovery"),
        );
    }
    if t.ca_file.is_some() && t.jwks_uri.is_none() && !t.discovery {
        f.problem(
            key("ca_file"),
            says("is only used with jwks_uri or discovery"),
        );
    }
    if t.discovery {
        return remote(
            &key("discovery"),
            &t.issuer,
            true,
            t.ca_file.as_deref(),
            says,
            f,
        );
    }
    if t.jwks_file.is_none() && t.jwks_uri.is_none() {
        f.problem(
            key("jwks_file"),
            says("no keys: set jwks_file, jwks_uri or discovery = true"),
        );
    }
    key_source(
        key,
        None,
        t.jwks_file.as_deref(),
        t.jwks_uri.as_deref(),
        t.ca_file.as_deref(),
        says,
        f,
    )
}

/// Exactly one of inline `jwks`, `jwks_file` and `jwks_uri`, checked.
/// `key` spells a field's path, `says` prefixes whose it is.
#[allow(clippy::too_many_arguments)]
pub(super) fn key_source(
    key: &dyn Fn(&str) -> String,
    jwks: Option<&[serde_json::Value]>,
    jwks_file: Option<&str>,
    jwks_uri: Option<&str>,
    ca_file: Option<&str>,
    says: &dyn Fn(&str) -> String,
    f: &mut Findings,
) -> Option<KeySource> {
    if let Some(jwks) = jwks {
        return match PublicKeys::from_jwks(jwks) {
            Ok(keys) => Some(KeySource::Static(keys.into())),
            Err(problems) => {
                for p in problems {
                    f.problem(key("jwks"), says(&p));
                }
                None
            }
        };
    }
    if let Some(path) = jwks_file {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                f.problem(key("jwks_file"), says(&format!("cannot read {path}: {e}")));
                return None;
            }
        };
        return match PublicKeys::from_document(&text) {
            Ok(keys) => Some(KeySource::Static(keys.into())),
            Err(problems) => {
                for p in problems {
                    f.problem(key("jwks_file"), says(&format!("{path} {p}")));
                }
                None
            }
        };
    }
    let uri = jwks_uri?;
    remote(&key("jwks_uri"), uri, false, ca_file, says, f)
}

fn remote(
    key: &str,
    url: &str,
    discovery: bool,
    ca_file: Option<&str>,
    says: &dyn Fn(&str) -> String,
    f: &mut Findings,
) -> Option<KeySource> {
    let what = if discovery {
        "the issuer (discovery fetches ISSUER/.well-known/openid-configuration)"
    } else {
        "jwks_uri"
    };
    let Ok(parsed) = Url::parse(url) else {
        f.problem(key, says(&format!("{what} \"{url}\" is not a URL")));
        return None;
    };
    let loopback = match parsed.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        f.problem(
            key,
            says(&format!(
                "{what} \"{url}\" must be https (http only on a loopback address, for tests)"
            )),
        );
        return None;
    }
    let ca_file = ca_file.map(PathBuf::from);
    if let Some(ca) = &ca_file {
        if !Path::new(ca).is_file() {
            f.problem(
                key,
                says(&format!("CA file {} does not exist", ca.display())),
            );
        }
    }
    Some(KeySource::Remote(RemoteSource {
        url: url.to_string(),
        discovery,
        ca_file,
    }))
}
