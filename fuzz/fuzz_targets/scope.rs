//! The scope grammar (RFC 6749 §3.3). Besides not panicking: a parsed set
//! holds only scope-tokens, each once, in first-seen order; it re-parses
//! from its `as_str()` to the same set; and the grammar accepts exactly the
//! strings whose single-space-separated parts are all scope-tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenmint::scope::{is_scope_token, ScopeSet};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = value.split(' ').collect();
    let grammatical = parts.iter().all(|p| is_scope_token(p));
    match ScopeSet::parse(value) {
        None => assert!(
            !grammatical,
            "{value:?} follows the grammar but was refused"
        ),
        Some(set) => {
            assert!(grammatical, "{value:?} breaks the grammar but was accepted");
            assert!(!set.is_empty());
            let mut expected: Vec<&str> = Vec::new();
            for p in &parts {
                if !expected.contains(p) {
                    expected.push(p);
                }
            }
            let tokens: Vec<&str> = set.iter().collect();
            assert_eq!(tokens, expected);
            assert!(tokens.iter().all(|t| is_scope_token(t) && set.contains(t)));
            assert_eq!(ScopeSet::parse(set.as_str()), Some(set.clone()));
        }
    }
});
