//! RFC 8414 metadata (docs/http-api.md) under both well-known names, and the
//! operations endpoints (docs/operations.md) on the public or the admin listener.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, ISSUER};

const PATHS: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

async fn metadata(app: &TestApp, path: &str) -> Value {
    let res = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let media = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(media.starts_with("application/json"), "{path}: {media}");
    res.json().await.unwrap()
}

fn sorted(value: &Value) -> Vec<String> {
    let mut items: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    items.sort();
    items
}

#[tokio::test]
async fn both_metadata_documents_describe_the_server_from_its_issuer() {
    let app = spawn_app().await;

    for path in PATHS {
        let doc = metadata(&app, path).await;

        assert_eq!(doc["issuer"], ISSUER, "{path}");
        assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth2/token"));
        assert_eq!(doc["jwks_uri"], format!("{ISSUER}/jwks"));
        assert_eq!(
            doc["introspection_endpoint"],
            format!("{ISSUER}/oauth2/introspect")
        );
        assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
        assert_eq!(
            sorted(&doc["token_endpoint_auth_methods_supported"]),
            ["client_secret_basic", "client_secret_post"]
        );
        assert!(doc["response_types_supported"].is_array(), "{doc}");
    }
}

#[tokio::test]
async fn the_two_metadata_names_serve_the_same_document() {
    let app = spawn_app().await;

    let a = metadata(&app, PATHS[0]).await;
    let b = metadata(&app, PATHS[1]).await;

    assert_eq!(a, b);
}

#[tokio::test]
async fn scopes_supported_is_the_sorted_union_of_the_clients_scopes() {
    let app = spawn_app().await;

    let doc = metadata(&app, PATHS[0]).await;

    assert_eq!(
        doc["scopes_supported"],
        json!(["admin", "reports:read", "reports:write"])
    );
}

