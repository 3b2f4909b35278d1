//! Distinguished names as RFC 4514 strings (what a `tls_client_auth`
//! client's `tls_client_auth_subject_dn` holds) and as a certificate's
//! subject, in one comparable form: the RDNs in certificate order, each a
//! sorted set of (attribute OID, value), values compared as
//! `caseIgnoreMatch` does (case folded, outer spaces trimmed, inner runs of
//! spaces made one). `CN=a, O=b` and `cn=A,o=b` are the same name.

use x509_parser::x509::X509Name;

/// A parsed distinguished name, and the text it was read from (for
/// messages; names compare by their parsed form only).
#[derive(Debug, Clone)]
pub struct Dn(Vec<Vec<(String, String)>>, String);

impl PartialEq for Dn {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Dn {}

impl std::fmt::Display for Dn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

/// The attribute names RFC 4514 §3 lists, and a few more that certificates
/// use, with their OIDs.
const NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("STREET", "2.5.4.9"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("SN", "2.5.4.4"),
    ("GIVENNAME", "2.5.4.42"),
    ("TITLE", "2.5.4.12"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("E", "1.2.840.113549.1.9.1"),
];

fn normalise(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn attribute_oid(name: &str) -> Result<String, String> {
    let name = name.trim();
    if !name.is_empty()
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Ok(name.to_string());
    }
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, oid)| oid.to_string())
        .ok_or_else(|| format!("attribute type \"{name}\" is not known: use CN, O, OU, C, L, ST, DC, UID, SERIALNUMBER, emailAddress or a dotted OID"))
}

impl Dn {
    /// An RFC 4514 string. Values may escape `,+"\<>;=#` and spaces with a
    /// backslash, or any byte as `\XX`; `#`-hex values are not accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            let mut name = String::new();
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                name.push(c);
            }
            if name.trim().is_empty() {
                return Err(
                    "an attribute has no type (expected TYPE=value, e.g. CN=inventory,O=Example)"
                        .into(),
                );
            }
            let oid = attribute_oid(&name)?;
            let mut value = Vec::<u8>::new();
            let mut end = None;
            if chars.peek() == Some(&'#') {
                return Err(
                    "hex-encoded (#...) values are not accepted: write the value as text".into(),
                );
            }
            while let Some(c) = chars.next() {
                match c {
                    ',' | ';' | '+' => {
                        end = Some(c);
                        break;
                    }
                    '\\' => {
                        let Some(next) = chars.next() else {
                            return Err("a value ends with a lone backslash".into());
                        };
                        if next.is_ascii_hexdigit() {
                            let low = chars
                                .next()
                                .filter(char::is_ascii_hexdigit)
                                .ok_or("a \\XX escape needs two hex digits")?;
                            let byte = u8::from_str_radix(&format!("{next}{low}"), 16)
                                .map_err(|e| e.to_string())?;
                            value.push(byte);
                        } else {
                            let mut buf = [0u8; 4];
                            value.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                    c => {
                        let mut buf = [0u8; 4];
                        value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            let value = String::from_utf8(value).map_err(|_| "a value is not UTF-8".to_string())?;
            if value.trim().is_empty() {
                return Err(format!("attribute {} has an empty value", name.trim()));
            }
            rdn.push((oid, normalise(&value)));
            if end != Some('+') {
                rdn.sort();
                rdns.push(std::mem::take(&mut rdn));
            }
            if end.is_none() {
                break;
            }
        }
        // RFC 4514 §2.1: the string lists the RDNs last first.
        rdns.reverse();
        Ok(Self(rdns, text.trim().to_string()))
    }

    /// A certificate's subject (or issuer); `None` when a value is not a
    /// string.
    pub fn from_name(name: &X509Name<'_>) -> Option<Self> {
        let mut rdns = Vec::new();
        for rdn in name.iter() {
            let mut set = Vec::new();
            for attr in rdn.iter() {
                let value = attr.as_str().ok()?;
                set.push((attr.attr_type().to_id_string(), normalise(value)));
            }
            set.sort();
            rdns.push(set);
        }
        Some(Self(rdns, name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4514_strings_compare_as_names() {
        let a = Dn::parse("CN=inventory,O=Example").unwrap();
        for same in [
            "cn=Inventory, o=example",
            "CN = inventory , O = Example",
            "2.5.4.3=inventory,2.5.4.10=Example",
            "CN=inv\\65ntory,O=Example",
        ] {
            assert_eq!(Dn::parse(same).unwrap(), a, "{same}");
        }
        for other in [
            "O=Example,CN=inventory",
            "CN=inventory",
            "CN=inventory,O=Example,C=DE",
            "CN=inventory2,O=Example",
        ] {
            assert_ne!(Dn::parse(other).unwrap(), a, "{other}");
        }
        assert_eq!(
            Dn::parse("CN=a+UID=b,O=x").unwrap(),
            Dn::parse("UID=b+CN=a,O=x").unwrap()
        );
        assert_eq!(
            Dn::parse("CN=Smith\\, John,O=x").unwrap().0[1][0].1,
            "smith, john"
        );
        for bad in ["", "CN", "=x", "FOO=bar", "CN=#0403", "CN=a\\"] {
            assert!(Dn::parse(bad).is_err(), "{bad}");
        }
    }
}
