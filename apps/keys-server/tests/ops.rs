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
