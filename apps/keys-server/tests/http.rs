//! HTTP tests against the real server on port 0 (SQLite always, Postgres when configured).

mod common;

use std::time::Duration;

use common::{spawn_app_on, spawn_apps};
use serde_json::Value;

const HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
];

#[tokio::test]
async fn api_lists_filters_and_pages() {
    for (db, app) in spawn_apps().await {
        let (status, all) = app.get_json("/api/v1/keys?per_page=100").await;
        assert_eq!(status, 200, "{db:?}");
        let total = all["total"].as_u64().unwrap();
        assert!(total >= 24, "{db:?}: {total} KEYS");
        let items = all["items"].as_array().unwrap();
        assert_eq!(items.len() as u64, total);
        for field in [
            "slug",
            "name",
            "kind",
            "tier",
            "latest_version",
            "summary",
            "released_at",
        ] {
            assert!(items.iter().all(|i| i[field].is_string()), "{field} on every item");
        }
        for kind in ["node-next", "runbook", "jupyter"] {
            let (_, page) = app.get_json(&format!("/api/v1/keys?kind={kind}&per_page=100")).await;
            let n = page["total"].as_u64().unwrap();
            assert!(n >= 8, "{db:?}: {kind} has {n}");
            assert!(page["items"].as_array().unwrap().iter().all(|i| i["kind"] == kind));
        }
        // Every filter narrows and is honoured.
        let (_, sre) = app.get_json("/api/v1/keys?role=sre&per_page=100").await;
        assert!(
            sre["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["roles"].as_array().unwrap().contains(&Value::from("sre")))
        );
        let (_, inc) = app
            .get_json("/api/v1/keys?category=incident-response&intent=respond-to-incidents&tier=scale")
            .await;
        for i in inc["items"].as_array().unwrap() {
            assert_eq!(i["tier"], "scale");
            assert!(
                i["categories"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from("incident-response"))
            );
        }
        // Text search.
        let (_, pg) = app.get_json("/api/v1/keys?q=postgres%20failover").await;
        assert_eq!(pg["items"][0]["slug"], "postgres-failover-runbook", "{db:?}: {pg}");
        // Pagination.
        let (_, p1) = app.get_json("/api/v1/keys?per_page=5&page=1").await;
        let (_, p2) = app.get_json("/api/v1/keys?per_page=5&page=2").await;
        assert_eq!((p1["page"].as_u64(), p1["per_page"].as_u64()), (Some(1), Some(5)));
        assert_eq!(p1["items"].as_array().unwrap().len(), 5);
        assert_ne!(p1["items"][0]["slug"], p2["items"][0]["slug"]);
        assert_eq!(p1["total"], all["total"]);
        assert_eq!(p1["items"][0]["slug"], all["items"][0]["slug"]);
        assert_eq!(p2["items"][0]["slug"], all["items"][5]["slug"]);
    }
}

#[tokio::test]
async fn api_detail_and_errors() {
    for (db, app) in spawn_apps().await {
        let (status, key) = app.get_json("/api/v1/keys/postgres-failover-runbook").await;
        assert_eq!(status, 200, "{db:?}");
        assert_eq!(key["slug"], "postgres-failover-runbook");
        let versions = key["versions"].as_array().unwrap();
        assert!(versions.len() >= 2);
        assert_eq!(versions[0]["version"], key["latest_version"]);
        for v in versions {
            assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
            assert!(v["size_bytes"].as_u64().unwrap() > 0);
            assert!(v["released_at"].as_str().unwrap().starts_with("20"));
        }
        assert!(!key["preview"]["files"].as_array().unwrap().is_empty());
        assert!(
            !key["preview"]["outline"].as_array().unwrap().is_empty(),
            "runbook outline"
        );
        let (_, nb) = app.get_json("/api/v1/keys?kind=jupyter&per_page=1").await;
        let slug = nb["items"][0]["slug"].as_str().unwrap();
        let (_, nb) = app.get_json(&format!("/api/v1/keys/{slug}")).await;
        assert!(
            !nb["preview"]["notebook_cells"].as_array().unwrap().is_empty(),
            "notebook cells"
        );

        let (status, missing) = app.get_json("/api/v1/keys/no-such-key").await;
        assert_eq!(status, 404);
        assert_eq!(missing["error"], "not_found");

        for (param, value) in [
            ("kind", "video"),
            ("tier", "gold"),
            ("role", "wizard"),
            ("intent", "fly"),
            ("category", "nope"),
            ("sort", "price"),
            ("page", "0"),
            ("per_page", "1000"),
        ] {
            let (status, err) = app.get_json(&format!("/api/v1/keys?{param}={value}")).await;
            assert_eq!(status, 400, "{param}");
            assert_eq!(err["parameter"], param);
            assert!(err["message"].as_str().unwrap().contains(value), "{err}");
        }
    }
}

#[tokio::test]
async fn pages_render_and_fail_clearly() {
    for (db, app) in spawn_apps().await {
        let (status, html) = app.get_text("/marketplace").await;
        assert_eq!(status, 200, "{db:?}");
        assert!(html.contains("KEYS found"));
        assert!(html.contains("PostgreSQL Failover Runbook"));
        let (_, html) = app.get_text("/marketplace?q=stripe&kind=node-next").await;
        assert!(html.contains("data-slug=\"next-stripe-checkout\""), "{html}");
        assert!(!html.contains("data-slug=\"postgres-failover-runbook\""));
        // A page forgives what the API refuses: the bad filter is left out, with a notice.
        let (status, html) = app.get_text("/marketplace?tier=gold").await;
        assert_eq!(status, 200);
        assert!(
            html.contains("Tier “gold” is not one of the choices, so it was left out."),
            "{html}"
        );
        let (status, html) = app.get_text("/marketplace/postgres-failover-runbook").await;
        assert_eq!(status, 200);
        for needle in [
            "PostgreSQL Failover Runbook",
            "Runbook outline",
            "id=\"versions\"",
            "sha256 ",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
        let (status, html) = app.get_text("/marketplace/no-such-key").await;
        assert_eq!(status, 404);
        assert!(html.contains("No such KEY"));
        // Search text is escaped, never interpreted.
        let (_, html) = app.get_text("/marketplace?q=%3Cscript%3Ealert(1)%3C/script%3E").await;
        assert!(!html.contains("<script>alert(1)"), "search text must be escaped");
        let r = app.get("/").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/marketplace");
    }
}

#[tokio::test]
async fn security_headers_health_and_openapi() {
    let db = test_support::sqlite_database();
    let app = spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    // Twice: the second round of catalog pages comes from the response cache.
    let paths = [
        "/marketplace",
        "/marketplace/nope",
        "/api/v1/keys",
        "/api/v1/keys/nope",
        "/healthz",
        "/nowhere",
        "/api/docs",
    ];
    for path in paths.iter().chain(paths.iter()).copied() {
        let r = app.get(path).await;
        for (name, value) in HEADERS {
            assert_eq!(
                r.headers().get(*name).map(|v| v.to_str().unwrap()),
                Some(*value),
                "{path}: {name}"
            );
        }
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if !path.starts_with("/api/docs") {
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        }
    }
    assert_eq!(
        app.get_json("/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(app.get_json("/readyz").await.0, 200);
    let (status, spec) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(spec["paths"]["/keys"]["get"].is_object(), "{spec}");
    assert!(spec["paths"]["/keys/{slug}"]["get"].is_object());
    for (path, method) in [
        ("/keys/{slug}/download", "post"),
        ("/skus", "get"),
        ("/quotes", "get"),
        ("/me/orders", "get"),
        ("/admin/orders", "post"),
        ("/admin/orders/{id}/refund", "post"),
        ("/me/entitlements", "get"),
        ("/auth/login", "post"),
    ] {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let quote_params: Vec<&str> = spec["paths"]["/quotes"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(quote_params, ["sku", "org"]);
    let params: Vec<&str> = spec["paths"]["/keys"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        [
            "q", "kind", "tier", "role", "intent", "category", "sort", "page", "per_page"
        ]
    );
    let (status, docs) = app.get_text("/api/docs").await;
    assert_eq!(status, 200);
    assert!(docs.to_lowercase().contains("swagger"));
    app.stop().await.unwrap();
}

/// Two server instances on one database: a KEY ingested elsewhere appears on both (the
/// snapshot follows the catalog revision), and graceful shutdown returns cleanly.
#[tokio::test]
async fn instances_share_the_database() {
    for db in test_support::databases().await {
        let empty = tempfile::tempdir().unwrap();
        let a = spawn_app_on(&db, empty.path()).await;
        let b = spawn_app_on(&db, empty.path()).await;
        assert_eq!(a.get_json("/api/v1/keys").await.1["total"], 0);

        // An ingest run (as keys-ingest would do) against the same database.
        let settings = common::settings(&db.url, &a.data_dir, &test_support::repo_assets_dir());
        let infra = infra::Infra::connect(&settings).await.unwrap();
        let report = infra
            .ingestor()
            .run(
                &test_support::repo_assets_dir(),
                ingest::IngestOptions {
                    concurrency: 4,
                    ..Default::default()
                },
                &ingest::NoProgress,
            )
            .await
            .unwrap();
        assert!(report.added >= 24);
        for app in [&a, &b] {
            let mut seen = 0;
            for _ in 0..50 {
                seen = app.get_json("/api/v1/keys").await.1["total"].as_u64().unwrap();
                if seen as usize == report.added {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(seen as usize, report.added, "{db:?}: instance sees the new catalog");
        }
        a.stop().await.unwrap();
        b.stop().await.unwrap();
    }
}

/// The catalog API answers the same to everyone, so one cached answer serves anonymous and
/// signed-in callers alike (issue 16); a bad token is still refused before the cache is asked.
#[tokio::test]
async fn the_catalog_api_answers_everyone_alike_and_tokens_are_still_checked() {
    for (db, app) in spawn_apps().await {
        let cookie = common::sign_up(&app, "ada@keys.test").await;
        let path = "/api/v1/keys?q=postgres&per_page=5";
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status(), 200, "{db:?}");
        let anonymous = anonymous.bytes().await.unwrap();
        for _ in 0..2 {
            let (status, signed_in) = app.get_text_with_cookie(path, &cookie).await;
            assert_eq!(status, 200, "{db:?}");
            assert_eq!(
                signed_in.as_bytes(),
                anonymous.as_ref(),
                "{db:?}: the same answer signed in"
            );
        }
        for bad in ["Bearer keys_forged", "Basic x"] {
            let r = app
                .client
                .get(app.url(path))
                .header("authorization", bad)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                401,
                "{db:?}: `{bad}` is refused, never answered from the cache"
            );
        }
    }
}

/// A page without its personal parts (what lies between `<!--personal:NAME-->` markers), and
/// how many parts it had.
fn shared_part(page: &str) -> (String, usize) {
    let mut out = String::new();
    let mut rest = page;
    let mut parts = 0;
    while let Some(at) = rest.find("<!--personal:") {
        let name_end = at + rest[at..].find("-->").unwrap();
        let name = &rest[at + "<!--personal:".len()..name_end];
        let close = format!("<!--/personal:{name}-->");
        let end = rest.find(&close).expect("a closed personal part");
        out.push_str(&rest[..at]);
        rest = &rest[end + close.len()..];
        parts += 1;
    }
    out.push_str(rest);
    (out, parts)
}

/// A signed-in page is the anonymous page of the same URL with only its personal parts
/// rendered for the buyer (issue 16): outside the parts, byte for byte the same.
#[tokio::test]
async fn signed_in_pages_differ_from_the_anonymous_ones_only_in_their_personal_parts() {
    for (db, app) in spawn_apps().await {
        let cookie = common::sign_up(&app, "ada@keys.test").await;
        for (path, parts, anonymous_says, buyer_says) in [
            (
                "/marketplace/postgres-failover-runbook",
                3,
                "id=\"sign-in-to-buy\"",
                "Not in your library yet",
            ),
            (
                "/marketplace?q=postgres",
                1,
                "Answer three questions",
                // The buyer just viewed a KEY page: recommended from that view.
                "Recommended for you",
            ),
        ] {
            for _ in 0..2 {
                let (s, anonymous) = app.get_text(path).await;
                assert_eq!(s, 200, "{db:?} {path}");
                let (s, signed_in) = app.get_text_with_cookie(path, &cookie).await;
                assert_eq!(s, 200, "{db:?} {path}");
                let (a, n) = shared_part(&anonymous);
                let (b, m) = shared_part(&signed_in);
                assert_eq!((n, m), (parts, parts), "{db:?} {path}: its personal parts");
                assert!(a == b, "{db:?} {path}: the shared part differs");
                assert!(
                    anonymous.contains(anonymous_says) && signed_in.contains(buyer_says),
                    "{db:?} {path}"
                );
            }
        }
    }
}
