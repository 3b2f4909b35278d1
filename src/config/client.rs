//! `[[clients]]` validation: unique ids, exactly one kind of secret, scope
//! tokens (RFC 6749 §3.3), audiences, lifetimes, authentication methods and
//! extra claims. Each problem is keyed `clients[i].field` and names the
//! client's id; a secret's value is never echoed.

use super::issuers::key_source;
use super::problem::{Checked, Dropped, Findings};
use super::raw::{RawClient, RawFederated, RawQuota};
use super::settings::{
    AssertionKeys, AuthMethod, ClientSecret, ClientSettings, IssuerSettings, Quota, TokenSettings,
    REGISTERED_CLAIMS,
};
use crate::scope;
use crate::secret_hash::{SecretHash, WEAK_ITERATIONS};
use crate::x509::{Dn, Subject};

/// The hash shipped in `config/production.example.toml`: it parses, so the
/// template checks, but its hash is all zero bytes, which no secret can
/// reach (a PBKDF2 preimage), and it is recognised and warned about.
pub const PLACEHOLDER_SECRET_HASH: &str =
    "$pbkdf2-sha256$i=600000$UkVQTEFDRS1NRS1QTEFDRUhPTERFUg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Every client, duplicates refused by naming both entries. Clients with
/// no audience are one problem, about `tokens.audience`: listed one by one,
/// a missing or misspelt `tokens.audience` reads as a problem per client.
pub(super) fn clients(
    raw: Vec<RawClient>,
    tokens: &TokenSettings,
    issuers: &[IssuerSettings],
    dropped: &Dropped,
) -> Checked<Vec<ClientSettings>> {
    let mut f = Findings::default();
    // id → index of its first entry; a map, as configs may hold 100 000.
    let mut ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // (issuer, subject) → index of the client it names (docs/client-authentication.md: at most one).
    let mut subjects: std::collections::HashMap<(String, String), usize> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut no_audience: Vec<String> = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        if let Some(fed) = &c.federated {
            let pair = (fed.issuer.clone(), fed.subject.clone());
            if let Some(&j) = subjects.get(&pair) {
                f.problem(
                    format!("clients[{i}].federated"),
                    format!("clients[{j}] and clients[{i}] are both bound to issuer \"{}\" subject \"{}\": a workload must name one client", pair.0, pair.1),
                );
            } else {
                subjects.insert(pair, i);
            }
        }
        if let Some(&j) = ids.get(&c.id) {
            f.problem(
                format!("clients[{i}].id"),
                format!(
                    "clients[{j}] and clients[{i}] both have id \"{}\": client ids must be unique",
                    c.id
                ),
            );
            continue;
        }
        ids.insert(c.id.clone(), i);
        let at = Key {
            i,
            id: c.id.clone(),
            typo: dropped.any_in(&format!("clients[{i}]")),
        };
        if c.audience.is_empty() && tokens.audience.is_empty() && !at.typo {
            no_audience.push(c.id.clone());
        }
        if let Some(client) = f.take(client(at, c, tokens, issuers)) {
            out.push(client);
        }
    }
    // A key dropped from [tokens] is most likely `audience`, misspelt.
    if !no_audience.is_empty() && !dropped.any_in("tokens") {
        f.problem("tokens.audience", missing_audience(&no_audience));
    }
    if ids.is_empty() {
        f.warning(
            "clients",
            "none configured: every token request will fail with invalid_client; add one with `tokenmint new-client --id ID`",
        );
    }
    Checked::new(out, f)
}

/// What `tokens.audience` says when clients have none: RFC 9068 §2.2
/// requires `aud`. At most five ids are named, as configs may hold 100 000.
fn missing_audience(ids: &[String]) -> String {
    let named: Vec<String> = ids.iter().take(5).map(|id| format!("\"{id}\"")).collect();
    let more = match ids.len() - named.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let who = match named.as_slice() {
        [one] => format!("client {one} sets no audience of its own"),
        _ => format!(
            "{} clients ({}{more}) set no audience of their own",
            ids.len(),
            named.join(", ")
        ),
    };
    format!(
        "is not set, and {who}: RFC 9068 requires aud in every token; set \
         tokens.audience = [\"https://api.example.com\"] (the resource server's URL), or an \
         audience in each such client"
    )
}

