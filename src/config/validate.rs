//! `RawConfig` → `Settings`: one validator per section, each returning its
//! value together with the problems and warnings it found, so that every
//! problem of a file is listed at once. Every message names the key, the
//! offending value (never a secret) and the fix. Clients are checked in
//! `client.rs`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use url::{Host, Url};

use super::client::clients;
use super::issuers::{client_auth, trusted_issuers};
use super::problem::{Checked, Dropped, Findings};
use super::raw::{
    LogFormat, RawConfig, RawDpop, RawGrants, RawKeys, RawLog, RawMtls, RawServer, RawStore,
    RawThrottle, RawTokens,
};
use super::settings::{
    ClientSettings, DpopSettings, GrantSettings, KeySettings, MtlsSettings, ServerSettings,
    Settings, StoreSettings, ThrottleSettings, TlsSettings, TokenSettings,
};

/// The result of validating a whole file: the settings when nothing is
/// wrong, and the sections `check-config` can go on to check (keys, TLS
/// files) when those sections themselves are right.
#[derive(Debug)]
pub(super) struct Validated {
    pub settings: Option<Settings>,
    pub keys: Option<KeySettings>,
    pub tls: Option<TlsSettings>,
    pub findings: Findings,
}

/// `dropped`: the sections where `load` dropped an unknown or mistyped key.
pub(super) fn validate(raw: RawConfig, path: &Path, dropped: &Dropped) -> Validated {
    let mut all = Findings::default();
    let jwks_files = jwks_files(&raw);
    let nonce_clients = super::dpop::nonce_clients(&raw.clients);
    let issuer = all.take(issuer(&raw.issuer, &raw.server.listen));
    let server = all.take(server(raw.server, &raw.issuer));
    let keys = all.take(keys(raw.keys));
    let tokens = tokens(raw.tokens);
    let issuers = trusted_issuers(raw.trusted_issuers, &raw.issuer);
    let clients = clients(raw.clients, &tokens.value, &issuers.value, dropped);
    let trusted_issuers = all.take(issuers);
    let client_auth = all.take(client_auth(raw.client_auth));
    let tokens = all.take(tokens);
    let client_credentials = all.take(grants(raw.grants));
    let throttle = all.take(throttle(raw.throttle));
    let log_format = all.take(log(raw.log));
    let clients = all.take(clients);
    let tls = server.as_ref().and_then(|s| s.tls.clone());
    let raw_guards = (raw.store, raw.dpop, raw.mtls);
    let guards = all.take(guards(
        raw_guards,
        &nonce_clients,
        clients.as_deref(),
        tls.is_some(),
    ));
    let settings = match (
        issuer,
        server,
        keys.clone(),
        tokens,
        client_credentials,
        throttle,
        log_format,
        (client_auth, trusted_issuers),
        (clients, guards),
    ) {
        (
            Some(i),
            Some(sv),
            Some(k),
            Some(t),
            Some(g),
            Some(th),
            Some(l),
            (Some(client_auth), Some(trusted_issuers)),
            (Some(c), Some(guards)),
        ) if all.problems.is_empty() => Some(Settings {
            source: path.to_path_buf(),
            issuer: i,
            server: sv,
            keys: k,
            tokens: t,
            client_credentials: g,
            throttle: th,
            log_format: l,
            client_auth,
            trusted_issuers,
            clients: c,
            jwks_files,
            store: guards.store,
            dpop: guards.dpop,
            mtls: guards.mtls,
        }),
        _ => None,
    };
    Validated {
        settings,
        keys,
        tls,
        findings: all,
    }
}

/// Every `jwks_file` of clients and trusted issuers.
fn jwks_files(raw: &RawConfig) -> Vec<PathBuf> {
    raw.clients
        .iter()
        .filter_map(|c| c.jwks_file.as_deref())
        .chain(
            raw.trusted_issuers
                .iter()
                .filter_map(|t| t.jwks_file.as_deref()),
        )
        .map(PathBuf::from)
        .collect()
}

