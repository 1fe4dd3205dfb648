//! What an operator relies on: request ids (generated, or a trusted proxy's), echoed in
//! `X-Request-Id` and in JSON error bodies; `/readyz` with `Retry-After` when not ready.

mod common;

#[tokio::test]
async fn every_request_has_an_id_in_its_header_and_json_errors() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let r = app.get("/api/v1/keys/no-such-key").await;
    assert_eq!(r.status(), 404);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str(), "{body}");
    assert_eq!(body["error"], "not_found");
    // Pages and successes carry the header too; two requests, two ids.
    let a = app.get("/marketplace").await.headers()["x-request-id"].clone();
    let b = app.get("/marketplace").await.headers()["x-request-id"].clone();
    assert_ne!(a, b);
    // An id sent by a client that is not a trusted proxy is not believed.
    let r = app
        .client
        .get(app.url("/api/v1/keys/nope"))
        .header("x-request-id", "from-the-client")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "from-the-client");
    app.stop().await.unwrap();

    // Behind a trusted proxy (here: loopback), its id is kept — a bad one is replaced.
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("server.trusted_proxies", "127.0.0.1/32".into())],
    )
    .await;
    let r = app
        .client
        .get(app.url("/api/v1/keys/nope"))
        .header("x-request-id", "edge-7f3a.42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "edge-7f3a.42");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], "edge-7f3a.42");
    let r = app
        .client
        .get(app.url("/api/v1/keys/nope"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "bad id with spaces");
    app.stop().await.unwrap();
}

/// The value of the sample `name{labels}` in a scrape (`None` when absent).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l[series.len()..].trim().parse().ok())
}

/// `GET /metrics` on its own listener (never on the public port), behind the bearer token:
/// requests by route template (never the raw path) and status with a latency histogram, the
/// pool, the inbox by state with the oldest pending event's age, events applied by this
/// process, the outbox, the catalog revision. SQLite and Postgres.
#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn metrics_are_scraped_from_their_own_listener_with_a_token() {
    const TOKEN: &str = "scrape-token-0123456789";
    for db in test_support::databases().await {
        let app = common::spawn_app_with(
            &db,
            &test_support::repo_assets_dir(),
            &[
                ("metrics.bind", "127.0.0.1:0".into()),
                ("metrics.token", TOKEN.into()),
                ("worker.poll_ms", "20".into()),
            ],
        )
        .await;
        let at = app.metrics.expect("metrics.bind was set");
        let scrape = |token: Option<&str>| {
            let mut r = app.client.get(format!("http://{at}/metrics"));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        assert_eq!(scrape(None).await.unwrap().status(), 401, "{db:?}");
        assert_eq!(scrape(Some("wrong-token-0123456789")).await.unwrap().status(), 401);
        assert_eq!(app.get("/metrics").await.status(), 404, "not on the public port");

        for _ in 0..2 {
            assert_eq!(app.get("/marketplace").await.status(), 200);
        }
        assert_eq!(app.get("/marketplace/disk-full-recovery").await.status(), 200);
        assert_eq!(app.get("/no/such/page-12345").await.status(), 404);
        // A purchase in local payment mode: its events are applied by this server's worker.
        let ada = common::sign_up(&app, "ada@example.com").await;
        common::buy_locally(&app, &ada, "key:disk-full-recovery").await;

        let mut text = String::new();
        for _ in 0..100 {
            let r = scrape(Some(TOKEN)).await.unwrap();
            assert_eq!(r.status(), 200);
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/openmetrics-text"),
            );
            text = r.text().await.unwrap();
            if sample(&text, "keys_inbox_applied_total").unwrap_or(0.0) >= 1.0
                && sample(&text, "keys_inbox_events{state=\"pending\"}") == Some(0.0)
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            sample(&text, "keys_inbox_applied_total").unwrap() >= 1.0,
            "{db:?}: {text}"
        );
        assert!(
            sample(&text, "keys_inbox_events{state=\"done\"}").unwrap() >= 1.0,
            "{text}"
        );
        assert_eq!(sample(&text, "keys_inbox_events{state=\"dead\"}"), Some(0.0), "{text}");
        assert_eq!(
            sample(&text, "keys_inbox_oldest_pending_age_seconds"),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                "keys_http_requests_total{method=\"GET\",route=\"/marketplace\",status=\"200\"}"
            ),
            Some(2.0),
            "a cached answer is counted under its route too: {text}"
        );
        assert_eq!(
            sample(
                &text,
                "keys_http_requests_total{method=\"GET\",route=\"/marketplace/:slug\",status=\"200\"}"
            ),
            Some(1.0),
            "{text}"
        );
        assert!(
            sample(
                &text,
                "keys_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
            )
            .is_some(),
            "{text}"
        );
        assert!(!text.contains("page-12345"), "raw paths never become labels");
        assert!(
            text.contains(
                "keys_http_request_duration_seconds_bucket{le=\"0.0005\",method=\"GET\",route=\"/marketplace\"}"
            ) || text.contains(
                "keys_http_request_duration_seconds_bucket{method=\"GET\",route=\"/marketplace\",le=\"0.0005\"}"
            ),
            "{text}"
        );
        assert!(sample(&text, "keys_db_pool_max_connections").unwrap() >= 1.0, "{text}");
        assert!(
            sample(&text, "keys_db_pool_connections{state=\"in_use\"}").is_some(),
            "{text}"
        );
        assert!(
            sample(&text, "keys_db_pool_connections{state=\"idle\"}").is_some(),
            "{text}"
        );
        assert!(sample(&text, "keys_catalog_revision").unwrap() >= 1.0, "{text}");
        // The sign-up's confirmation and the receipt are queued mail (sent or pending).
        let mail: f64 = ["pending", "sent", "dead"]
            .iter()
            .map(|s| sample(&text, &format!("keys_mail_outbox{{state=\"{s}\"}}")).unwrap())
            .sum();
        assert!(mail >= 2.0, "{text}");
        assert_eq!(sample(&text, "keys_up"), Some(1.0));
        app.stop().await.unwrap();
    }
}

/// A metrics setting that cannot work stops the start with a message naming it.
#[test]
fn bad_metrics_settings_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value, needle) in [
        ("metrics.bind", "localhost", "metrics.bind"),
        ("metrics.token", "short", "metrics.token"),
        ("database.statement_timeout_ms", "5", "database.statement_timeout_ms"),
    ] {
        let mut overrides = vec![("data_dir", dir.path().display().to_string())];
        overrides.push((key, value.to_owned()));
        let err = infra::Settings::load(None, &overrides).unwrap_err().to_string();
        assert!(err.contains(needle), "{key}={value}: {err}");
    }
}
