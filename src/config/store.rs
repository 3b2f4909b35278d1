//! `[store]` validation: one Redis or one Cluster, the files it names read
//! (the password and the hash key are never printed, the URLs only with
//! their password as `***`), and every problem named by its key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::problem::{Checked, Findings};
use super::raw::RawStore;
use super::settings::{redact_url, StoreNodes, StoreSettings};

/// The shortest `key_file`: 256 bits.
const MIN_KEY_BYTES: usize = 32;

pub(super) fn store(raw: Option<RawStore>) -> Checked<Option<StoreSettings>> {
    let mut f = Findings::default();
    let Some(raw) = raw else {
        return Checked::new(None, f);
    };
    let nodes = nodes(&raw, &mut f);
    let mut files = Vec::new();
    let password = raw.password_file.as_deref().and_then(|path| {
        files.push(PathBuf::from(path));
        let text = read(path, "store.password_file", &mut f)?;
        // A trailing newline (echo, a Kubernetes Secret) is not part of it.
        let password = String::from_utf8_lossy(&text)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        if password.is_empty() {
            f.problem("store.password_file", format!("{path} is empty"));
        }
        Some(password)
    });
    let ca_pem = raw.ca_file.as_deref().and_then(|path| {
        files.push(PathBuf::from(path));
        let pem = read(path, "store.ca_file", &mut f)?;
        if let Err(e) = crate::ca::read(Path::new(path)) {
            f.problem("store.ca_file", format!("{path}: {e}"));
        }
        Some(pem)
    });
    let hash_key = match raw.key_file.as_deref() {
        None => {
            f.problem("store.key_file", "is required with a store: it keys the hashes in the store's key names (an unkeyed hash of an address is reversed in minutes); make one with `head -c 32 /dev/urandom > store-hash.key` and give every replica the same file");
            Vec::new()
        }
        Some(path) => {
            files.push(PathBuf::from(path));
            let key = read(path, "store.key_file", &mut f).unwrap_or_default();
            if !key.is_empty() && key.len() < MIN_KEY_BYTES {
                f.problem("store.key_file", format!("{path} holds {} bytes: at least {MIN_KEY_BYTES} random bytes are needed (`head -c 32 /dev/urandom > {path}`)", key.len()));
            }
            key
        }
    };
    if raw
        .prefix
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        f.problem(
            "store.prefix",
            format!(
                "{:?} has a space or a control character: use something like \"tokenmint:\"",
                raw.prefix
            ),
        );
    }
    if raw.timeout_ms == 0 {
        f.problem(
            "store.timeout_ms",
            "= 0: every store operation would time out; the default is 50",
        );
    }
    let tls = match &nodes {
        Some(StoreNodes::Single(url)) => url.starts_with("rediss://"),
        Some(StoreNodes::Cluster(urls)) => urls.iter().any(|u| u.starts_with("rediss://")),
        None => false,
    };
    if ca_pem.is_some() && !tls {
        f.warning("store.ca_file", "is only used with rediss:// URLs");
    }
    let value = nodes.map(|nodes| StoreSettings {
        nodes,
        password,
        ca_pem,
        prefix: raw.prefix,
        hash_key,
        timeout: Duration::from_millis(raw.timeout_ms),
        on_error: raw.on_error,
        files,
    });
    Checked::new(value, f)
}

/// `url` or `cluster`, exactly one, each a `redis://` or `rediss://` URL.
fn nodes(raw: &RawStore, f: &mut Findings) -> Option<StoreNodes> {
    let nodes = match (&raw.url, &raw.cluster) {
        (Some(_), Some(_)) => {
            f.problem("store.cluster", "set either store.url (one Redis) or store.cluster (the nodes of a Redis Cluster), not both");
            return None;
        }
        (None, None) => {
            f.problem("store.url", "is required: set store.url = \"redis://HOST:6379/0\" (or store.cluster), or remove [store] to keep the limits in each process");
            return None;
        }
        (Some(url), None) => StoreNodes::Single(url.clone()),
        (None, Some(urls)) if urls.is_empty() => {
            f.problem(
                "store.cluster",
                "is empty: list the nodes of the Redis Cluster",
            );
            return None;
        }
        (None, Some(urls)) => StoreNodes::Cluster(urls.clone()),
    };
    let (key, urls): (&str, Vec<&String>) = match &nodes {
        StoreNodes::Single(url) => ("store.url", vec![url]),
        StoreNodes::Cluster(urls) => ("store.cluster", urls.iter().collect()),
    };
    let mut fine = true;
    for url in urls {
        let shown = redact_url(url);
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {}
            Ok(u) => {
                f.problem(
                    key,
                    format!(
                        "{shown} is not a redis:// or rediss:// URL with a host (scheme {})",
                        u.scheme()
                    ),
                );
                fine = false;
            }
            Err(e) => {
                f.problem(
                    key,
                    format!("{shown} is not a URL ({e}): e.g. \"redis://tokenmint-store:6379/0\""),
                );
                fine = false;
            }
        }
    }
    fine.then_some(nodes)
}

fn read(path: &str, key: &str, f: &mut Findings) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            f.problem(key, format!("cannot read {path}: {e}"));
            None
        }
    }
}
