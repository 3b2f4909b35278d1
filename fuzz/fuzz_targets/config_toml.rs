//! The configuration file an operator writes: arbitrary bytes through
//! `tokenmint::config::load_file` (figment + serde + validation). The only
//! public entry reads a path, so each input is written to one file in
//! /dev/shm (memory, not disk) for the life of the process. Besides not
//! panicking: a refusal names the file, and an accepted configuration
//! has 1 ≤ default_ttl ≤ max_ttl and unique client ids.
//!
//! Validation resolves `server.listen` and `server.admin_listen` with
//! `to_socket_addrs`, which asks DNS about any host name: inputs whose
//! listen values are not literal socket addresses are skipped (screened
//! with the `toml` crate figment itself parses with), so that the fuzzer
//! never sends a query; run.sh also runs it without a network.
#![no_main]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokenmint::config::load_file;

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("tokenmint-fuzz-config-{}.toml", std::process::id()))
    })
}

/// Does any `listen`-like key anywhere hold something other than a literal
/// socket address? (Keys compared without case, values of any type: a
/// screen that errs on the side of skipping.)
fn could_resolve(value: &toml::Value) -> bool {
    match value {
        toml::Value::Table(table) => table.iter().any(|(k, v)| {
            let k = k.to_ascii_lowercase();
            let listen = k == "listen" || k == "admin_listen";
            (listen && v.as_str().is_none_or(|s| s.parse::<SocketAddr>().is_err()))
                || could_resolve(v)
        }),
        toml::Value::Array(items) => items.iter().any(could_resolve),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Not TOML at all: figment refuses it before validation, so it goes in.
    if let Ok(table) = text.parse::<toml::Table>() {
        if could_resolve(&toml::Value::Table(table)) {
            return;
        }
    }
    let path = file();
    let mut f = std::fs::File::create(path).expect("creating the config file");
    f.write_all(data).expect("writing the config file");
    drop(f);
    let result = load_file(path);
    let _ = std::fs::remove_file(path);
    match result {
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains(&*path.to_string_lossy()), "{message}");
        }
        Ok(loaded) => {
            let tokens = &loaded.settings.tokens;
            assert!(1 <= tokens.default_ttl && tokens.default_ttl <= tokens.max_ttl);
            let clients = &loaded.settings.clients;
            for (i, c) in clients.iter().enumerate() {
                assert!(!clients[..i].iter().any(|o| o.id == c.id), "repeated id");
            }
        }
    }
});
