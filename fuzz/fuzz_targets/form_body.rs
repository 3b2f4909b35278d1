//! The token and introspection request bodies (RFC 6749 §4.4.2, RFC 7662
//! §2.1) and the strict form decoder under them. Besides not panicking: an
//! accepted request holds only checked values, a body the form decoder
//! refuses is refused by both requests, and every refusal's description is
//! §5.2-clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenmint::oauth::credentials::AuthHeader;
use tokenmint::oauth::form::Form;
use tokenmint::oauth::request::{ClientRequest as _, IntrospectionRequest, TokenRequest};
use tokenmint::scope::{is_scope_token, ScopeSet};
use tokenmint_fuzz::check_error;

fuzz_target!(|data: &[u8]| {
    let form = Form::parse(data);
    if let Err(e) = &form {
        check_error(e);
    }

    match TokenRequest::parse(AuthHeader::Absent, data) {
        Ok(request) => {
            assert!(
                form.is_ok(),
                "a request from a body the form decoder refuses"
            );
            assert!(!request.grant_type.is_empty());
            if let Some(scope) = &request.scope {
                assert!(!scope.is_empty());
                assert!(scope.iter().all(is_scope_token));
                assert_eq!(ScopeSet::parse(scope.as_str()).as_ref(), Some(scope));
            }
            assert!(request.validity_period.is_none_or(|s| s >= 1));
            for (i, a) in request.audiences.iter().enumerate() {
                assert!(!a.is_empty());
                assert!(!request.audiences[..i].contains(a), "repeated audience");
            }
        }
        Err(rejected) => check_error(&rejected.error),
    }

    match IntrospectionRequest::parse(AuthHeader::Absent, data) {
        Ok(request) => {
            assert!(
                form.is_ok(),
                "a request from a body the form decoder refuses"
            );
            assert!(!request.token.is_empty());
        }
        Err(rejected) => check_error(&rejected.error),
    }
});
