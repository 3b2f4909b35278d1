//! Reads the configuration: the TOML file, then `TOKENMINT_<SECTION>__<KEY>`
//! environment overrides (figment), then validation. The file must exist:
//! figment would silently treat a missing file as empty.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key; to list
//! every typo at once, the merged value is deserialized in rounds, each
//! unknown (or mistyped) key recorded and removed before the next, so that
//! the rest of the file is still validated. Any such key is still a
//! problem: start-up refuses the file.

use std::path::{Path, PathBuf};

use figment::error::Kind;
use figment::providers::{Env, Format, Toml};
use figment::value::Value;
use figment::Figment;

use super::problem::Problem;
use super::raw::RawConfig;
use super::settings::{KeySettings, LoadedConfig, Settings, TlsSettings};
use super::validate::validate;

const ENV_PREFIX: &str = "TOKENMINT_";

/// Why a configuration could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} cannot be read: {reason}")]
    Missing { path: PathBuf, reason: String },
    #[error("{path} has {} problem(s):\n  - {}", .problems.len(), join(.problems, "\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn join(problems: &[Problem], sep: &str) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

impl ConfigError {
    /// Each problem on its own, as `check-config` prints them.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Missing { .. } => vec![self.to_string()],
            ConfigError::Invalid { problems, .. } => {
                problems.iter().map(ToString::to_string).collect()
            }
        }
    }
}

/// Everything known about a file, even a broken one: `check-config` goes on
/// to load the keys and TLS files of sections that are themselves valid.
#[derive(Debug)]
pub struct Report {
    pub source: PathBuf,
    /// `Some` exactly when `problems` is empty.
    pub settings: Option<Settings>,
    /// The `[keys]` section, when it has no problem of its own.
    pub keys: Option<KeySettings>,
    /// `[server.tls]`, when set and the `[server]` section has no problem.
    pub tls: Option<TlsSettings>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Report {
    /// The settings, or every problem.
    pub fn into_loaded(self) -> Result<LoadedConfig, ConfigError> {
        match self.settings {
            Some(settings) if self.problems.is_empty() => Ok(LoadedConfig {
                settings,
                warnings: self.warnings.iter().map(ToString::to_string).collect(),
            }),
            _ => Err(ConfigError::Invalid {
                path: self.source,
                problems: self.problems,
            }),
        }
    }
}

/// `--config`, else `$TOKENMINT_CONFIG`, else `config/tokenmint.toml`.
pub fn default_path(cli: Option<PathBuf>) -> PathBuf {
    cli.or_else(|| std::env::var_os("TOKENMINT_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("config/tokenmint.toml"))
}

/// The file plus environment overrides, validated.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    check(path)?.into_loaded()
}

/// The file alone, ignoring the environment (tests, tools).
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    report(path, Figment::new().merge(Toml::file_exact(path)))?.into_loaded()
}

/// The file plus environment overrides, with every problem and warning;
/// `Err` only when the file cannot be read at all.
pub fn check(path: &Path) -> Result<Report, ConfigError> {
    let env = Env::prefixed(ENV_PREFIX)
        .filter(|key| is_configuration(key.as_str()))
        .split("__");
    report(
        path,
        Figment::new().merge(Toml::file_exact(path)).merge(env),
    )
}

/// Which `TOKENMINT_*` variables (prefix stripped) are configuration.
/// `TOKENMINT_CONFIG` is the path of the file, not a key. Kubernetes service
/// links for a Service named `tokenmint…` (SPEC §2) are not either:
/// `…_SERVICE_HOST`, `…_SERVICE_PORT…`, `…_PORT` and `…_PORT_<n>_<proto>…`,
/// none with the `__` every nested key has.
fn is_configuration(key: &str) -> bool {
    !(key.eq_ignore_ascii_case("config") || is_service_link(key))
}

fn is_service_link(key: &str) -> bool {
    if key.contains("__") {
        return false;
    }
    let segs: Vec<&str> = key.split('_').collect();
    let n = segs.len();
    let is = |i: usize, word: &str| segs.get(i).is_some_and(|s| s.eq_ignore_ascii_case(word));
    let any = |i: usize, words: &[&str]| words.iter().any(|w| is(i, w));
    let digits = |i: usize| {
        segs.get(i)
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let service =
        (1..n).any(|i| is(i - 1, "service") && (is(i, "port") || (is(i, "host") && i == n - 1)));
    let port = is(n - 1, "port");
    let port_proto = (0..n).any(|i| {
        is(i, "port")
            && digits(i + 1)
            && any(i + 2, &["tcp", "udp", "sctp"])
            && (n == i + 3 || (n == i + 4 && any(i + 3, &["addr", "port", "proto"])))
    });
    service || port || port_proto
}

fn report(path: &Path, figment: Figment) -> Result<Report, ConfigError> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(ConfigError::Missing {
            path: path.to_path_buf(),
            reason: e.to_string(),
        });
    }
    let (raw, mut problems) = extract(&figment);
    let Some(raw) = raw else {
        return Ok(Report {
            source: path.to_path_buf(),
            settings: None,
            keys: None,
            tls: None,
            problems,
            warnings: Vec::new(),
        });
    };
    let validated = validate(raw, path);
    let clean = problems.is_empty();
    problems.extend(validated.findings.problems);
    Ok(Report {
        source: path.to_path_buf(),
        settings: validated.settings.filter(|_| clean),
        keys: validated.keys,
        tls: validated.tls,
        problems,
        warnings: validated.findings.warnings,
    })
}

