//! PEM armour (RFC 7468): finding the one `-----BEGIN ...-----` block of a
//! key file, decoding its base64 body, and reading the marker lines that
//! tokenmint puts before the BEGIN line (RFC 7468 §5.2 lets text stand
//! outside the encapsulation boundaries) into [`Markers`]; and the reverse,
//! [`pem_encode`].
//!
//! Not here: what the label or the DER mean (`pkcs8`), or what a marker
//! changes about a key (`load`).

use std::fmt::Write as _;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{file_err, KeyError};

/// The line that marks an RSA key for PS256 (SPEC §3.3), as written before
/// its value: `tokenmint-alg: PS256`.
pub const ALG_MARKER: &str = "tokenmint-alg:";
/// [`ALG_MARKER`]'s name, without the colon.
const ALG: &str = "tokenmint-alg";
/// The line that says when a key starts signing (SPEC §3.3), as written
/// before its RFC 3339 value: `tokenmint-activate-at: 2026-12-01T10:00:00Z`.
pub const ACTIVATE_MARKER: &str = "tokenmint-activate-at:";
const ACTIVATE: &str = "tokenmint-activate-at";

/// The marker lines found before the BEGIN line. A new marker is one field
/// here and one arm in [`Markers::read_line`]. Other text there is ignored,
/// as RFC 7468 allows; a marker given twice keeps its last value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Markers {
    /// `tokenmint-alg: <JOSE alg>`.
    pub alg: Option<String>,
    /// `tokenmint-activate-at: <RFC 3339 time>`, as written.
    pub activate_at: Option<String>,
}

impl Markers {
    /// Takes in one trimmed line from before the BEGIN line.
    fn read_line(&mut self, line: &str) {
        let Some((name, value)) = line.split_once(':') else {
            return;
        };
        let value = Some(value.trim().to_string());
        match name {
            ALG => self.alg = value,
            ACTIVATE => self.activate_at = value,
            _ => {}
        }
    }
}

/// A decoded PEM block and the markers above it.
#[derive(Debug)]
pub(super) struct Pem {
    pub markers: Markers,
    pub label: String,
    pub der: Vec<u8>,
}

/// Reads the first PEM block of `text`; `path` is only for messages.
pub(super) fn parse_pem(text: &str, path: &Path) -> Result<Pem, KeyError> {
    let mut markers = Markers::default();
    let mut lines = text.lines();
    let label = loop {
        let Some(line) = lines.next() else {
            return Err(file_err(
                path,
                "no `-----BEGIN PRIVATE KEY-----` block: expected a PKCS#8 PEM private key",
            ));
        };
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            break rest.trim_end_matches('-').to_string();
        }
        markers.read_line(line);
    };
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    let mut closed = false;
    for line in lines {
        let line = line.trim();
        if line == end {
            closed = true;
            break;
        }
        body.push_str(line);
    }
    if !closed {
        return Err(file_err(path, format!("PEM block has no `{end}` line")));
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|e| file_err(path, format!("PEM body is not valid base64: {e}")))?;
    Ok(Pem {
        markers,
        label,
        der,
    })
}

/// PEM armour with 64-column lines (RFC 7468).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
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
    fn the_alg_marker_is_its_name_and_a_colon() {
        assert_eq!(ALG_MARKER, format!("{ALG}:"));
    }

    #[test]
    fn markers_before_the_begin_line_are_read_and_other_text_is_ignored() {
        let der = [0x30, 0x00];
        let text = format!(
            "a comment: with a colon\n{ALG_MARKER}  PS256 \n{}",
            pem_encode("PRIVATE KEY", &der)
        );
        let pem = parse_pem(&text, Path::new("k.pem")).unwrap();
        assert_eq!(pem.markers.alg.as_deref(), Some("PS256"));
        assert_eq!(pem.label, "PRIVATE KEY");
        assert_eq!(pem.der, der);
    }

    #[test]
    fn a_marker_after_the_end_line_is_not_read() {
        let text = format!("{}{ALG_MARKER} PS256\n", pem_encode("PRIVATE KEY", &[1]));
        let pem = parse_pem(&text, Path::new("k.pem")).unwrap();
        assert_eq!(pem.markers, Markers::default());
    }

    #[test]
    fn an_unclosed_block_names_the_missing_line() {
        let err = parse_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n", Path::new("k.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("k.pem") && err.contains("-----END PRIVATE KEY-----"),
            "{err}"
        );
    }
}
