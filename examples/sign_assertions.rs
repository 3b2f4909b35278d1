//! Pre-signed client assertions for the load benchmark (benches/assertions.sh):
//! wrk cannot sign, and every `private_key_jwt` assertion needs its own `jti`.
//!
//! ```text
//! sign_assertions --alg ES256|RS256 --client ID --aud URL --count N \
//!     [--rsa-key PKCS8.pem] --jwk-out FILE > assertions.txt
//! ```
//!
//! ES256 keys are generated; RS256 uses `--rsa-key` (ring cannot generate
//! RSA). Writes the public JWK to `--jwk-out` and one assertion per line
//! (`exp` 10 minutes out) to stdout, signed on every core.

use std::io::Write as _;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clap::Parser;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair as _};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    alg: String,
    #[arg(long)]
    client: String,
    #[arg(long)]
    aud: String,
    #[arg(long)]
    count: usize,
    #[arg(long)]
    rsa_key: Option<std::path::PathBuf>,
    #[arg(long)]
    jwk_out: std::path::PathBuf,
    /// A platform's token instead: this `iss`, `sub` = --client, no `jti`
    #[arg(long)]
    iss: Option<String>,
}

enum Key {
    Ec(sig::EcdsaKeyPair),
    Rsa(sig::RsaKeyPair),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rng = SystemRandom::new();
    let (key, jwk) = match args.alg.as_str() {
        "ES256" => {
            let alg = &sig::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = sig::EcdsaKeyPair::generate_pkcs8(alg, &rng)
                .map_err(|_| anyhow::anyhow!("ring failed"))?;
            let pair = sig::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let p = pair.public_key().as_ref().to_vec();
            let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..]), "kid": "bench"});
            (Key::Ec(pair), jwk)
        }
        "RS256" => {
            let path = args
                .rsa_key
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("--rsa-key is needed for RS256"))?;
            let pem = std::fs::read_to_string(path)?;
            let body: String = pem
                .lines()
                .filter(|l| !l.starts_with("-----") && !l.contains(':'))
                .collect();
            let pair = sig::RsaKeyPair::from_pkcs8(&STANDARD.decode(body)?)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let c = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let jwk =
                serde_json::json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e), "kid": "bench"});
            (Key::Rsa(pair), jwk)
        }
        other => anyhow::bail!("--alg {other}: ES256 or RS256"),
    };
    std::fs::write(&args.jwk_out, jwk.to_string())?;
    let header = b64(
        serde_json::json!({"alg": args.alg, "typ": "JWT", "kid": "bench"})
            .to_string()
            .as_bytes(),
    );
    let now = tokenmint::clock::unix_now();
    let key = Arc::new(key);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = args.count.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (key, header, client, aud) = (
                key.clone(),
                header.clone(),
                args.client.clone(),
                args.aud.clone(),
            );
            let iss = args.iss.clone();
            std::thread::spawn(move || -> anyhow::Result<String> {
                let rng = SystemRandom::new();
                let mut out = String::new();
                for i in t * per..(t + 1) * per {
                    let claims = match &iss {
                        Some(iss) => serde_json::json!({"iss": iss, "sub": client, "aud": [aud],
                            "iat": now, "exp": now + 3600}),
                        None => serde_json::json!({"iss": client, "sub": client, "aud": aud,
                            "iat": now, "exp": now + 600, "jti": format!("bench-{now}-{i}")}),
                    };
                    let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
                    let signature = match key.as_ref() {
                        Key::Ec(pair) => pair
                            .sign(&rng, input.as_bytes())
                            .map_err(|_| anyhow::anyhow!("signing failed"))?
                            .as_ref()
                            .to_vec(),
                        Key::Rsa(pair) => {
                            let mut s = vec![0; pair.public().modulus_len()];
                            pair.sign(&sig::RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut s)
                                .map_err(|_| anyhow::anyhow!("signing failed"))?;
                            s
                        }
                    };
                    out.push_str(&input);
                    out.push('.');
                    out.push_str(&b64(&signature));
                    out.push('\n');
                }
                Ok(out)
            })
        })
        .collect();
    let mut stdout = std::io::stdout().lock();
    for h in handles {
        let chunk = h
            .join()
            .map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
        stdout.write_all(chunk.as_bytes())?;
    }
    Ok(())
}