/// `[store]`, `[dpop]` and `[mtls]`: what guards tokens beyond client
/// authentication.
struct Guards {
    store: Option<StoreSettings>,
    dpop: DpopSettings,
    mtls: MtlsSettings,
}

/// The three sections, and what the clients (when valid) need of them.
fn guards(
    (store, dpop, mtls): (Option<RawStore>, RawDpop, RawMtls),
    nonce_clients: &[String],
    clients: Option<&[ClientSettings]>,
    tls: bool,
) -> Checked<Guards> {
    let mut f = Findings::default();
    let ca_file = mtls.ca_file.is_some();
    let store = super::store::store(store);
    let dpop = super::dpop::dpop(dpop, nonce_clients);
    let mtls = super::mtls::mtls(mtls);
    if let Some(clients) = clients {
        f.take(Checked::new(
            (),
            super::mtls::needs(&mtls.value, tls, ca_file, clients),
        ));
    }
    let value = Guards {
        store: store.value.clone(),
        dpop: dpop.value.clone(),
        mtls: mtls.value.clone(),
    };
    f.take(store);
    f.take(dpop);
    f.take(mtls);
    Checked::new(value, f)
}

/// RFC 8414 §2: an absolute `https` (or, for development, `http`) URL with a
/// host and no query or fragment. It is kept exactly as written, since the
/// `iss` claim must compare equal to it, character for character.
pub(super) fn issuer(raw: &str, listen: &str) -> Checked<String> {
    let mut f = Findings::default();
    let issuer = raw.trim().to_string();
    let example = "e.g. \"https://auth.example.com\" (RFC 8414 §2)";
    match Url::parse(&issuer) {
        Err(e) => f.problem(
            "issuer",
            format!("\"{issuer}\" is not a URL ({e}): use an absolute http(s) URL, {example}"),
        ),
        Ok(url) if !matches!(url.scheme(), "https" | "http") => f.problem(
            "issuer",
            format!(
                "\"{issuer}\" has scheme {}: use https (or http for development), {example}",
                url.scheme()
            ),
        ),
        Ok(url) if url.host().is_none_or(|h| h == Host::Domain("")) => {
            f.problem("issuer", format!("\"{issuer}\" has no host: {example}"))
        }
        Ok(url) if url.query().is_some() || url.fragment().is_some() => f.problem(
            "issuer",
            format!(
                "\"{issuer}\" has a query or fragment, which an issuer may not have: {example}"
            ),
        ),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => f.problem(
            "issuer",
            format!("\"{issuer}\" carries user information: drop the `user@` part, {example}"),
        ),
        Ok(url) => loopback_port_warning(&url, listen, &mut f),
    }
    Checked::new(issuer, f)
}

/// A loopback issuer on another port than the listener is a discovery
/// document advertising URLs nothing answers (port 0 is any free port, so
/// nothing can be said then).
fn loopback_port_warning(url: &Url, listen: &str, f: &mut Findings) {
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let listen_port = listen
        .parse::<SocketAddr>()
        .map(|a| a.port())
        .ok()
        .or_else(|| {
            listen
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
        });
    let (Some(issuer_port), Some(listen_port)) = (url.port_or_known_default(), listen_port) else {
        return;
    };
    if loopback && listen_port != 0 && issuer_port != listen_port {
        f.warning(
            "issuer",
            format!(
                "\"{url}\" is a loopback URL on port {issuer_port} but server.listen = \"{listen}\" is on port {listen_port}: \
                 discovery would advertise URLs nothing answers; use port {listen_port} in the issuer (or the URL clients really use)"
            ),
        );
    }
}

