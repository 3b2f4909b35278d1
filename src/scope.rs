//! The scope grammar of RFC 6749 §3.3:
//! `scope = scope-token *( SP scope-token )`,
//! `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
//! Exactly one space between tokens; no leading or trailing space.
//! A [`ScopeSet`] is a value that passed the grammar: after the request
//! edge no unchecked scope string travels.

/// Is `s` one scope-token?
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Scope tokens in order, without duplicates, held as the space-delimited
/// string the token's `scope` claim and the response carry (the grammar's
/// characters need no JSON escaping).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    joined: String,
}

impl ScopeSet {
    /// Parses a `scope` parameter; `None` when it breaks the grammar.
    pub fn parse(value: &str) -> Option<Self> {
        let mut set = Self::default();
        for token in value.split(' ') {
            if !is_scope_token(token) {
                return None;
            }
            set.insert(token);
        }
        Some(set)
    }

    /// Collects already-valid tokens (from the validated configuration).
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = Self::default();
        for token in tokens {
            set.insert(token);
        }
        set
    }

    fn insert(&mut self, token: &str) {
        if !self.contains(token) {
            if !self.joined.is_empty() {
                self.joined.push(' ');
            }
            self.joined.push_str(token);
        }
    }

    pub fn contains(&self, token: &str) -> bool {
        self.iter().any(|t| t == token)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.joined.split(' ').filter(|t| !t.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// The space-delimited form (empty for no scopes).
    pub fn as_str(&self) -> &str {
        &self.joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(value: &str) -> Option<Vec<String>> {
        ScopeSet::parse(value).map(|s| s.iter().map(str::to_string).collect())
    }

    #[test]
    fn the_rfc6749_grammar_is_enforced() {
        assert_eq!(tokens("a").unwrap(), ["a"]);
        assert_eq!(
            tokens("reports:read reports:write").unwrap(),
            ["reports:read", "reports:write"]
        );
        assert_eq!(tokens("a a b").unwrap(), ["a", "b"], "duplicates collapse");
        assert_eq!(
            ScopeSet::parse("a a b").unwrap().as_str(),
            "a b",
            "the joined form has each token once"
        );
        assert_eq!(
            tokens("!#[]~").unwrap(),
            ["!#[]~"],
            "boundary characters %x21 %x23 %x5B %x5D %x7E"
        );
        for bad in [
            "", " a", "a ", "a  b", "a\tb", "a\"b", "a\\b", "é", "a\u{7f}", "a\nb",
        ] {
            assert_eq!(tokens(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_set_from_configured_tokens_keeps_order_and_drops_repeats() {
        let set = ScopeSet::from_tokens(["b", "a", "b"]);
        assert_eq!(set.as_str(), "b a");
        assert!(set.contains("a") && !set.contains("c"));
        assert!(ScopeSet::from_tokens([]).is_empty());
    }
}
