//! Gated downloads against the real server (SQLite and Postgres; S3 when configured): who gets
//! a link, and every way a link must fail — tampered, expired, another account's, revoked after
//! issue.

mod common;

use common::sign_up;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const KEY: &str = "postgres-failover-runbook";

async fn post(app: &common::TestApp, path: &str, cookie: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut rb = app.client.post(app.url(path));
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &common::TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut rb = app.client.get(app.url(path));
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    rb.send().await.unwrap()
}

/// Grants KEY to `email` as the admin; returns the entitlement id.
async fn grant(app: &common::TestApp, admin: &str, email: &str) -> i64 {
    common::grant_key(app, admin, email, KEY).await
}

fn replace_segment(url: &str, index: usize, value: &str) -> String {
    let mut parts: Vec<String> = url.split('/').map(str::to_owned).collect();
    parts[index] = value.to_owned();
    parts.join("/")
}

#[tokio::test]
async fn links_only_for_owners_and_every_tampering_fails() {
    for (db, app) in common::spawn_apps().await {
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let bob = sign_up(&app, "bob@example.com").await;
        let path = format!("/api/v1/keys/{KEY}/download");

        assert_eq!(post(&app, &path, None, None).await.0, 401, "{db:?}");
        assert_eq!(post(&app, &path, Some(&ada), None).await.0, 403, "not entitled");
        assert_eq!(
            post(&app, "/api/v1/keys/no-such-key/download", Some(&ada), None)
                .await
                .0,
            404
        );
        grant(&app, &admin, "ada@example.com").await;
        assert_eq!(
            post(&app, &path, Some(&ada), Some(json!({"version": "9.9.9"}))).await.0,
            404,
            "unknown version"
        );

        let (_, detail) = app.get_json(&format!("/api/v1/keys/{KEY}")).await;
        let versions = detail["versions"].as_array().unwrap().clone();
        for v in &versions {
            let (s, link) = post(&app, &path, Some(&ada), Some(json!({"version": v["version"]}))).await;
            assert_eq!(s, 200, "{db:?}: {link}");
            let url = link["url"].as_str().unwrap().to_owned();
            assert!(link["expires_at"].as_str().unwrap().starts_with("20"));
            let r = get(&app, &url, Some(&ada)).await;
            assert_eq!(r.status(), 200, "{db:?}: owners download every version");
            assert_eq!(r.headers()["content-type"], "application/gzip");
            let body = r.bytes().await.unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&body)),
                v["sha256"].as_str().unwrap(),
                "the archive the catalog describes"
            );
        }
        // No body means the current version.
        let (s, link) = post(&app, &path, Some(&ada), None).await;
        assert_eq!(s, 200);
        let url = link["url"].as_str().unwrap().to_owned();
        assert!(url.contains(versions[0]["version"].as_str().unwrap()));

        // /dl/{account}/{slug}/{version}/{expires}/{sig}: any change breaks the signature.
        let sig = url.rsplit('/').next().unwrap().to_owned();
        let mut flipped = sig.clone();
        flipped.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        let older = versions.last().unwrap()["version"].as_str().unwrap();
        for bad in [
            replace_segment(&url, 6, &flipped),
            replace_segment(&url, 4, older),
            replace_segment(&url, 3, "next-stripe-checkout"),
            replace_segment(&url, 2, "999"),
            replace_segment(&url, 5, "99999999999"),
        ] {
            assert_eq!(get(&app, &bad, Some(&ada)).await.status(), 403, "{db:?}: {bad}");
        }
        // Another account, or no session, cannot use Ada's link.
        assert_eq!(get(&app, &url, Some(&bob)).await.status(), 403);
        assert_eq!(get(&app, &url, None).await.status(), 403);
        assert_eq!(get(&app, &url, Some(&ada)).await.status(), 200);

        // Revoked after the link was issued: refused at once.
        let (_, mine) = app
            .client
            .get(app.url("/api/v1/me/entitlements"))
            .header("cookie", &ada)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .map(|v| (0, v))
            .unwrap();
        let id = mine["items"][0]["id"].as_i64().unwrap();
        let (s, _) = post(
            &app,
            &format!("/api/v1/admin/entitlements/{id}/revoke"),
            Some(&admin),
            Some(json!({"reason": "refund"})),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            get(&app, &url, Some(&ada)).await.status(),
            403,
            "{db:?}: revoked after issue"
        );
        assert_eq!(post(&app, &path, Some(&ada), None).await.0, 403);

        // Every successful download was recorded.
        let conn = storage_sql::connect(&app.db_url, 1).await.unwrap();
        let n = storage_sql::downloads::download_count(&conn, 2, KEY).await.unwrap();
        assert_eq!(
            n as usize,
            versions.len() + 1,
            "{db:?}: one record per successful download, none for refused ones"
        );
    }
}

