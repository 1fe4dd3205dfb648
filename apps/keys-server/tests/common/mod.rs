//! `spawn_app()`: the real server, started as `main` starts it, on port 0 against a fresh
//! database and object store.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use infra::Settings;
use keys_server::Application;
use test_support::TestDatabase;
use tokio::sync::oneshot;

pub struct TestApp {
    pub base: String,
    pub db_url: String,
    /// The settings the server was started with (operator commands run with them).
    pub settings: Settings,
    pub data_dir: PathBuf,
    pub client: reqwest::Client,
    /// The metrics listener, when `metrics.bind` was set.
    pub metrics: Option<std::net::SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _data: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn get_text_with_cookie(&self, path: &str, cookie: &str) -> (u16, String) {
        let r = self
            .client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }
}

/// A running server the helpers below talk to: an in-process [`TestApp`], or a `keys-server`
/// process started by a test ([`server_process`]).
pub trait Served {
    fn client(&self) -> &reqwest::Client;
    /// `path` on this server.
    fn url(&self, path: &str) -> String;
    /// Its database (for what a test does by hand, such as confirming an email).
    fn db_url(&self) -> &str;
}

impl Served for TestApp {
    fn client(&self) -> &reqwest::Client {
        &self.client
    }
    fn url(&self, path: &str) -> String {
        TestApp::url(self, path)
    }
    fn db_url(&self) -> &str {
        &self.db_url
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn settings(db_url: &str, data_dir: &Path, assets: &Path) -> Settings {
    settings_with(db_url, data_dir, assets, &[])
}

pub fn settings_with(db_url: &str, data_dir: &Path, assets: &Path, extra: &[(&'static str, String)]) -> Settings {
    let mut overrides: Vec<(&str, String)> = vec![
        ("server.bind", "127.0.0.1:0".into()),
        ("data_dir", data_dir.display().to_string()),
        ("database.url", db_url.to_owned()),
        ("database.max_connections", "4".into()),
        ("ingest.assets_dir", assets.display().to_string()),
        ("catalog.refresh_interval_ms", "100".into()),
        ("server.shutdown_grace_secs", "2".into()),
        // Stopping a test server needs no drain (tests/shutdown.rs measures the drain).
        ("server.shutdown_drain_ms", "0".into()),
        // Tests sign up many accounts from 127.0.0.1; the per-address sign-up throttle has its
        // own test with the default.
        ("auth.signups_per_hour", "1000".into()),
    ];
    overrides.extend(extra.iter().cloned());
    Settings::load(None, &overrides).unwrap()
}

/// Starts a server on `db` that ingests `assets` on start.
pub async fn spawn_app_on(db: &TestDatabase, assets: &Path) -> TestApp {
    spawn_app_with(db, assets, &[]).await
}

/// Like [`spawn_app_on`] with extra settings.
pub async fn spawn_app_with(db: &TestDatabase, assets: &Path, extra: &[(&'static str, String)]) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let settings = settings_with(&db.url, data.path(), assets, extra);
    let app = Application::build(&settings)
        .await
        .unwrap_or_else(|e| panic!("{db:?}: {e}"));
    let base = format!("http://{}", app.addr());
    let metrics = app.metrics_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        base,
        db_url: db.url.clone(),
        settings,
        data_dir: data.path().to_path_buf(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        metrics,
        stop: Some(tx),
        task: Some(task),
        _data: data,
    }
}

/// SQLite always, Postgres when configured: each with a server over the shipped keys-assets.
pub async fn spawn_apps() -> Vec<(TestDatabase, TestApp)> {
    let mut out = Vec::new();
    for db in test_support::databases().await {
        let app = spawn_app_on(&db, &test_support::repo_assets_dir()).await;
        out.push((db, app));
    }
    out
}

/// The `keys_session=…` pair a response sets, if any (`__Host-keys_session=…` when the shop's
/// public URL is HTTPS).
pub fn session_cookie_of(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keys_session=") || c.starts_with("__Host-keys_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// Signs up through the JSON API; returns the session cookie (`keys_session=…`) and the
/// account id.
pub async fn sign_up_account(app: &impl Served, email: &str) -> (String, i64) {
    let r = app
        .client()
        .post(app.url("/api/v1/auth/signup"))
        .json(&serde_json::json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "sign-up of {email}");
    let cookie = session_cookie_of(&r).expect("session cookie");
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    confirm_email(app, email).await;
    (cookie, id)
}

/// Marks the account with `email` confirmed, as if its owner had opened the link mailed at
/// sign-up (the link itself is tested in `email.rs` and the browser tests); buying needs it.
pub async fn confirm_email(app: &impl Served, email: &str) {
    test_support::execute(
        app.db_url(),
        &format!(
            "UPDATE accounts SET email_verified_at = CURRENT_TIMESTAMP WHERE email = '{}'",
            email.trim().to_lowercase().replace('\'', "")
        ),
    )
    .await;
}

/// Signs up through the JSON API, then the operator grants the admin role with the real
/// `keys-server admin grant` code path; returns the session cookie.
pub async fn sign_up_admin(app: &TestApp, email: &str) -> String {
    let cookie = sign_up(app, email).await;
    make_admin(app, email).await;
    cookie
}

/// `keys-server admin verify EMAIL`, then `keys-server admin grant EMAIL`, against the app's
/// database (the admin role needs a confirmed email).
pub async fn make_admin(app: &TestApp, email: &str) {
    keys_server::admin::run(
        &app.settings,
        &keys_server::admin::AdminCommand::Verify(email.to_owned()),
        "test-operator",
    )
    .await
    .unwrap();
    let lines = keys_server::admin::run(
        &app.settings,
        &keys_server::admin::AdminCommand::Grant(email.to_owned()),
        "test-operator",
    )
    .await
    .unwrap();
    assert!(lines.iter().any(|l| l.contains("admin_grant")), "{lines:?}");
}

/// Signs up through the JSON API and returns the session cookie (`keys_session=…`).
pub async fn sign_up(app: &TestApp, email: &str) -> String {
    sign_up_account(app, email).await.0
}

/// Grants KEY `key` to the account `email` as the admin (`admin` is their session cookie);
/// returns the entitlement id.
pub async fn grant_key(app: &TestApp, admin: &str, email: &str, key: &str) -> i64 {
    let (s, ent) = send(
        app,
        "POST",
        "/api/v1/admin/entitlements",
        Some(admin),
        Some(serde_json::json!({"email": email, "key": key, "reason": "test"})),
    )
    .await;
    assert_eq!(s, 201, "grant {key} to {email}: {ent}");
    ent["id"].as_i64().unwrap()
}

/// Sends a JSON request with an optional session cookie; answers status and JSON body (`Null`
/// when the body is not JSON).
pub async fn send(
    app: &impl Served,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut rb = match method {
        "GET" => app.client().get(app.url(path)),
        "DELETE" => app.client().delete(app.url(path)),
        _ => app.client().post(app.url(path)),
    };
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    } else if method != "GET" {
        // A JSON client: state-changing calls carry a JSON content type even without a body
        // (cookie-authenticated ones need it, or the X-CSRF-Token header).
        rb = rb.header("content-type", "application/json");
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// The CSRF token in the first form of a page (`name="csrf" value="…"`), fetched with an
/// optional cookie; also the `keys_csrf=…` cookie the page set, when it set one.
pub async fn form_csrf(app: &TestApp, path: &str, cookie: Option<&str>) -> (String, Option<String>) {
    let mut rb = app.client.get(app.url(path));
    if let Some(c) = cookie {
        rb = rb.header("cookie", c);
    }
    let r = rb.send().await.unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keys_csrf="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    let html = r.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{path} has no CSRF field"))
        .to_owned();
    (token, set)
}

/// The webhook inbox of a test database, for driving the worker by hand.
pub async fn inbox(db: &TestDatabase) -> std::sync::Arc<dyn payments::ports::InboxRepository> {
    std::sync::Arc::new(storage_sql::payments::SqlInbox::new(
        storage_sql::connect(&db.url, 2).await.unwrap(),
        payments::apply::Policy::default(),
        3,
    ))
}

/// Applies everything due; returns the outcomes.
pub async fn drain(inbox: &dyn payments::ports::InboxRepository) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    while let Some(p) = inbox.process_next(chrono::Utc::now()).await.unwrap() {
        out.push(p.outcome);
        assert!(out.len() < 500, "the inbox does not drain");
    }
    out
}

/// A Stripe-format event.
pub fn event(id: &str, kind: &str, object: serde_json::Value) -> String {
    payments::fixtures::event(id, kind, object, chrono::Utc::now().timestamp())
}

/// Posts a delivery to `/webhooks/stripe` with an optional `Stripe-Signature`.
pub async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> (u16, serde_json::Value) {
    let mut rb = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = signature {
        rb = rb.header("stripe-signature", s);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// The `Stripe-Signature` Stripe would send for `body` now.
pub fn signed(body: &str, secret: &str) -> Option<String> {
    Some(payments::signature::sign(
        body.as_bytes(),
        secret,
        chrono::Utc::now().timestamp(),
    ))
}

/// The `keys-webhook-worker` binary beside this test's executable. `cargo test --workspace`
/// builds it (the worker package has integration tests); a run of this package alone needs
/// `cargo build -p keys-webhook-worker` first.
pub fn worker_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(format!("keys-webhook-worker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p keys-webhook-worker` first (`cargo test --workspace` builds it)",
        bin.display()
    );
    bin
}

/// A `keys-webhook-worker run` process on `db_url` with its own data dir; its output goes to
/// files there (a pipe nobody reads would block it). Killed when dropped.
pub struct WorkerProcess {
    pub child: std::process::Child,
    pub data: tempfile::TempDir,
}

impl WorkerProcess {
    /// Starts one with extra `KEYS__…` environment variables.
    pub fn start(db_url: &str, env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(data.path().join("stdout.log")).unwrap();
        let err = std::fs::File::create(data.path().join("stderr.log")).unwrap();
        let child = std::process::Command::new(worker_bin())
            .arg("--data-dir")
            .arg(data.path())
            .arg("run")
            .env("KEYS__DATABASE__URL", db_url)
            .env("KEYS__LOG__FILTER", "warn")
            .envs(env.iter().copied())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        Self { child, data }
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (up to `limit`) for the exit; returns its success and stdout.
    pub fn terminate(mut self, limit: std::time::Duration) -> (bool, String) {
        let status = terminate(&mut self.child, limit);
        let out = std::fs::read_to_string(self.data.path().join("stdout.log")).unwrap_or_default();
        (status.success(), out)
    }

    /// What it logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.data.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CSRF token of the first form in `page`.
pub fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

/// Checks out `sku` as `cookie` and pays on the local checkout page; answers the order id.
pub async fn buy_locally(app: &impl Served, cookie: &str, sku: &str) -> i64 {
    let (s, r) = send(
        app,
        "POST",
        "/api/v1/checkout",
        Some(cookie),
        Some(serde_json::json!({"sku": sku})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    pay_locally(app, cookie, r["session_id"].as_str().unwrap()).await;
    r["order_id"].as_i64().unwrap()
}

/// Pays a local checkout session on its test page, as the browser would.
pub async fn pay_locally(app: &impl Served, cookie: &str, session: &str) {
    let page = app
        .client()
        .get(app.url(&format!("/pay/local/{session}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the pay page of {session}");
    let page = page.text().await.unwrap();
    let r = app
        .client()
        .post(app.url(&format!("/pay/local/{session}")))
        .header("cookie", cookie)
        .form(&[("csrf", csrf_in(&page)), ("action", "pay".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{session}");
}

/// A `keys-server` process (the binary, as the README runs it) on the data dir `data` with
/// the shipped KEYS and `env` (`KEYS__…`; no database URL from the caller's environment unless
/// `env` sets one). Answers it and the marketplace URL it printed.
pub fn server_process(data: &Path, env: &[(&str, &str)]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keys-server"))
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--assets")
        .arg(test_support::repo_assets_dir())
        .env_remove("KEYS__DATABASE__URL")
        .env("KEYS__LOG__FILTER", "warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next().expect("a line on stdout").unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    (child, url)
}

/// Sends SIGTERM to `child` and waits for its exit, failing the test after `limit`.
pub fn terminate(child: &mut std::process::Child, limit: std::time::Duration) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
    let started = std::time::Instant::now();
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(started.elapsed() < limit, "no exit within {limit:?} of SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
