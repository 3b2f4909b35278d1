//! Reads the configuration: the TOML file, then `TOKENMINT_<SECTION>__<KEY>`
//! environment overrides (figment), then validation. The file must exist:
//! figment would silently treat a missing file as empty.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;

use super::raw::RawConfig;
use super::settings::{validate, LoadedConfig};

/// Why a configuration could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} cannot be read: {reason}")]
    Missing { path: PathBuf, reason: String },
    #[error("{path}: {}", .problems.join("; "))]
    Parse {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{path} has {} problem(s):\n  - {}", .problems.len(), .problems.join("\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

impl ConfigError {
    /// Each problem on its own, for `check-config`.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Missing { .. } => vec![self.to_string()],
            ConfigError::Parse { problems, .. } | ConfigError::Invalid { problems, .. } => {
                problems.clone()
            }
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
    // TOKENMINT_CONFIG is the path of the file, not a configuration key.
    let env = Env::prefixed("TOKENMINT_")
        .filter(|key| !key.as_str().eq_ignore_ascii_case("config"))
        .split("__");
    from_figment(
        path,
        Figment::new().merge(Toml::file_exact(path)).merge(env),
    )
}

/// The file alone, ignoring the environment (tests, tools).
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    from_figment(path, Figment::new().merge(Toml::file_exact(path)))
}

fn from_figment(path: &Path, figment: Figment) -> Result<LoadedConfig, ConfigError> {
    if let Err(e) = std::fs::metadata(path) {
        return Err(ConfigError::Missing {
            path: path.to_path_buf(),
            reason: e.to_string(),
        });
    }
    let raw: RawConfig = figment.extract().map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        problems: e.into_iter().map(describe).collect(),
    })?;
    validate(raw, path).map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}

/// figment's message names the key and the source; the `default.` profile
/// prefix only confuses, so it is dropped.
fn describe(e: figment::Error) -> String {
    let key = e.path.join(".");
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(src) => format!(" (from {src})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    if key.is_empty() {
        format!("{}{source}", e.kind)
    } else {
        format!("key `{key}`: {}{source}", e.kind)
    }
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
}
