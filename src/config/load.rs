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
use figment::value::{Dict, Value};
use figment::Figment;

use super::problem::{Dropped, Problem};
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
/// links for a Service named `tokenmint…` (docs/configuration.md) are not either:
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
    let Extracted {
        raw,
        mut problems,
        dropped,
    } = extract(&figment);
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
    let validated = validate(raw, path, &dropped);
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

/// What deserializing the merged value in rounds gave.
struct Extracted {
    /// `None` when nothing usable is left.
    raw: Option<RawConfig>,
    problems: Vec<Problem>,
    /// Where keys were dropped, for `validate` to leave their consequences
    /// unreported.
    dropped: Dropped,
}

/// A key removed from the value: where it was, what it held, and the
/// problem that reported it.
struct Removed {
    path: Vec<String>,
    value: Value,
    problem: usize,
    /// Unknown, rather than of the wrong type.
    unknown: bool,
    from_env: bool,
}

impl Removed {
    fn name(&self) -> &str {
        self.path.last().map_or("", String::as_str)
    }

    fn is_in(&self, section: &[String]) -> bool {
        self.path.split_last().is_some_and(|(_, s)| s == section)
    }
}

/// The raw configuration and the keys that had to be dropped to get it
/// (each a problem).
fn extract(figment: &Figment) -> Extracted {
    let mut problems = Vec::new();
    let mut removed: Vec<Removed> = Vec::new();
    let raw = match figment.find_value("") {
        Ok(mut value) => rounds(figment, &mut value, &mut problems, &mut removed),
        Err(e) => {
            problems.extend(e.into_iter().map(|e| describe(figment, &e)));
            None
        }
    };
    let mut dropped = Dropped::default();
    for r in &removed {
        if let Some((_, section)) = r.path.split_last() {
            dropped.insert(key_path(section));
        }
    }
    Extracted {
        raw,
        problems,
        dropped,
    }
}

fn rounds(
    figment: &Figment,
    value: &mut Value,
    problems: &mut Vec<Problem>,
    removed: &mut Vec<Removed>,
) -> Option<RawConfig> {
    for _ in 0..MAX_ROUNDS {
        let e = match value.deserialize::<RawConfig>() {
            Ok(raw) => return Some(raw),
            Err(e) => e,
        };
        if let Kind::MissingField(field) = &e.kind {
            if !missing(figment, value, &e, field, problems, removed) {
                return None;
            }
            continue;
        }
        let problem = problems.len();
        problems.push(describe(figment, &e));
        let taken = remove(value, &e.path)?;
        removed.push(Removed {
            path: e.path.clone(),
            value: taken,
            problem,
            unknown: matches!(e.kind, Kind::UnknownField(..)),
            from_env: from_env(figment, &e, &e.path),
        });
    }
    None
}

/// A required key `field` is missing at `e.path`. When an unknown key is
/// most likely it, its value is used under the right name (the unknown key
/// stays a problem) and `true` lets the rounds go on, so that the rest of
/// the file is still validated: a top-level key written below a
/// `[section]` header, which TOML puts inside that section, or a
/// misspelling of `field` in the same section. Otherwise `field` is
/// reported missing, unless a key of the same section was dropped (most
/// likely `field`, mistyped or misspelt beyond recognition).
fn missing(
    figment: &Figment,
    value: &mut Value,
    e: &figment::Error,
    field: &str,
    problems: &mut Vec<Problem>,
    removed: &[Removed],
) -> bool {
    let top_level = e.path.is_empty();
    let misplaced = removed
        .iter()
        .find(|r| top_level && r.unknown && !r.from_env && r.path.len() > 1 && r.name() == field);
    if let Some(r) = misplaced {
        if insert(value, &e.path, field, &r.value) {
            problems[r.problem] = Problem::new(
                field,
                format!(
                    "is written after the `{}` header, so TOML reads it as `{}`: move it above the first `[section]` header",
                    header(&r.path[..r.path.len() - 1]),
                    key_path(&r.path)
                ),
            );
            return true;
        }
    }
    let misspelt = removed
        .iter()
        .find(|r| r.unknown && r.is_in(&e.path) && closest(r.name(), &[field]).is_some());
    if let Some(r) = misspelt {
        if insert(value, &e.path, field, &r.value) {
            return true;
        }
    }
    if !removed.iter().any(|r| r.is_in(&e.path)) {
        problems.push(describe(figment, e));
    }
    false
}

/// The TOML header that opens `section`: `[server.tls]`, `[[clients]]`.
fn header(section: &[String]) -> String {
    let names: Vec<&str> = section
        .iter()
        .filter(|seg| seg.parse::<usize>().is_err())
        .map(String::as_str)
        .collect();
    let in_array = section.last().is_some_and(|s| s.parse::<usize>().is_ok());
    if in_array {
        format!("[[{}]]", names.join("."))
    } else {
        format!("[{}]", names.join("."))
    }
}

/// Removes the value at `path` from dictionaries (never from an array,
/// which would renumber the entries that later messages name).
fn remove(value: &mut Value, path: &[String]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    dict_at(value, parents)?.remove(last)
}

/// Sets `field` in the dictionary at `section`, unless it is there already.
fn insert(value: &mut Value, section: &[String], field: &str, v: &Value) -> bool {
    match dict_at(value, section) {
        Some(dict) if !dict.contains_key(field) => {
            dict.insert(field.to_string(), v.clone());
            true
        }
        _ => false,
    }
}