/// One client. The value is built even when a field is wrong, so that every
/// field is checked.
fn client(
    at: Key,
    c: RawClient,
    tokens: &TokenSettings,
    issuers: &[IssuerSettings],
) -> Checked<ClientSettings> {
    let mut f = Findings::default();
    let auth_methods = auth_methods(&at, c.auth_methods.clone(), &mut f);
    let assertion_keys = assertion_keys(&at, &c, &auth_methods, issuers, &mut f);
    if c.id.is_empty() || c.id.chars().any(char::is_control) {
        f.problem(
            at.key("id"),
            "must be non-empty and without control characters",
        );
    }
    let uses_secret = auth_methods.iter().any(|m| {
        matches!(
            m,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    });
    let subject = subject(&at, &c, &auth_methods, &mut f);
    let secrets = secrets(&at, &c, uses_secret, &mut f);
    let grant_types = c
        .grant_types
        .unwrap_or_else(|| vec!["client_credentials".into()]);
    for g in &grant_types {
        if g != "client_credentials" {
            f.problem(at.key("grant_types"), at.says(format!("\"{g}\" is not supported (tokenmint runs client_credentials only; [] is a client that may only introspect)")));
        }
    }
    check_scopes(&at, &c.scopes, &c.default_scopes, &mut f);
    let audience = if c.audience.is_empty() {
        tokens.audience.clone()
    } else {
        c.audience
    };
    if audience.iter().any(|a| a.trim().is_empty()) {
        f.problem(at.key("audience"), at.says("has an empty entry"));
    }
    let token_ttl = token_ttl(&at, c.token_ttl, tokens, &mut f);
    for name in c.claims.keys() {
        if REGISTERED_CLAIMS.contains(&name.as_str()) {
            f.problem(
                at.key(&format!("claims.{name}")),
                at.says("a registered claim tokenmint sets itself; choose another name"),
            );
        }
    }
    let value = ClientSettings {
        id: c.id,
        secrets,
        client_credentials: grant_types.iter().any(|g| g == "client_credentials"),
        scopes: c.scopes,
        default_scopes: c.default_scopes,
        audience,
        token_ttl,
        auth_methods,
        claims: c.claims,
        assertion_keys,
        quota: quota(&at, c.quota, &mut f),
        require_dpop: c.require_dpop,
        dpop_nonce: c.dpop_nonce,
        subject,
        certificate_bound: c.certificate_bound,
    };
    Checked::new(value, f)
}

/// `quota`: at least one cap, each at least 1.
fn quota(at: &Key, raw: Option<RawQuota>, f: &mut Findings) -> Option<Quota> {
    let raw = raw?;
    for (name, cap) in [("per_hour", raw.per_hour), ("per_day", raw.per_day)] {
        if cap == Some(0) {
            f.problem(
                at.key(&format!("quota.{name}")),
                at.says("= 0 would refuse every token: remove the client, or its grant_types"),
            );
        }
    }
    if raw.per_hour.is_none() && raw.per_day.is_none() {
        f.problem(
            at.key("quota"),
            at.says(
                "sets no cap: give per_hour, per_day or both (e.g. quota = { per_hour = 1000 })",
            ),
        );
        return None;
    }
    Some(Quota {
        per_hour: raw.per_hour.unwrap_or(0),
        per_day: raw.per_day.unwrap_or(0),
    })
}

/// A `private_key_jwt` client's keys: exactly one of `jwks`, `jwks_file`,
/// `jwks_uri` and `federated` (docs/client-authentication.md).
fn assertion_keys(
    at: &Key,
    c: &RawClient,
    methods: &[AuthMethod],
    issuers: &[IssuerSettings],
    f: &mut Findings,
) -> Option<AssertionKeys> {
    let given: Vec<&str> = [
        ("jwks", c.jwks.is_some()),
        ("jwks_file", c.jwks_file.is_some()),
        ("jwks_uri", c.jwks_uri.is_some()),
        ("federated", c.federated.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if c.jwks_ca_file.is_some() && c.jwks_uri.is_none() {
        f.problem(
            at.key("jwks_ca_file"),
            at.says("is only used with jwks_uri"),
        );
    }
    let self_signed = methods.contains(&AuthMethod::SelfSignedTlsClientAuth);
    if !methods.contains(&AuthMethod::PrivateKeyJwt) && !self_signed {
        if let Some(first) = given.first() {
            at.unset(
                f,
                first,
                "is set but auth_methods lists neither \"private_key_jwt\" nor \"self_signed_tls_client_auth\": add one, or remove the keys",
            );
        }
        return None;
    }
    if self_signed && c.federated.is_some() {
        f.problem(
            at.key("federated"),
            at.says("self_signed_tls_client_auth matches the certificate's key against the client's own keys: give jwks, jwks_file or jwks_uri instead"),
        );
        return None;
    }
    match given.as_slice() {
        [] => {
            let message = if self_signed && !methods.contains(&AuthMethod::PrivateKeyJwt) {
                "uses self_signed_tls_client_auth but has no keys: set one of jwks, jwks_file or jwks_uri (make a block with `tokenmint new-client --id ID --self-signed-cert FILE`)"
            } else {
                "uses private_key_jwt but has no keys: set one of jwks, jwks_file, jwks_uri or federated (make a block with `tokenmint new-client --id ID --jwks FILE`)"
            };
            at.unset(f, "jwks", message);
            return None;
        }
        [_] => {}
        many => {
            f.problem(
                at.key(many[1]),
                at.says(format!("set only one of {}", many.join(", "))),
            );
            return None;
        }
    }
    if let Some(fed) = &c.federated {
        return federated(at, fed, issuers, f);
    }
    let key = |field: &str| at.key(field);
    key_source(
        &key,
        c.jwks.as_deref(),
        c.jwks_file.as_deref(),
        c.jwks_uri.as_deref(),
        c.jwks_ca_file.as_deref(),
        &|m| at.says(m),
        f,
    )
    .map(AssertionKeys::Own)
}

/// A federated client: bound to a trusted issuer, by name, and a subject.
fn federated(
    at: &Key,
    fed: &RawFederated,
    issuers: &[IssuerSettings],
    f: &mut Findings,
) -> Option<AssertionKeys> {
    let Some(index) = issuers.iter().position(|t| t.name == fed.issuer) else {
        let names: Vec<&str> = issuers.iter().map(|t| t.name.as_str()).collect();
        f.problem(
            at.key("federated.issuer"),
            at.says(format!(
                "\"{}\" is not the name of a [[trusted_issuers]] entry (configured: {})",
                fed.issuer,
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            )),
        );
        return None;
    };
    if fed.subject.is_empty() {
        f.problem(at.key("federated.subject"), at.says("is empty"));
    }
    Some(AssertionKeys::Federated {
        issuer: index,
        subject: fed.subject.clone(),
    })
}

/// Where a client's problems are: `clients[i].field`, and the id in the
/// message (the key path alone would not tell an operator which client).
struct Key {
    i: usize,
    id: String,
    /// A key of this client was dropped as unknown or mistyped.
    typo: bool,
}

impl Key {
    /// A problem that exists because a key is not set: left out when this
    /// client had a dropped key, most likely that key misspelt, which is
    /// already reported.
    fn unset(&self, f: &mut Findings, field: &str, message: impl AsRef<str>) {
        if !self.typo {
            f.problem(self.key(field), self.says(message));
        }
    }

    fn key(&self, field: &str) -> String {
        format!("clients[{}].{field}", self.i)
    }

    fn says(&self, message: impl AsRef<str>) -> String {
        format!("(client \"{}\") {}", self.id, message.as_ref())
    }
}

/// A `tls_client_auth` client's one subject (RFC 8705 §2.1.2).
fn subject(at: &Key, c: &RawClient, methods: &[AuthMethod], f: &mut Findings) -> Option<Subject> {
    let given: Vec<(&str, &String)> = [
        ("tls_client_auth_subject_dn", &c.tls_client_auth_subject_dn),
        ("tls_client_auth_san_dns", &c.tls_client_auth_san_dns),
        ("tls_client_auth_san_uri", &c.tls_client_auth_san_uri),
        ("tls_client_auth_san_ip", &c.tls_client_auth_san_ip),
        ("tls_client_auth_san_email", &c.tls_client_auth_san_email),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value.as_ref()?)))
    .collect();
    if !methods.contains(&AuthMethod::TlsClientAuth) {
        if let Some((name, _)) = given.first() {
            f.problem(at.key(name), at.says("is set but auth_methods does not list \"tls_client_auth\": add it, or remove the subject"));
        }
        return None;
    }
    let (name, value) = match given.as_slice() {
        [] => {
            at.unset(f, "tls_client_auth_subject_dn", "uses tls_client_auth but names no subject: set exactly one of tls_client_auth_subject_dn (e.g. \"CN=inventory,O=Example\"), tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip or tls_client_auth_san_email");
            return None;
        }
        [one] => *one,
        many => {
            f.problem(
                at.key(many[1].0),
                at.says(format!(
                    "set exactly one subject field, not {} and {}",
                    many[0].0, many[1].0
                )),
            );
            return None;
        }
    };
    let value = value.trim();
    let subject = match name {
        "tls_client_auth_subject_dn" => Dn::parse(value).map(Subject::Dn),
        "tls_client_auth_san_ip" => value
            .parse()
            .map(Subject::Ip)
            .map_err(|_| format!("\"{value}\" is not an IP address")),
        _ if value.is_empty() => Err("is empty".to_string()),
        "tls_client_auth_san_dns" => Ok(Subject::Dns(value.to_string())),
        "tls_client_auth_san_uri" => Ok(Subject::Uri(value.to_string())),
        _ => Ok(Subject::Email(value.to_string())),
    };
    subject
        .map_err(|e| f.problem(at.key(name), at.says(e)))
        .ok()
}

fn secrets(at: &Key, c: &RawClient, uses_secret: bool, f: &mut Findings) -> Vec<ClientSecret> {
    if !uses_secret {
        if c.secret.is_some() || c.secret_hash.is_some() || c.previous_secret_hash.is_some() {
            f.problem(
                at.key("secret_hash"),
                at.says("a secret is set but auth_methods lists no secret method: remove the secret, or add client_secret_basic"),
            );
        }
        return Vec::new();
    }
    let mut secrets = Vec::new();
    let make = format!(
        "`tokenmint new-client --id {}` (a random secret) or `tokenmint hash-secret` (a secret you chose)",
        shell_word(&c.id)
    );
    match (&c.secret, &c.secret_hash) {
        (Some(_), Some(_)) => f.problem(
            at.key("secret"),
            at.says("set either secret_hash or secret, not both"),
        ),
        (None, None) => at.unset(
            f,
            "secret_hash",
            format!("no secret: set secret_hash (make one with {make})"),
        ),
        (Some(plain), None) => {
            if plain.is_empty() {
                f.problem(at.key("secret"), at.says("is empty"));
            }
            f.warning(at.key("secret"), at.says(format!("a plaintext secret, for development only; replace it with a secret_hash from {make}")));
            secrets.push(ClientSecret::Plain(crate::crypto::sha256(plain.as_bytes())));
        }
        (None, Some(_)) => {}
    }
    for (field, value) in [
        ("secret_hash", &c.secret_hash),
        ("previous_secret_hash", &c.previous_secret_hash),
    ] {
        let Some(value) = value else { continue };
        match SecretHash::parse(value.trim()) {
            Ok(h) => {
                if is_placeholder(value) {
                    f.warning(at.key(field), at.says(format!("the template's placeholder, which no secret matches: this client cannot authenticate until you paste the secret_hash printed by {make}")));
                } else if let Some(weak) = h.iterations().filter(|&i| i < WEAK_ITERATIONS) {
                    f.warning(
                        at.key(field),
                        at.says(format!(
                            "uses {weak} PBKDF2 iterations; `tokenmint hash-secret` uses 600000"
                        )),
                    );
                }
                secrets.push(ClientSecret::Hashed(h));
            }
            // The value itself is never echoed: it may be a pasted secret.
            Err(e) => f.problem(at.key(field), at.says(e.to_string())),
        }
    }
    secrets
}

/// The placeholder, or any hash of the same shape whose hash part is all
/// zero bytes: base64 `A`s.
pub fn is_placeholder(secret_hash: &str) -> bool {
    let value = secret_hash.trim();
    value == PLACEHOLDER_SECRET_HASH
        || value
            .rsplit('$')
            .next()
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'A'))
}

