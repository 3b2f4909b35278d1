//! Configuration: `raw` (serde shapes of docs/configuration.md), `load` (figment layering
//! of the TOML file and `TOKENMINT_` environment), `validate` and `client`
//! (one validator per section, every problem collected at once as a
//! [`Problem`]), `settings` (the validated values the rest of tokenmint uses).

mod client;
mod dpop;
mod issuers;
mod load;
mod mtls;
mod problem;
mod raw;
mod settings;
mod store;
mod validate;

pub use client::{is_placeholder, PLACEHOLDER_SECRET_HASH};
pub use load::{check, default_path, load, load_file, ConfigError, Report};
pub use problem::Problem;
pub use raw::{LogFormat, OnError, ScopePolicy};
pub use settings::{
    AssertionKeys, AuthMethod, ClientAuthSettings, ClientSecret, ClientSettings, DpopSettings,
    GrantSettings, IssuerSettings, KeySettings, KeySource, LoadedConfig, MtlsSettings, Quota,
    RemoteSource, ServerSettings, Settings, StoreNodes, StoreSettings, ThrottleSettings,
    TlsSettings, TokenSettings,
};
