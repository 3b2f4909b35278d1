//! The `Authorization` header (HTTP Basic, RFC 6749 §2.3.1, RFC 9110 §11).
//! Besides not panicking: every refusal's description is §5.2-clean and
//! short, an accepted header yields at least one id and one secret, the
//! label helper names the same client, and the raw candidates, base64'd
//! again, parse back to the same credential.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tokenmint::oauth::credentials::{extract, named_client_id, AuthHeader, Credential};
use tokenmint::oauth::form::Form;
use tokenmint_fuzz::check_error;

fuzz_target!(|data: &[u8]| {
    let none = Form::default();

    match extract(AuthHeader::Repeated, &none) {
        Ok(_) => panic!("a repeated Authorization header was accepted"),
        Err(e) => check_error(&e),
    }

    match extract(AuthHeader::One(data), &none) {
        Err(e) => {
            check_error(&e);
            assert_eq!(named_client_id(AuthHeader::One(data), None), None);
        }
        Ok(Credential::Basic(secret)) => {
            assert!(!secret.ids.is_empty() && secret.ids.len() <= 2);
            assert!(!secret.secrets.is_empty() && secret.secrets.len() <= 2);
            assert_eq!(
                named_client_id(AuthHeader::One(data), None).as_ref(),
                Some(&secret.ids[0])
            );
            // The last candidate is the value as sent (before §2.3.1 decoding).
            let (id, pass) = (secret.ids.last().unwrap(), secret.secrets.last().unwrap());
            assert!(!id.contains(':'), "the id ends at the first colon");
            let again = format!("Basic {}", STANDARD.encode(format!("{id}:{pass}")));
            match extract(AuthHeader::One(again.as_bytes()), &none) {
                Ok(Credential::Basic(s)) => {
                    assert_eq!(s.ids, secret.ids);
                    assert_eq!(s.secrets, secret.secrets);
                }
                other => panic!("re-encoded credentials did not parse back: {other:?}"),
            }
        }
        Ok(other) => panic!("a header gave a credential that is not Basic: {other:?}"),
    }
});
