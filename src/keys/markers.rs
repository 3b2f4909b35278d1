//! The marker lines tokenmint writes before a key file's `BEGIN` line
//! (`tokenmint-alg: PS256`, `tokenmint-activate-at: ...`), read into
//! [`Markers`] beside the decoded block ([`read`]). The armour itself is
//! `crate::pem`'s.
//!
//! Not here: what the label or the DER mean (`pkcs8`), or what a marker
//! changes about a key (`load`).

use std::path::Path;

use super::{file_err, KeyError};

/// The line that marks an RSA key for PS256, as written before its value:
/// `tokenmint-alg: PS256`.
pub const ALG_MARKER: &str = "tokenmint-alg:";
/// [`ALG_MARKER`]'s name, without the colon.
const ALG: &str = "tokenmint-alg";
/// The line that says when a key starts signing, as written before its
/// RFC 3339 value: `tokenmint-activate-at: 2026-12-01T10:00:00Z`.
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

/// A key file's first PEM block and the markers above it.
#[derive(Debug)]
pub(super) struct Pem {
    pub markers: Markers,
    pub label: String,
    /// `None` for a label no reader knows (an encrypted key).
    pub der: Option<Vec<u8>>,
}

/// Reads the first PEM block of `text`; `path` is only for messages.
pub(super) fn read(text: &str, path: &Path) -> Result<Pem, KeyError> {
    let block = crate::pem::first_block(text).map_err(|e| file_err(path, e))?;
    let mut markers = Markers::default();
    for line in block.preamble.lines() {
        markers.read_line(line.trim());
    }
    Ok(Pem {
        markers,
        label: block.label.to_string(),
        der: block.der,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pem::encode;

    #[test]
    fn the_alg_marker_is_its_name_and_a_colon() {
        assert_eq!(ALG_MARKER, format!("{ALG}:"));
    }

    #[test]
    fn markers_before_the_begin_line_are_read_and_other_text_is_ignored() {
        let der = [0x30, 0x00];
        let text = format!(
            "a comment: with a colon\n{ALG_MARKER}  PS256 \n{}",
            encode("PRIVATE KEY", &der)
        );
        let pem = read(&text, Path::new("k.pem")).unwrap();
        assert_eq!(pem.markers.alg.as_deref(), Some("PS256"));
        assert_eq!(pem.label, "PRIVATE KEY");
        assert_eq!(pem.der.as_deref(), Some(&der[..]));
    }

    #[test]
    fn a_marker_after_the_end_line_is_not_read() {
        let text = format!("{}{ALG_MARKER} PS256\n", encode("PRIVATE KEY", &[1]));
        let pem = read(&text, Path::new("k.pem")).unwrap();
        assert_eq!(pem.markers, Markers::default());
    }

    #[test]
    fn an_unclosed_block_names_the_file_and_the_missing_line() {
        let err = read("-----BEGIN PRIVATE KEY-----\nAAAA\n", Path::new("k.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("k.pem") && err.contains("-----END PRIVATE KEY-----"),
            "{err}"
        );
    }
}
