//! What several fuzz targets assert about tokenmint's values. The targets
//! themselves are in `fuzz_targets/`, one per parser an attacker or an
//! operator feeds; `run.sh` builds and runs them.

use tokenmint::oauth::error::is_valid_description;
use tokenmint::oauth::OAuthError;

/// RFC 6749 §5.2's character set for `error_description`, and short: the
/// descriptions are fixed text, so one that grows with the input would be
/// echoing it.
pub fn check_error(error: &OAuthError) {
    let description = error.description();
    assert!(
        is_valid_description(&description),
        "description outside RFC 6749 §5.2's characters: {description:?}"
    );
    assert!(
        description.len() <= 200,
        "description longer than 200 characters: {description:?}"
    );
}
