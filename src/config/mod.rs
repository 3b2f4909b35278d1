//! Configuration: `raw` (serde shapes of SPEC §2), `load` (figment layering
//! of the TOML file and `TOKENMINT_` environment), `settings` (the validated
//! values the rest of tokenmint uses; every problem collected at once).

mod load;
mod raw;
mod settings;

pub use load::{default_path, load, load_file, ConfigError};
pub use raw::{LogFormat, ScopePolicy};
pub use settings::{
    AuthMethod, ClientSecret, ClientSettings, GrantSettings, KeySettings, LoadedConfig,
    ServerSettings, Settings, ThrottleSettings, TlsSettings, TokenSettings,
};