/// `id` as one shell word, for commands quoted in messages.
fn shell_word(id: &str) -> String {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c))
    {
        id.to_string()
    } else {
        format!("'{}'", id.replace('\'', "'\\''"))
    }
}

fn check_scopes(at: &Key, scopes: &[String], default_scopes: &[String], f: &mut Findings) {
    for (j, s) in scopes.iter().enumerate() {
        if !scope::is_scope_token(s) {
            f.problem(at.key(&format!("scopes[{j}]")), at.says(format!("\"{s}\" is not a scope token (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\')")));
        }
    }
    for s in default_scopes {
        if !scopes.contains(s) {
            f.problem(
                at.key("default_scopes"),
                at.says(format!("\"{s}\" is not in the client's scopes")),
            );
        }
    }
}

fn token_ttl(at: &Key, configured: Option<u64>, tokens: &TokenSettings, f: &mut Findings) -> u64 {
    let ttl = configured.unwrap_or(tokens.default_ttl);
    if ttl == 0 {
        f.problem(
            at.key("token_ttl"),
            at.says("= 0: must be at least 1 second"),
        );
        ttl
    } else if tokens.max_ttl > 0 && ttl > tokens.max_ttl {
        if configured.is_some() {
            f.warning(
                at.key("token_ttl"),
                at.says(format!(
                    "= {ttl} is above tokens.max_ttl = {}: clamped to {}",
                    tokens.max_ttl, tokens.max_ttl
                )),
            );
        }
        tokens.max_ttl
    } else {
        ttl
    }
}

