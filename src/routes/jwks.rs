//! `GET /jwks`: the prebuilt JWK Set with `Cache-Control`, a strong `ETag`,
//! and `If-None-Match` evaluated as RFC 9110 §13.1.2 says (actix's typed
//! header: a list of tags or `*`, weak comparison).

use actix_web::http::header::{self, ETag, EntityTag, Header as _, IfNoneMatch};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::state::AppState;

pub async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshot();
    let not_modified = matches(IfNoneMatch::parse(&req).ok(), &snapshot.jwks_etag);
    let mut res = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header(ETag(snapshot.jwks_etag.clone()))
        .insert_header((header::CACHE_CONTROL, snapshot.jwks_cache_control.as_str()));
    if not_modified {
        return res.finish();
    }
    res.content_type("application/json")
        .body(snapshot.jwks_body.clone())
}

/// True when the condition names `etag` (weakly) or is `*`. An absent or
/// unparsable header matches nothing.
fn matches(condition: Option<IfNoneMatch>, etag: &EntityTag) -> bool {
    match condition {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(etag)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn if_none_match_uses_weak_comparison_over_a_list() {
        let ours = EntityTag::new_strong("abc".into());
        let check = |values: &[&'static str]| {
            let mut req = TestRequest::default();
            for v in values {
                req = req.append_header((header::IF_NONE_MATCH, *v));
            }
            matches(IfNoneMatch::parse(&req.to_http_request()).ok(), &ours)
        };
        assert!(check(&["\"abc\""]));
        assert!(check(&["W/\"abc\""]));
        assert!(check(&["\"x\", W/\"abc\""]));
        assert!(check(&["\"x\"", "\"abc\""]), "tags across header fields");
        assert!(check(&["*"]));
        assert!(!check(&["\"abcd\""]));
        assert!(!check(&["abc"]), "an unquoted tag is malformed");
        assert!(!check(&[]));
    }
}