/// The dictionary at `path`, through dictionaries and arrays.
fn dict_at<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Dict> {
    let mut at = value;
    for seg in path {
        at = match at {
            Value::Dict(_, dict) => dict.get_mut(seg)?,
            Value::Array(_, items) => seg.parse::<usize>().ok().and_then(|i| items.get_mut(i))?,
            _ => return None,
        };
    }
    match at {
        Value::Dict(_, dict) => Some(dict),
        _ => None,
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
        Kind::UnknownField(name, expected) => {
            let guess = match closest(name, expected) {
                Some(known) => format!("did you mean `{known}`?"),
                None => "a typo?".to_string(),
            };
            format!(
                "unknown key ({guess}); the keys here are: {}",
                expected.join(", ")
            )
        }
        Kind::MissingField(field) => {
            path.push(field.to_string());
            "is required".to_string()
        }
        kind => kind.to_string(),
    };
    let source = if from_env(figment, e, &path) {
        format!(" (from environment variable {})", env_var(&path))
    } else {
        String::new()
    };
    Problem::new(key_path(&path), format!("{message}{source}"))
}

/// Whether the value at `path` (of error `e`) came from a `TOKENMINT_`
/// variable rather than the file.
fn from_env(figment: &Figment, e: &figment::Error, path: &[String]) -> bool {
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
    metadata.is_some_and(|m| m.source.is_none() && m.name.contains("environment"))
}

/// The known key an unknown one is most likely a misspelling of, ignoring
/// case: at most one edit away for keys of three to five letters, two for
/// longer ones (shorter ones are too short to guess from).
fn closest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let unknown = unknown.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&unknown, k), *k))
        .filter(|&(d, k)| d <= 2 && d * 3 <= k.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
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

    /// Every problem `load_file` reports for `text`.
    fn problems_of(text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        Jail::expect_with(|jail| {
            jail.create_file("tm.toml", text)?;
            problems = load_file(Path::new("tm.toml")).unwrap_err().problems();
            Ok(())
        });
        problems
    }

    const TWO_CLIENTS: &str =
        "[[clients]]\nid = \"a\"\nsecret = \"x\"\n[[clients]]\nid = \"b\"\nsecret = \"y\"\n";

    #[test]
    fn a_misspelt_audience_is_one_problem_not_one_per_client() {
        let problems = problems_of(&format!(
            "issuer = \"https://auth.example.com\"\n[tokens]\naudiance = [\"https://api.example.com\"]\n{TWO_CLIENTS}"
        ));
        assert_eq!(
            problems,
            ["tokens.audiance: unknown key (did you mean `audience`?); the keys here are: default_ttl, max_ttl, audience, jwks_max_age"]
        );
    }

    #[test]
    fn clients_without_an_audience_are_one_problem_about_tokens_audience() {
        let clients: String = (0..7)
            .map(|i| format!("[[clients]]\nid = \"c{i}\"\nsecret = \"x\"\n"))
            .collect();
        let problems = problems_of(&format!(
            "issuer = \"https://auth.example.com\"\n{clients}[[clients]]\nid = \"has-one\"\nsecret = \"x\"\naudience = [\"https://a.example\"]\n"
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        assert!(p.starts_with("tokens.audience: is not set, and 7 clients (\"c0\", \"c1\", \"c2\", \"c3\", \"c4\" and 2 more) set no audience"), "{p}");
        assert!(!p.contains("has-one"), "{p}");
    }

    #[test]
    fn a_top_level_key_below_a_section_header_is_said_to_be_inside_it_and_the_rest_is_checked() {
        let problems = problems_of(
            "[server]\nlisten = \"127.0.0.1:9443\"\nissuer = \"https://auth.example.com\"\n[tokens]\naudience = [\"https://api.example.com\"]\nmax_ttl = 0\n",
        );
        assert_eq!(
            problems,
            [
                "issuer: is written after the `[server]` header, so TOML reads it as `server.issuer`: move it above the first `[section]` header",
                "tokens.max_ttl: = 0: must be at least 1 second",
            ]
        );
        let in_a_client = problems_of(&format!(
            "{TWO_CLIENTS}issuer = \"https://auth.example.com\"\n"
        ));
        assert!(
            in_a_client[0].contains(
                "after the `[[clients]]` header, so TOML reads it as `clients[1].issuer`"
            ),
            "{in_a_client:?}"
        );
    }

    #[test]
    fn a_misspelt_key_is_reported_once_and_its_value_used_so_the_rest_is_checked() {
        let problems = problems_of(
            "isuer = \"https://auth.example.com\"\n[tokens]\naudience = [\"https://api.example.com\"]\nmax_ttl = 0\n[[clients]]\nid = \"a\"\nsecrte = \"x\"\n",
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("clients[0].secrte: unknown key (did you mean `secret`?)"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("isuer: unknown key (did you mean `issuer`?)"),
            "{problems:?}"
        );
        assert_eq!(
            problems[2],
            "tokens.max_ttl: = 0: must be at least 1 second"
        );
    }

    #[test]
    fn an_unknown_key_is_matched_to_a_known_one_only_when_it_is_close() {
        let known = ["issuer", "audience", "max_ttl", "id"];
        assert_eq!(closest("audiance", &known), Some("audience"));
        assert_eq!(closest("ISUER", &known), Some("issuer"));
        assert_eq!(closest("Audience", &known), Some("audience"));
        assert_eq!(closest("max-ttl", &known), Some("max_ttl"));
        assert_eq!(closest("listen_typo", &known), None);
        assert_eq!(
            closest("ix", &known),
            None,
            "two letters: too short to guess"
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
