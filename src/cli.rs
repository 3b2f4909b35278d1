//! The command line (README.md, "Commands"). `--config` is global; it defaults to
//! `$TOKENMINT_CONFIG`, then `config/tokenmint.toml`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::secret_hash::DEFAULT_ITERATIONS;

#[derive(Debug, Parser)]
#[command(
    name = "tokenmint",
    version,
    about = "A stateless OAuth 2.0 client-credentials token service"
)]
pub struct Cli {
    /// Configuration file [default: $TOKENMINT_CONFIG, then config/tokenmint.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default)
    Serve,
    /// Load and validate the configuration, keys and TLS files; print a summary
    CheckConfig,
    /// Write a new PKCS#8 PEM private key into the keys directory and print its kid
    Keygen {
        /// ES256, ES384, EdDSA, RS256 or PS256
        #[arg(long)]
        alg: String,
        /// Directory [default: keys.dir of the configuration, else keys]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// When it starts signing (RFC 3339) [default: now + tokens.jwks_max_age +
        /// keys.publish_margin of the configuration, else now + 420 s]
        #[arg(long, value_name = "TIME", conflicts_with = "now")]
        activate_at: Option<String>,
        /// Sign at once (a first key, or an emergency: resource servers that
        /// cached the JWK Set do not know the key yet)
        #[arg(long)]
        now: bool,
    },
    /// Read a client secret on stdin and print the secret_hash to put in the config
    HashSecret {
        /// PBKDF2 iterations
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
    /// Print a `[[clients]]` block for a new client: with a strong secret, printed
    /// once before it, or without a secret: the client's public keys (--jwks) or
    /// its TLS client certificate (--tls-subject-dn, --self-signed-cert)
    NewClient {
        /// The client_id the client authenticates with (non-empty, no control characters)
        #[arg(long, value_name = "ID")]
        id: String,
        /// Space-separated scopes the client may ask for
        #[arg(long)]
        scopes: Option<String>,
        // What the client proves itself with instead of a secret; `None`:
        // a secret. Named `jwks` after the first of its options, which
        // main.rs destructures by that name.
        #[command(flatten)]
        jwks: Option<ClientKeys>,
    },
    /// Decode a token and verify it against the local keys or a JWK Set
    Inspect {
        /// The token (a compact JWS: header.payload.signature)
        token: String,
        /// URL (http/https) or file of a JWK Set [default: the keys of the configuration]
        #[arg(long, value_name = "URL-or-FILE")]
        jwks: Option<String>,
        /// PEM file of the CA certificate(s) to trust for an https:// --jwks
        /// [default: the Mozilla roots of webpki-roots]
        #[arg(long, value_name = "FILE", requires = "jwks")]
        cacert: Option<PathBuf>,
    },
}

/// How a client without a secret proves itself (`new-client`): one of these.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "client_keys", multiple = false)]
pub struct ClientKeys {
    /// The client's public keys: a JWK Set, one JWK, a PEM public key
    /// (`BEGIN PUBLIC KEY`) or a PEM certificate. No secret: a
    /// `private_key_jwt` client with these keys inline
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,
    /// The subject DN of the client's certificate, as RFC 4514 writes it (last
    /// RDN first, what `openssl x509 -noout -subject -nameopt RFC2253` prints),
    /// e.g. "CN=inventory,O=Example". No secret: a `tls_client_auth` client,
    /// whose certificate must chain to a CA of `[mtls] ca_file`
    #[arg(long, value_name = "DN")]
    pub tls_subject_dn: Option<String>,
    /// The client's self-signed PEM certificate. No secret: a
    /// `self_signed_tls_client_auth` client with the certificate's public key
    /// inline (no chain or expiry is checked, only the key)
    #[arg(long, value_name = "FILE")]
    pub self_signed_cert: Option<PathBuf>,
}

impl Cli {
    pub fn config_path(&self) -> PathBuf {
        crate::config::default_path(self.config.clone())
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn every_subcommand_and_every_argument_has_help() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for cmd in std::iter::once(&cli).chain(cli.get_subcommands()) {
            if cmd.get_about().is_none() {
                missing.push(cmd.get_name().to_string());
            }
            for arg in cmd.get_arguments() {
                // clap's own --help and --version describe themselves.
                let builtin = ["help", "version"].contains(&arg.get_id().as_str());
                if arg.get_help().is_none() && !builtin {
                    missing.push(format!("{} {}", cmd.get_name(), arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