/// At most this many unknown or mistyped keys are listed.
const MAX_ROUNDS: usize = 64;

/// The raw configuration and the keys that had to be dropped to get it
/// (each a problem), or `None` when nothing usable is left.
fn extract(figment: &Figment) -> (Option<RawConfig>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut value = match figment.find_value("") {
        Ok(value) => value,
        Err(e) => {
            problems.extend(e.into_iter().map(|e| describe(figment, &e)));
            return (None, problems);
        }
    };
    for _ in 0..MAX_ROUNDS {
        match value.deserialize::<RawConfig>() {
            Ok(raw) => return (Some(raw), problems),
            Err(e) => {
                problems.push(describe(figment, &e));
                let removable = !matches!(e.kind, Kind::MissingField(_));
                if !removable || !remove(&mut value, &e.path) {
                    return (None, problems);
                }
            }
        }
    }
    (None, problems)
}

/// Removes the value at `path` from dictionaries (never from an array,
/// which would renumber the entries that later messages name).
fn remove(value: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut at = value;
    for seg in parents {
        at = match at {
            Value::Dict(_, dict) => match dict.get_mut(seg) {
                Some(v) => v,
                None => return false,
            },
            Value::Array(_, items) => {
                match seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(v) => v,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match at {
        Value::Dict(_, dict) => dict.remove(last).is_some(),
        _ => false,
    }
}

/// `clients.1.token_ttl` → `clients[1].token_ttl`, as the TOML file reads.
fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// The environment variable that sets `path`: `TOKENMINT_SERVER__WORKERS`.
fn env_var(path: &[String]) -> String {
    let keys: Vec<String> = path.iter().map(|k| k.to_ascii_uppercase()).collect();
    format!("{ENV_PREFIX}{}", keys.join("__"))
}

/// A figment error as a problem: the key as the file spells it, figment's
/// reason, and, when the value came from the environment, the variable.
fn describe(figment: &Figment, e: &figment::Error) -> Problem {
    let mut path = e.path.clone();
    let message = match &e.kind {
        Kind::UnknownField(_, expected) => format!(
            "unknown key (a typo?); the keys here are: {}",
            expected.join(", ")
        ),
        Kind::MissingField(field) => {
            path.push(field.to_string());
            "is required".to_string()
        }
        kind => kind.to_string(),
    };
    // Metadata is looked up by the dictionary part of the path: figment's
    // paths into arrays are not lookup keys.
    let lookup: Vec<&str> = path
        .iter()
        .take_while(|seg| seg.parse::<usize>().is_err())
        .map(String::as_str)
        .collect();
    let metadata = figment
        .find_metadata(&lookup.join("."))
        .filter(|_| !lookup.is_empty())
        .or(e.metadata.as_ref());
    let from_env = metadata.is_some_and(|m| m.source.is_none() && m.name.contains("environment"));
    let source = if from_env {
        format!(" (from environment variable {})", env_var(&path))
    } else {
        String::new()
    };
    Problem::new(key_path(&path), format!("{message}{source}"))
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;
    use figment::Jail;

    const MINIMAL: &str = r#"
        issuer = "https://auth.example.com"
        [tokens]
        audience = ["https://api.example.com"]
        [[clients]]
        id = "svc"
        secret = "dev-secret"
        scopes = ["a", "b"]
    "#;

    #[test]
    fn the_file_sets_values_and_the_environment_overrides_them() {
        Jail::expect_with(|jail| {
            jail.create_file("tm.toml", MINIMAL)?;
            jail.set_env("TOKENMINT_SERVER__LISTEN", "127.0.0.1:8080");
            jail.set_env("TOKENMINT_TOKENS__MAX_TTL", "600");
            jail.set_env("TOKENMINT_CONFIG", "tm.toml");
            let loaded = load(Path::new("tm.toml")).map_err(|e| e.to_string())?;
            assert_eq!(loaded.settings.server.listen, "127.0.0.1:8080");
            assert_eq!(loaded.settings.tokens.max_ttl, 600);
            // default_ttl 3600 was clamped to max_ttl, with a warning
            assert_eq!(loaded.settings.tokens.default_ttl, 600);
            assert!(loaded.warnings.iter().any(|w| w.contains("max_ttl")));
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_key_and_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "tm.toml",
                &format!("{MINIMAL}\n[server]\nlisten_typo = 1\n"),
            )?;
            let err = load_file(Path::new("tm.toml")).unwrap_err().to_string();
            assert!(err.contains("listen_typo"), "{err}");
            assert!(err.contains("tm.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn duplicate_client_ids_name_both_entries() {
        Jail::expect_with(|jail| {
            let dup = "[[clients]]\nid = \"svc\"\nsecret = \"x\"\n";
            jail.create_file("tm.toml", &format!("{MINIMAL}\n{dup}"))?;
            let err = load_file(Path::new("tm.toml")).unwrap_err().to_string();
            assert!(
                err.contains("clients[0]") && err.contains("clients[1]"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = load_file(Path::new("/nonexistent/tokenmint.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/tokenmint.toml"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_key_and_never_the_secret() {
        Jail::expect_with(|jail| {
            let bad = MINIMAL.replace(
                "secret = \"dev-secret\"",
                "secret_hash = \"hunter2-not-a-hash\"",
            );
            jail.create_file("tm.toml", &bad)?;
            let err = load_file(Path::new("tm.toml")).unwrap_err().to_string();
            assert!(err.contains("secret_hash"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_environment_value_names_the_variable_that_set_it() {
        Jail::expect_with(|jail| {
            jail.create_file("tm.toml", MINIMAL)?;
            jail.set_env("TOKENMINT_SERVER__WORKERS", "many");
            let err = load(Path::new("tm.toml")).unwrap_err().to_string();
            assert!(err.contains("TOKENMINT_SERVER__WORKERS"), "{err}");
            assert!(
                err.contains("server.workers") && err.contains("tm.toml"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn kubernetes_service_link_variables_are_not_configuration() {
        Jail::expect_with(|jail| {
            jail.create_file("tm.toml", MINIMAL)?;
            for (name, value) in [
                ("TOKENMINT_PORT", "tcp://10.0.0.1:9443"),
                ("TOKENMINT_PORT_9443_TCP", "tcp://10.0.0.1:9443"),
                ("TOKENMINT_PORT_9443_TCP_ADDR", "10.0.0.1"),
                ("TOKENMINT_PORT_9443_TCP_PORT", "9443"),
                ("TOKENMINT_PORT_9443_TCP_PROTO", "tcp"),
                ("TOKENMINT_SERVICE_HOST", "10.0.0.1"),
                ("TOKENMINT_SERVICE_PORT", "9443"),
                ("TOKENMINT_SERVICE_PORT_HTTPS", "9443"),
                ("TOKENMINT_ADMIN_SERVICE_HOST", "10.0.0.2"),
                ("TOKENMINT_ADMIN_PORT", "tcp://10.0.0.2:9464"),
                ("TOKENMINT_ADMIN_PORT_9464_UDP_ADDR", "10.0.0.2"),
            ] {
                jail.set_env(name, value);
            }
            // A real top-level key without `__` still comes from the environment.
            jail.set_env("TOKENMINT_ISSUER", "https://env.example.com");
            let loaded = load(Path::new("tm.toml")).map_err(|e| e.to_string())?;
            assert_eq!(loaded.settings.issuer, "https://env.example.com");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_variable_that_is_no_service_link_is_still_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("tm.toml", MINIMAL)?;
            jail.set_env("TOKENMINT_ISUER", "https://typo.example.com");
            let err = load(Path::new("tm.toml")).unwrap_err().to_string();
            assert!(err.contains("isuer"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn two_unknown_keys_are_both_listed_with_the_other_problems() {
        Jail::expect_with(|jail| {
            let text = format!(
                "{MINIMAL}\ntypo_one = 1\n[server]\nlisten_typo = 1\n[tokens.extra]\n[throttle]\ntrusted_proxies = [\"x\"]\n"
            );
            jail.create_file(
                "tm.toml",
                &text.replace("[tokens]\n", "[tokens]\nmax_ttl = 0\n"),
            )?;
            let err = load_file(Path::new("tm.toml")).unwrap_err().to_string();
            for expected in [
                "typo_one",
                "listen_typo",
                "tokens.extra",
                "tokens.max_ttl",
                "trusted_proxies[0]",
            ] {
                assert!(err.contains(expected), "missing {expected}: {err}");
            }
            Ok(())
        });
    }
}
