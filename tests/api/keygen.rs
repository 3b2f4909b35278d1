//! `tokenmint keygen` writes files that other software reads: every
//! algorithm's key, made by the real binary, is loaded by `openssl pkey`
//! ("a new PKCS#8 PEM private key ... that `openssl pkey` and common
//! libraries read"). Python's `cryptography` is checked by
//! `tests/interop/keygen_readable.sh`, which needs the interop venv.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `tokenmint keygen --alg ALG --dir DIR` and returns the written file.
fn keygen(alg: &str, dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["keygen", "--alg", alg, "--dir"])
        .arg(dir)
        .output()
        .expect("the tokenmint binary runs");
    assert!(
        out.status.success(),
        "keygen --alg {alg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let path = dir.join(format!("{}-{kid}.pem", alg.to_lowercase()));
    assert!(path.is_file(), "{} was written", path.display());
    path
}

#[test]
fn keygen_files_of_every_algorithm_are_read_by_openssl_pkey() {
    let dir = tempfile::tempdir().unwrap();
    let mut refused = Vec::new();
    for alg in ["ES256", "ES384", "EdDSA", "RS256", "PS256"] {
        let path = keygen(alg, &dir.path().join(alg));
        // Text before the BEGIN line (the PS256 marker) is skipped by
        // openssl's PEM reader, as RFC 7468 §5.2 allows: the file is read as is.
        let out = Command::new("openssl")
            .args(["pkey", "-noout", "-in"])
            .arg(&path)
            .output()
            .expect("openssl is installed");
        if !out.status.success() {
            refused.push(format!(
                "{alg} ({}): {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(refused.is_empty(), "openssl pkey refused: {refused:#?}");
}

#[test]
fn rsa_keys_are_made_in_process_without_the_openssl_command_or_noise() {
    // An empty PATH: a container image or host without `openssl` must make
    // RSA keys too, and nothing but the kid may reach the terminal.
    for alg in ["RS256", "PS256"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tokenmint"))
            .args(["keygen", "--alg", alg, "--now", "--dir"])
            .arg(dir.path())
            .env("PATH", "")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "keygen --alg {alg}: {stderr}");
        // openssl's progress dots were `.....+++++` lines.
        assert!(!stderr.contains("+++"), "{stderr}");
        let kid = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let path = dir.path().join(format!("{}-{kid}.pem", alg.to_lowercase()));
        let key = tokenmint::keys::load_file(&path).unwrap().0;
        assert_eq!(tokenmint::jose::alg_name(key.alg), alg);
    }
}
