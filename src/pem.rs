//! PEM (RFC 7468), the armour of every key and certificate file tokenmint
//! reads or writes. Decoding is rustls-pki-types' reader, the one the TLS
//! listener and the outbound HTTPS client use too; this module adds what
//! key files need besides: the text before the first `BEGIN` line, where
//! tokenmint writes its marker lines (RFC 7468 §5.2 lets text stand
//! outside the encapsulation boundaries), the block's label as written (so
//! that an encrypted or SEC1 key gets a message naming the conversion),
//! and [`encode`].

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls_pki_types::pem::{self, PemObject as _, SectionKind};

/// The first PEM block of a text.
#[derive(Debug)]
pub struct Block<'a> {
    /// Everything before the `-----BEGIN` line.
    pub preamble: &'a str,
    /// The label as written (`PRIVATE KEY`, `EC PRIVATE KEY`, ...).
    pub label: &'a str,
    /// The decoded body; `None` for a label the reader does not know
    /// (`ENCRYPTED PRIVATE KEY`), whose body nobody here can use.
    pub der: Option<Vec<u8>>,
}

/// Reads the first block of `text`; the error is a sentence for an
/// operator (the caller adds the file's name).
pub fn first_block(text: &str) -> Result<Block<'_>, String> {
    let start = text
        .match_indices("-----BEGIN ")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
        .ok_or("no `-----BEGIN PRIVATE KEY-----` block: expected a PKCS#8 PEM private key")?;
    let (preamble, armoured) = text.split_at(start);
    let first_line = armoured.lines().next().unwrap_or_default().trim_end();
    let label = first_line
        .strip_prefix("-----BEGIN ")
        .unwrap_or_default()
        .trim_end_matches('-');
    let der = match SectionKind::try_from(label.as_bytes()) {
        Err(()) => None,
        Ok(_) => {
            let first = <(SectionKind, Vec<u8>)>::pem_slice_iter(armoured.as_bytes()).next();
            match first {
                Some(Ok((_, der))) => Some(der),
                Some(Err(pem::Error::MissingSectionEnd { .. })) | None => {
                    return Err(format!("PEM block has no `-----END {label}-----` line"))
                }
                Some(Err(e)) => return Err(format!("PEM body is not valid: {e}")),
            }
        }
    };
    Ok(Block {
        preamble,
        label,
        der,
    })
}

/// PEM armour with 64-column lines (RFC 7468).
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_before_the_block_is_kept_and_the_body_decoded() {
        let der = [0x30, 0x00];
        let text = format!("a comment: with a colon\n{}", encode("PRIVATE KEY", &der));
        let block = first_block(&text).unwrap();
        assert_eq!(block.preamble, "a comment: with a colon\n");
        assert_eq!(block.label, "PRIVATE KEY");
        assert_eq!(block.der.as_deref(), Some(&der[..]));
    }

    #[test]
    fn an_unclosed_block_names_the_missing_line() {
        let err = first_block("-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap_err();
        assert!(err.contains("-----END PRIVATE KEY-----"), "{err}");
    }

    #[test]
    fn an_unknown_label_is_named_without_a_body() {
        let block = first_block("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n").unwrap();
        assert_eq!(block.label, "ENCRYPTED PRIVATE KEY");
        assert!(block.der.is_none());
    }

    #[test]
    fn no_block_says_what_is_expected() {
        assert!(first_block("hello")
            .unwrap_err()
            .contains("BEGIN PRIVATE KEY"));
    }
}