#[tokio::test]
async fn signing_algs_list_the_algorithm_of_every_published_key() {
    let app = spawn_app_with(|cfg| cfg.algs = vec!["ES256", "EdDSA"]).await;

    for path in PATHS {
        let doc = metadata(&app, path).await;

        assert_eq!(
            sorted(&doc["access_token_signing_alg_values_supported"]),
            ["ES256", "EdDSA"],
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_advertised_endpoints_answer_on_the_server() {
    let app = spawn_app().await;
    let doc = metadata(&app, PATHS[0]).await;
    let local = |url: &Value| app.url(url.as_str().unwrap().strip_prefix(ISSUER).unwrap());

    let jwks = app.http.get(local(&doc["jwks_uri"])).send().await.unwrap();
    assert_eq!(jwks.status(), 200);
    let token = app
        .http
        .post(local(&doc["token_endpoint"]))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
}

mod ops {
    use super::*;

    #[tokio::test]
    async fn health_readiness_and_metrics_are_on_the_public_listener_by_default() {
        let app = spawn_app().await;

        for path in ["/healthz", "/readyz", "/metrics"] {
            let res = app.http.get(app.url(path)).send().await.unwrap();

            assert_eq!(res.status(), 200, "{path}");
        }
    }

    #[tokio::test]
    async fn with_an_admin_listener_the_public_one_answers_404_for_ops_paths() {
        let app = spawn_app_with(|cfg| cfg.admin = true).await;
        assert!(app.admin_address.is_some());

        for path in ["/metrics", "/healthz", "/readyz"] {
            let public = app.http.get(app.url(path)).send().await.unwrap();
            assert_eq!(public.status(), 404, "public {path}");
            assert_eq!(
                public
                    .headers()
                    .get("x-content-type-options")
                    .map(|v| v.to_str().unwrap()),
                Some("nosniff"),
                "every public response, 404 included"
            );

            assert_eq!(app.admin_get(path).await.status(), 200, "admin {path}");
        }
    }

    #[tokio::test]
    async fn metrics_count_token_requests_by_configured_client_and_result() {
        let app = spawn_app_with(|cfg| cfg.admin = true).await;
        app.token("svc", "svc-secret", "").await;
        let unknown = app
            .post_token(
                "no-such-client-7f3a",
                "whatever",
                "grant_type=client_credentials",
            )
            .await;
        assert_eq!(unknown.status(), 401);

        let res = app.admin_get("/metrics").await;
        assert_eq!(res.status(), 200);
        let media = res.headers()["content-type"].to_str().unwrap().to_string();
        let text = res.text().await.unwrap();

        assert!(media.starts_with("text/plain"), "{media}");
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            r#"tokenmint_token_requests_total{client_id="svc",result="issued"} 1"#,
            r#"tokenmint_token_requests_total{client_id="unknown",result="invalid_client"} 1"#,
        ] {
            assert!(lines.contains(&expected), "no line {expected} in\n{text}");
        }
        assert!(
            !text.contains("no-such-client-7f3a"),
            "an unknown id never becomes a label value"
        );
    }

    /// The value of one sample line of the exposition text, 0 when absent.
    fn sample(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_refused_request_is_counted_under_the_configured_client_it_names() {
        let app = spawn_app().await;
        let refused = [
            (
                "svc-secret",
                "grant_type=client_credentials&scope=admin&scope=admin",
            ),
            ("svc-secret", "grant_type=client_credentials&scope=%zz"),
            (
                "svc-secret",
                "grant_type=client_credentials&validity_period=0",
            ),
            ("wrong", "grant_type=client_credentials"),
        ];
        for (secret, body) in refused {
            let res = app.post_token("svc", secret, body).await;
            assert!(res.status().is_client_error(), "{body}");
        }

        let text = app.admin_get("/metrics").await.text().await.unwrap();

        let svc = |result: &str| {
            sample(
                &text,
                &format!(r#"tokenmint_token_requests_total{{client_id="svc",result="{result}"}}"#),
            )
        };
        assert_eq!(svc("invalid_request"), 3, "{text}");
        assert_eq!(svc("invalid_client"), 1, "{text}");
    }

    #[tokio::test]
    async fn metrics_never_make_a_series_per_unknown_path() {
        let app = spawn_app().await;
        let res = app
            .http
            .get(app.url("/no-such-path-91c2"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);

        let text = app.admin_get("/metrics").await.text().await.unwrap();

        assert!(
            text.contains("tokenmint_http_request_duration_seconds"),
            "{text}"
        );
        assert!(!text.contains("no-such-path-91c2"), "{text}");
    }

    #[tokio::test]
    async fn operations_series_exist_from_the_start_and_count_responses_by_route_and_status() {
        let app = spawn_app_with(|cfg| cfg.admin = true).await;
        app.token("svc", "svc-secret", "").await;
        let res = app
            .post_token("svc", "wrong", "grant_type=client_credentials")
            .await;
        assert_eq!(res.status(), 401);
        let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(!id.is_empty(), "a generated X-Request-Id");
        let echoed = app
            .http
            .get(app.url("/jwks"))
            .header("X-Request-Id", "trace-42")
            .send()
            .await
            .unwrap();
        assert_eq!(
            echoed.headers()["x-request-id"],
            "trace-42",
            "the caller's id is kept"
        );

        let text = app.admin_get("/metrics").await.text().await.unwrap();

        let version = env!("CARGO_PKG_VERSION");
        for series in [
            format!(r#"tokenmint_build_info{{version="{version}"}} 1"#),
            r#"tokenmint_throttled_total{dimension="source"} 0"#.into(),
            r#"tokenmint_throttled_total{dimension="client_source"} 0"#.into(),
            r#"tokenmint_http_responses_total{route="/oauth2/token",status="200"} 1"#.into(),
            r#"tokenmint_http_responses_total{route="/oauth2/token",status="401"} 1"#.into(),
            r#"tokenmint_config_reloads_total{result="failure"} 0"#.into(),
        ] {
            assert!(
                text.lines().any(|l| l == series),
                "no line {series} in\n{text}"
            );
        }
        let loaded = text
            .lines()
            .find_map(|l| l.strip_prefix("tokenmint_config_last_reload_success_timestamp_seconds "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap();
        assert!(loaded > 1.7e9, "a Unix time: {loaded}");
    }
}

#[tokio::test]
async fn only_the_authentication_methods_some_client_may_use_are_advertised() {
    let app = spawn_app_with(|cfg| {
        cfg.clients =
            "[[clients]]\nid = \"p\"\nsecret = \"s\"\nauth_methods = [\"client_secret_post\"]\n"
                .into();
    })
    .await;

    let doc: Value = crate::helpers::get_json(
        &app.http,
        &app.url("/.well-known/oauth-authorization-server"),
    )
    .await;

    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post"])
    );
}
