//! The scope grammar of RFC 6749 §3.3:
//! `scope = scope-token *( SP scope-token )`,
//! `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
//! Exactly one space between tokens; no leading or trailing space.

/// Is `s` one scope-token?
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Parses a `scope` parameter into its tokens, in request order, without
/// duplicates. `None` when the value breaks the grammar.
pub fn parse(value: &str) -> Option<Vec<&str>> {
    let mut tokens: Vec<&str> = Vec::new();
    for token in value.split(' ') {
        if !is_scope_token(token) {
            return None;
        }
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc6749_grammar_is_enforced() {
        assert_eq!(parse("a"), Some(vec!["a"]));
        assert_eq!(
            parse("reports:read reports:write"),
            Some(vec!["reports:read", "reports:write"])
        );
        assert_eq!(parse("a a b"), Some(vec!["a", "b"]), "duplicates collapse");
        assert_eq!(
            parse("!#[]~"),
            Some(vec!["!#[]~"]),
            "boundary characters %x21 %x23 %x5B %x5D %x7E"
        );
        for bad in [
            "", " a", "a ", "a  b", "a\tb", "a\"b", "a\\b", "é", "a\u{7f}", "a\nb",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} must be refused");
        }
    }
}