pub(super) fn server(raw: RawServer, issuer: &str) -> Checked<ServerSettings> {
    let mut f = Findings::default();
    check_addr("server.listen", &raw.listen, &mut f);
    if let Some(admin) = &raw.admin_listen {
        check_addr("server.admin_listen", admin, &mut f);
        // Port 0 asks for any free port: two of them never collide.
        if admin == &raw.listen && !admin.ends_with(":0") {
            f.problem(
                "server.admin_listen",
                format!("\"{admin}\" must differ from server.listen (or be left out to serve /metrics on the public listener)"),
            );
        }
    }
    let tls = raw.tls.map(|t| {
        for (key, value) in [("server.tls.cert", &t.cert), ("server.tls.key", &t.key)] {
            if value.trim().is_empty() {
                f.problem(key, "is empty: the path of a PEM file");
            }
        }
        TlsSettings {
            cert: PathBuf::from(t.cert),
            key: PathBuf::from(t.key),
        }
    });
    if tls.is_none() && issuer.trim().starts_with("https://") {
        f.warning(
            "server.tls",
            format!("issuer {} is https:// but server.listen serves plain HTTP: fine behind a TLS-terminating proxy, otherwise set [server.tls] cert and key", issuer.trim()),
        );
    }
    if raw.request_timeout == 0 {
        f.problem(
            "server.request_timeout",
            "= 0: must be at least 1 second (the deadline for a whole request; default 10)",
        );
    }
    if raw.max_connections == 0 {
        f.problem(
            "server.max_connections",
            "= 0: must be at least 1 (connections per listener; default 10000)",
        );
    }
    let value = ServerSettings {
        listen: raw.listen,
        admin_listen: raw.admin_listen,
        drain_seconds: raw.drain_seconds,
        request_timeout: std::time::Duration::from_secs(raw.request_timeout),
        max_connections: raw.max_connections,
        workers: raw.workers,
        tls,
    };
    Checked::new(value, f)
}

fn check_addr(key: &str, value: &str, f: &mut Findings) {
    if value
        .to_socket_addrs()
        .map(|mut a| a.next().is_none())
        .unwrap_or(true)
    {
        f.problem(
            key,
            format!("\"{value}\" is not a host:port address, e.g. \"127.0.0.1:9443\""),
        );
    }
}

pub(super) fn keys(raw: RawKeys) -> Checked<KeySettings> {
    let mut f = Findings::default();
    if raw.dir.trim().is_empty() {
        f.problem(
            "keys.dir",
            "is empty: the directory of the signing keys, e.g. \"keys\"",
        );
    }
    if raw.active.as_deref().is_some_and(|a| a.trim().is_empty()) {
        f.problem(
            "keys.active",
            "is empty: set the kid that signs (`tokenmint check-config` lists them) or leave the key out",
        );
    }
    let value = KeySettings {
        dir: PathBuf::from(raw.dir),
        active: raw.active,
        publish_margin: raw.publish_margin,
        generate_if_missing: raw.generate_if_missing,
    };
    Checked::new(value, f)
}

pub(super) fn tokens(mut raw: RawTokens) -> Checked<TokenSettings> {
    let mut f = Findings::default();
    if raw.max_ttl == 0 {
        f.problem("tokens.max_ttl", "= 0: must be at least 1 second");
    }
    if raw.default_ttl == 0 {
        f.problem("tokens.default_ttl", "= 0: must be at least 1 second");
    } else if raw.max_ttl > 0 && raw.default_ttl > raw.max_ttl {
        f.warning(
            "tokens.default_ttl",
            format!(
                "= {} is above tokens.max_ttl = {}: clamped to {}",
                raw.default_ttl, raw.max_ttl, raw.max_ttl
            ),
        );
        raw.default_ttl = raw.max_ttl;
    }
    for (i, aud) in raw.audience.iter().enumerate() {
        if aud.trim().is_empty() {
            f.problem(format!("tokens.audience[{i}]"), "is empty");
        }
    }
    let value = TokenSettings {
        default_ttl: raw.default_ttl,
        max_ttl: raw.max_ttl,
        audience: raw.audience,
        jwks_max_age: raw.jwks_max_age,
    };
    Checked::new(value, f)
}

