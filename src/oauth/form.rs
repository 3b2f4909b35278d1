//! Strict `application/x-www-form-urlencoded` parsing (WHATWG URL §5.1, as
//! RFC 6749 Appendix B uses it), unlike actix's lenient form extractor:
//! a bad percent-escape or invalid UTF-8 is an error rather than a
//! replacement character, and repeated parameters are detectable (§3.2).

use super::OAuthError;

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte.
pub fn decode(input: &str) -> Result<String, OAuthError> {
    let bytes = input.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Ok(input.to_string());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| {
                        bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()
                    });
                match hex {
                    Some(b) => out.push(b),
                    None => {
                        return Err(OAuthError::invalid_request(
                            "malformed percent-encoding in form data",
                        ))
                    }
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| OAuthError::invalid_request("form data is not valid UTF-8 after decoding"))
}

/// A decoded form body: `(name, value)` pairs in order.
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let body = std::str::from_utf8(body)
            .map_err(|_| OAuthError::invalid_request("request body is not valid UTF-8"))?;
        let mut pairs = Vec::new();
        for part in body.split('&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Self { pairs })
    }

    /// The one value of `name`. A parameter sent without a value counts as
    /// omitted (RFC 6749 §3.1); sent twice, it is `invalid_request` (§3.2).
    pub fn single(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found = None;
        for (n, v) in &self.pairs {
            if n == name {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(format!(
                        "parameter `{name}` is repeated"
                    )));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// The first value of `name`, repeated or not (for labelling only).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of a parameter that may repeat (RFC 8707 `resource`).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_exact() {
        assert_eq!(decode("a+b%20c%3A%25%2B").unwrap(), "a b c:%+");
        assert_eq!(decode("%C3%A9").unwrap(), "é");
        for bad in ["%", "%2", "%zz", "%+1", "%C3"] {
            assert!(decode(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_omitted() {
        let form = Form::parse(b"grant_type=x&scope=&a=1&a=2&&resource=r1&resource=r2").unwrap();
        assert_eq!(form.single("grant_type").unwrap(), Some("x"));
        assert_eq!(form.single("scope").unwrap(), None);
        assert!(form.single("a").is_err());
        assert_eq!(form.all("resource").collect::<Vec<_>>(), ["r1", "r2"]);
    }
}
