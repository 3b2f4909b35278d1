//! The `htu` comparison of RFC 9449 §4.3: both URLs normalised as RFC 3986
//! §6.2.2 (syntax: case, percent-encoding, dot segments) and §6.2.3
//! (scheme: the default port, an empty path) say, without query and
//! fragment, then compared as strings.

use url::Url;

/// `url` normalised, or `None` when it is not an absolute http(s) URL.
pub fn normalise(url: &str) -> Option<String> {
    // The WHATWG parser lowercases scheme and host, drops the default port,
    // resolves dot segments and makes an empty path "/".
    let parsed = Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(parsed.scheme());
    out.push_str("://");
    out.push_str(parsed.host_str()?);
    if let Some(port) = parsed.port() {
        out.push(':');
        out.push_str(itoa::Buffer::new().format(port));
    }
    path(parsed.path(), &mut out);
    Some(out)
}

/// Percent-encoded unreserved characters decoded, every other triplet in
/// upper case (RFC 3986 §6.2.2.1-2).
fn path(path: &str, out: &mut String) {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let triplet = bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        if triplet {
            let hex = &path[i + 1..i + 3];
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(char::from(b));
                } else {
                    out.push('%');
                    out.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn rfc3986_equivalent_urls_compare_equal() {
        let want = normalise("https://as.example/oauth2/token").unwrap();
        for same in [
            "HTTPS://AS.Example/oauth2/token",
            "https://as.example:443/oauth2/token",
            "https://as.example/oauth2/%74oken",
            "https://as.example/oauth2/./token",
            "https://as.example/x/../oauth2/token",
            "https://as.example/oauth2/token?x=1",
            "https://as.example/oauth2/token#f",
        ] {
            assert_eq!(normalise(same).as_deref(), Some(want.as_str()), "{same}");
        }
        for other in [
            "https://as.example/oauth2/token/",
            "https://other.example/oauth2/token",
            "http://as.example/oauth2/token",
            "https://as.example:8443/oauth2/token",
            "https://as.example/oauth2/Token",
            "https://as.example/token",
        ] {
            assert_ne!(normalise(other).as_deref(), Some(want.as_str()), "{other}");
        }
        assert_eq!(
            normalise("http://127.0.0.1:9443/a%2fb").unwrap(),
            "http://127.0.0.1:9443/a%2Fb"
        );
        assert_eq!(normalise("urn:x:y"), None);
        assert_eq!(normalise("/oauth2/token"), None);
    }
}