#[tokio::test]
async fn expired_links_fail() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("downloads.link_ttl_secs", "1".into())],
    )
    .await;
    let admin = common::sign_up_admin(&app, "admin@keys.test").await;
    let ada = sign_up(&app, "ada@example.com").await;
    grant(&app, &admin, "ada@example.com").await;
    let (_, link) = post(&app, &format!("/api/v1/keys/{KEY}/download"), Some(&ada), None).await;
    let url = link["url"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let r = get(&app, &url, Some(&ada)).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn s3_downloads_redirect_to_a_short_presigned_url() {
    let Some(ep) = test_support::s3_endpoint() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[
            ("storage.backend", "s3".into()),
            ("storage.s3.bucket", ep.bucket.clone()),
            ("storage.s3.endpoint", ep.endpoint.clone()),
            ("storage.s3.access_key_id", ep.access_key.clone()),
            ("storage.s3.secret_access_key", ep.secret_key.clone()),
            ("storage.s3.allow_http", "true".into()),
        ],
    )
    .await;
    let admin = common::sign_up_admin(&app, "admin@keys.test").await;
    let ada = sign_up(&app, "ada@example.com").await;
    grant(&app, &admin, "ada@example.com").await;
    let (_, link) = post(&app, &format!("/api/v1/keys/{KEY}/download"), Some(&ada), None).await;
    let r = get(&app, link["url"].as_str().unwrap(), Some(&ada)).await;
    assert_eq!(r.status(), 307);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&ep.endpoint) && location.contains("X-Amz-Expires=60"),
        "{location}"
    );
    let (_, detail) = app.get_json(&format!("/api/v1/keys/{KEY}")).await;
    let body = reqwest::get(&location).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        detail["versions"][0]["sha256"].as_str().unwrap()
    );
}

/// The KEY page's locked and unlocked states, `/account/keys`, and the no-JavaScript download
/// form (CSRF-checked, 303 to a signed link).
#[tokio::test]
async fn pages_show_locked_and_unlocked_states_and_download_without_javascript() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let page = |cookie: Option<String>| {
        let app = &app;
        async move {
            get(app, &format!("/marketplace/{KEY}"), cookie.as_deref())
                .await
                .text()
                .await
                .unwrap()
        }
    };
    assert!(
        page(None)
            .await
            .contains("id=\"sign-in-to-buy\">Sign in</a> or <a href=\"/signup?next=%2Fmarketplace%2F")
    );
    let admin = common::sign_up_admin(&app, "admin@keys.test").await;
    let ada = sign_up(&app, "ada@example.com").await;
    let locked = page(Some(ada.clone())).await;
    assert!(locked.contains("Not in your library yet") && !locked.contains("Download "));
    let library = get(&app, "/account/keys", Some(&ada)).await.text().await.unwrap();
    assert!(library.contains("id=\"library-empty\""));

    grant(&app, &admin, "ada@example.com").await;
    let unlocked = page(Some(ada.clone())).await;
    assert!(
        unlocked.contains("You own this KEY") && unlocked.contains("granted by support"),
        "{unlocked}"
    );
    assert!(
        unlocked.contains("Download 2.0.0") && unlocked.contains("Download 1.0.0"),
        "a button per version"
    );
    let library = get(&app, "/account/keys", Some(&ada)).await.text().await.unwrap();
    assert!(library.contains(&format!("data-slug=\"{KEY}\"")) && library.contains("granted by support"));

    let csrf = {
        let at = unlocked.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        unlocked[at..].split('"').next().unwrap().to_owned()
    };
    let form = |csrf: String| {
        let app = &app;
        let ada = ada.clone();
        async move {
            app.client
                .post(app.url(&format!("/marketplace/{KEY}/download")))
                .header("cookie", ada)
                .form(&[("csrf", csrf.as_str()), ("version", "1.0.0")])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(form("forged".into()).await.status(), 403);
    let r = form(csrf).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/dl/") && location.contains("/1.0.0/"),
        "{location}"
    );
    let r = get(&app, &location, Some(&ada)).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("{KEY}-1.0.0.tar.gz"))
    );
}

