//! Supply chain (issue 18): the quick-xml advisories ignored in `deny.toml` (RUSTSEC-2026-0194,
//! RUSTSEC-2026-0195) need untrusted XML to be parsed. Every operation of the JSON API that takes
//! a body is sent an XML body built to trip both (thousands of duplicate attributes, a flood of
//! namespace declarations) with `Content-Type: application/xml`, by an admin with an API token
//! (so neither authentication nor CSRF stops it first): each answers 415 with a JSON problem,
//! never a parse of the body, and nothing changes.

mod common;

use common::{form_csrf, send, sign_up_admin};
use serde_json::{Value, json};

/// An XML document that would cost quadratic time (duplicate attribute names) and unbounded
/// allocation (namespace declarations) in the vulnerable quick-xml, kept under the body limit.
fn hostile_xml() -> String {
    let mut doc = String::from("<?xml version=\"1.0\"?><a");
    for i in 0..1_500 {
        doc.push_str(" x=\"1\"");
        doc.push_str(&format!(" xmlns:n{i}=\"urn:{i}\""));
    }
    doc.push_str("/>");
    doc
}

#[tokio::test]
async fn no_json_operation_accepts_an_xml_body() {
    let db = test_support::databases()
        .await
        .into_iter()
        .next()
        .expect("SQLite is always there");
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let cookie = sign_up_admin(&app, "xml-admin@example.com").await;
    let (s, t) = send(
        &app,
        "POST",
        "/api/v1/tokens",
        Some(&cookie),
        Some(json!({"name": "xml", "scope": "admin"})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_owned();
    // The session's own CSRF token: with it the cookie caller passes the guard too, so what
    // refuses the body is the JSON payload itself.
    let (csrf, _) = form_csrf(&app, "/account", Some(&cookie)).await;

    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, before) = send(&app, "GET", "/api/v1/me/orders", Some(&cookie), None).await;
    let xml = hostile_xml();
    assert!(xml.len() < 64 * 1024, "the body limit must not be what refuses it");
    let base = doc["servers"][0]["url"]
        .as_str()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned();
    let mut checked = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            // Path parameters get plausible values: the route must be reached, not 404.
            let concrete = path
                .split('/')
                .map(|seg| match seg {
                    s if s.starts_with('{') && s.contains("slug") => "postgres-failover-runbook",
                    s if s.starts_with('{') => "1",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/");
            let concrete = format!("{base}{concrete}");
            for caller in ["token", "session"] {
                let rb = match method.as_str() {
                    "post" => app.client.post(app.url(&concrete)),
                    "put" => app.client.put(app.url(&concrete)),
                    "patch" => app.client.patch(app.url(&concrete)),
                    "delete" => app.client.delete(app.url(&concrete)),
                    other => panic!("unexpected method {other} with a body on {path}"),
                };
                let rb = if caller == "token" {
                    rb.bearer_auth(&token)
                } else {
                    rb.header("cookie", &cookie).header("x-csrf-token", &csrf)
                };
                let r = rb
                    .header("content-type", "application/xml")
                    .body(xml.clone())
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                // API tokens may not touch credentials (403 before any body is read); the
                // session caller covers those routes.
                let token_refused = caller == "token"
                    && status == 403
                    && body["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("API tokens cannot"));
                assert!(
                    status == 415 || status == 400 || token_refused,
                    "{method} {path} answered {status} to an XML body from the {caller}: {body}"
                );
                assert!(
                    body.is_object(),
                    "{method} {path}: the refusal is a JSON problem, got {body}"
                );
            }
            checked.push(format!("{method} {path}"));
        }
    }
    assert!(checked.len() >= 10, "every operation with a body is tried: {checked:?}");
    let (_, after) = send(&app, "GET", "/api/v1/me/orders", Some(&cookie), None).await;
    assert_eq!(before, after, "nothing was bought or changed");
}
