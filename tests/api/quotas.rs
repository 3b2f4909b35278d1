//! Per-client quotas: `quota = { per_hour, per_day }` caps the tokens a
//! client gets per fixed UTC window, exactly, however many requests arrive
//! at once; past it 429 `temporarily_unavailable` with `Retry-After` to the
//! window's end. Other clients and introspection are not affected.

use crate::helpers::{basic, spawn_app_with, DEFAULT_CLIENTS};

#[tokio::test]
async fn a_client_gets_exactly_its_hourly_quota_of_tokens_under_concurrency() {
    let app = spawn_app_with(|c| {
        c.clients = format!(
            "{DEFAULT_CLIENTS}\n[[clients]]\nid = \"metered\"\nsecret = \"metered-secret\"\n\
             scopes = [\"reports:read\"]\nquota = {{ per_hour = 5 }}\n"
        );
    })
    .await;
    let sends: Vec<_> = (0..30)
        .map(|_| {
            let req = app
                .http
                .post(app.url("/oauth2/token"))
                .header("Authorization", basic("metered", "metered-secret"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials");
            tokio::spawn(async move { req.send().await.unwrap() })
        })
        .collect();
    let mut issued = Vec::new();
    let mut refused = 0;
    for send in sends {
        let res = send.await.unwrap();
        match res.status().as_u16() {
            200 => issued.push(res.json::<serde_json::Value>().await.unwrap()),
            429 => {
                let retry: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=3600).contains(&retry), "Retry-After {retry}");
                let body: serde_json::Value = res.json().await.unwrap();
                assert_eq!(body["error"], "temporarily_unavailable");
                refused += 1;
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!((issued.len(), refused), (5, 25));

    // Another client is not metered; introspection does not count.
    let other = app
        .post_token("svc", "svc-secret", "grant_type=client_credentials")
        .await;
    assert_eq!(other.status(), 200);
    let token = issued[0]["access_token"].as_str().unwrap();
    let introspected: serde_json::Value = app
        .introspect("metered", "metered-secret", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("tokenmint_quota_exceeded_total{client_id=\"metered\"} 25"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_quota_without_a_cap_or_with_a_zero_cap_is_refused_naming_the_key() {
    for quota in ["{}", "{ per_day = 0 }"] {
        let started = crate::helpers::try_spawn_app_with(|c| {
            c.clients = format!(
                "[[clients]]\nid = \"m\"\nsecret = \"m-secret\"\nscopes = [\"s\"]\nquota = {quota}\n"
            );
        })
        .await;
        let error = format!("{:#}", started.err().expect("refused"));
        assert!(error.contains("clients[0].quota"), "{quota}: {error}");
    }
}