pub(super) fn grants(raw: RawGrants) -> Checked<GrantSettings> {
    let value = GrantSettings {
        enable: raw.client_credentials.enable,
        scope_policy: raw.client_credentials.scope_policy,
    };
    Checked::new(value, Findings::default())
}

/// `trusted_proxies` entries are addresses or CIDR ranges (a bare address
/// is a /32 or /128).
pub(super) fn throttle(raw: RawThrottle) -> Checked<ThrottleSettings> {
    let mut f = Findings::default();
    let trusted_proxies = networks("throttle.trusted_proxies", &raw.trusted_proxies, &mut f);
    let value = ThrottleSettings {
        failures_per_client: raw.failures_per_client,
        failures_per_address: raw.failures_per_address,
        trusted_proxies,
    };
    Checked::new(value, f)
}

/// Addresses or CIDR ranges, each checked under `key[i]`.
pub(super) fn networks(key: &str, raw: &[String], f: &mut Findings) -> Vec<IpNet> {
    let mut trusted_proxies = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let text = p.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            trusted_proxies.push(IpNet::from(ip));
        } else if let Ok(net) = text.parse::<IpNet>() {
            if net.trunc() != net {
                f.warning(
                    &key,
                    format!("\"{p}\" has host bits set: read as {}", net.trunc()),
                );
            }
            trusted_proxies.push(net.trunc());
        } else {
            f.problem(
                key,
                format!("\"{p}\" is not an IP address or CIDR range, e.g. \"10.0.0.0/8\" or \"192.0.2.1\""),
            );
        }
    }
    trusted_proxies
}

pub(super) fn log(raw: RawLog) -> Checked<LogFormat> {
    Checked::new(raw.format, Findings::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer_problems(issuer_value: &str) -> Vec<String> {
        super::issuer(issuer_value, "127.0.0.1:9443")
            .findings
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn an_issuer_with_a_space_or_an_impossible_port_is_refused() {
        for bad in [
            "http://bad host:99999/",
            "http://example.com:99999",
            "https://",
            "ftp://auth.example.com",
            "https://auth.example.com/?a=b",
            "https://auth.example.com/#x",
            "auth.example.com",
        ] {
            let problems = issuer_problems(bad);
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].starts_with("issuer: "), "{problems:?}");
        }
        for good in [
            "https://auth.example.com",
            "https://auth.example.com/tenant/",
            "http://127.0.0.1:9443",
            "http://[::1]:9443",
        ] {
            assert!(issuer_problems(good).is_empty(), "{good}");
        }
    }

    #[test]
    fn a_loopback_issuer_on_another_port_than_the_listener_is_a_warning() {
        let warned = |issuer: &str, listen: &str| {
            !super::issuer(issuer, listen).findings.warnings.is_empty()
        };
        assert!(warned("http://127.0.0.1:8080", "127.0.0.1:9443"));
        assert!(warned("http://localhost", "0.0.0.0:9443"));
        assert!(warned("https://[::1]:1", "[::1]:9443"));
        assert!(warned("http://127.1.2.3:1", "127.0.0.1:9443"));
        assert!(!warned("http://127.0.0.1:9443", "127.0.0.1:9443"));
        assert!(
            !warned("http://127.0.0.1", "127.0.0.1:0"),
            "port 0: any port"
        );
        assert!(!warned("https://auth.example.com", "127.0.0.1:9443"));
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidr_ranges() {
        let raw = RawThrottle {
            trusted_proxies: vec![
                "10.0.0.0/8".into(),
                "192.0.2.1".into(),
                "2001:db8::/32".into(),
                "::1".into(),
                "10.0.0.0/99".into(),
                "nope".into(),
            ],
            ..RawThrottle::default()
        };
        let checked = throttle(raw);
        let nets: Vec<String> = checked
            .value
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            nets,
            ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "::1/128"]
        );
        let problems = &checked.findings.problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].key, "throttle.trusted_proxies[4]");
        assert_eq!(problems[1].key, "throttle.trusted_proxies[5]");
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(checked.value.trusted_proxies[0].contains(&ip));
    }
}