/// An s3s-fs server of this test's own, so the test can stop it.
struct OwnS3 {
    child: std::process::Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl OwnS3 {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("keys-down")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "down-key", "--secret-key", "down-secret"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs on PATH (.ci/services.sh installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("storage.backend", "s3".into()),
            ("storage.s3.bucket", "keys-down".into()),
            ("storage.s3.endpoint", self.endpoint.clone()),
            ("storage.s3.access_key_id", "down-key".into()),
            ("storage.s3.secret_access_key", "down-secret".into()),
            ("storage.s3.allow_http", "true".into()),
        ]
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The S3 server stops: a download answers 503 with a clear message and `Retry-After` (never
/// a redirect into a dead store); ingestion rejects every KEY, so no
/// catalog row points at an archive that is not stored. SQLite and Postgres.
#[tokio::test]
async fn with_s3_down_downloads_answer_503_and_ingestion_stores_nothing() {
    if test_support::s3_endpoint().is_none() {
        return; // no S3 peer here (required in CI, where s3s-fs is installed)
    }
    for db in test_support::databases().await {
        let mut s3 = OwnS3::start();
        let app = common::spawn_app_with(&db, &test_support::repo_assets_dir(), &s3.settings()).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        grant(&app, &admin, "ada@example.com").await;
        let (_, link) = post(&app, &format!("/api/v1/keys/{KEY}/download"), Some(&ada), None).await;
        let r = get(&app, link["url"].as_str().unwrap(), Some(&ada)).await;
        assert_eq!(r.status(), 307, "{db:?}: served while S3 is up");

        s3.stop();
        let (s, link) = post(&app, &format!("/api/v1/keys/{KEY}/download"), Some(&ada), None).await;
        assert_eq!(s, 200, "a link is issued without the store");
        let started = std::time::Instant::now();
        let r = get(&app, link["url"].as_str().unwrap(), Some(&ada)).await;
        let took = started.elapsed();
        assert_eq!(r.status(), 503, "{db:?}");
        assert!(r.headers().contains_key("retry-after"));
        let text = r.text().await.unwrap();
        assert!(text.contains("the file store is not answering"), "{text}");
        eprintln!("{db:?}: download with S3 down answered 503 in {took:?}");

        // Ingestion into a fresh shop while the store is down: every KEY is rejected, nothing
        // is in the catalog.
        let fresh = test_support::sqlite_database();
        let data = tempfile::tempdir().unwrap();
        let settings = common::settings_with(
            &fresh.url,
            data.path(),
            &test_support::repo_assets_dir(),
            &s3.settings(),
        );
        let infra = infra::Infra::connect(&settings).await.unwrap();
        let report = infra
            .ingestor()
            .run(
                &test_support::repo_assets_dir(),
                ingest::IngestOptions {
                    dry_run: false,
                    limits: settings.ingest_limits(),
                    concurrency: 2,
                },
                &ingest::NoProgress,
            )
            .await
            .unwrap();
        assert_eq!(report.added, 0, "{db:?}");
        assert!(report.rejected > 0);
        assert!(
            report.keys.iter().filter(|k| !k.errors.is_empty()).all(|k| k
                .errors
                .iter()
                .any(|e| e.to_string().contains("keys-down") || e.to_string().contains("127.0.0.1"))),
            "each rejection names the store: {:?}",
            report.keys.iter().find(|k| !k.errors.is_empty())
        );
        let fresh_app = common::spawn_app_with(
            &fresh,
            &test_support::repo_assets_dir(),
            &[("ingest.on_start", "false".into())],
        )
        .await;
        let (_, keys) = fresh_app.get_json("/api/v1/keys").await;
        assert_eq!(keys["total"], 0, "no catalog row without its archive: {keys}");
        fresh_app.stop().await.unwrap();
        app.stop().await.unwrap();
    }
}