fn auth_methods(at: &Key, names: Option<Vec<String>>, f: &mut Findings) -> Vec<AuthMethod> {
    let names =
        names.unwrap_or_else(|| vec!["client_secret_basic".into(), "client_secret_post".into()]);
    if names.is_empty() {
        f.problem(
            at.key("auth_methods"),
            at.says("is empty: the client could never authenticate"),
        );
    }
    let mut methods = Vec::new();
    for m in &names {
        match AuthMethod::parse(m) {
            Some(method) => methods.push(method),
            None => f.problem(
                at.key("auth_methods"),
                at.says(format!(
                    "\"{m}\" is not supported (client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth, self_signed_tls_client_auth)"
                )),
            ),
        }
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_placeholder_parses_is_recognised_and_verifies_no_secret() {
        let hash = SecretHash::parse(PLACEHOLDER_SECRET_HASH).unwrap();
        assert!(is_placeholder(PLACEHOLDER_SECRET_HASH));
        for guess in ["", "change-me", "REPLACE-ME", "placeholder"] {
            assert!(!hash.verify(guess));
        }
        let real = SecretHash::hash("change-me", 1000).unwrap();
        assert!(!is_placeholder(&real));
    }

    #[test]
    fn commands_in_messages_quote_ids_that_are_not_one_shell_word() {
        assert_eq!(shell_word("urn:svc:one"), "urn:svc:one");
        assert_eq!(shell_word("space client"), "'space client'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
