//! `GET /jwks`: the prebuilt JWK Set with `Cache-Control`, a strong `ETag`,
//! and `If-None-Match` evaluated as RFC 9110 §13.1.2 says.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::state::AppState;

pub async fn jwks(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.snapshot();
    let not_modified = none_match(req.headers(), &snapshot.jwks_etag);
    let mut res = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, snapshot.jwks_etag.as_str()))
        .insert_header((header::CACHE_CONTROL, snapshot.jwks_cache_control.as_str()));
    if not_modified {
        return res.finish();
    }
    res.content_type("application/json")
        .body(snapshot.jwks_body.clone())
}

/// True when `If-None-Match` matches `etag`: `*`, or any listed tag equal
/// under weak comparison (the `W/` prefix ignored on both sides).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn if_none_match_uses_weak_comparison_over_a_list() {
        let check = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(v));
            none_match(&h, "\"abc\"")
        };
        assert!(check("\"abc\""));
        assert!(check("W/\"abc\""));
        assert!(check("\"x\", W/\"abc\""));
        assert!(check("*"));
        assert!(!check("\"abcd\""));
        assert!(!check("abc"));
    }
}
