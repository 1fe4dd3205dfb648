//! Issue 16's correctness rule, with two `keys-server` processes on one Postgres and one data
//! directory: each instance keeps sessions and holdings in memory, and a revoked session, a
//! sign-out, a refund and a removed organisation member take effect on **both** within one
//! second — the change made through one instance (or by hand in SQL), the effect measured on
//! the other. A control first proves the instances really answer from memory (with the
//! notification trigger switched off, a session revoked by hand stays usable), so the rest
//! cannot pass by reading the database every time.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

const KEY: &str = "kubernetes-incident-response";
const PASSWORD: &str = "correct horse battery";
/// The promise: every instance within one second.
const WITHIN: Duration = Duration::from_secs(1);

struct Instance {
    child: std::process::Child,
    base: String,
}

impl Instance {
    fn start(data: &Path, db_url: &str) -> Self {
        let (child, url) = common::server_process(
            data,
            &[("KEYS__DATABASE__URL", db_url), ("KEYS__WORKER__POLL_MS", "20")],
        );
        let base = url.trim_end_matches('/').trim_end_matches("/marketplace").to_owned();
        Self { child, base }
    }
}

async fn call(
    client: &Client,
    at: &Instance,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}{path}", at.base);
    let mut rb = match method {
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        _ => client.post(url),
    };
    if !cookie.is_empty() {
        rb = rb.header("cookie", cookie);
    }
    rb = match body {
        Some(b) => rb.json(&b),
        None if method != "GET" => rb.header("content-type", "application/json"),
        None => rb,
    };
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn cookie_of(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keys_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// Signs up on `at` (email confirmed in the database, as `common::confirm_email` does).
async fn sign_up(client: &Client, at: &Instance, db_url: &str, email: &str) -> (String, i64) {
    let r = client
        .post(format!("{}/api/v1/auth/signup", at.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "sign-up of {email}");
    let cookie = cookie_of(&r);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    test_support::execute(
        db_url,
        &format!("UPDATE accounts SET email_verified_at = now() WHERE id = {id}"),
    )
    .await;
    (cookie, id)
}

async fn sign_in(client: &Client, at: &Instance, email: &str) -> String {
    let r = client
        .post(format!("{}/api/v1/auth/login", at.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "sign-in of {email}");
    cookie_of(&r)
}

/// Polls `check` on `at` every 10 ms until it answers `want`; answers how long that took from
/// `since`, failing after 5 s.
async fn until(
    client: &Client,
    at: &Instance,
    since: Instant,
    want: u16,
    (method, path, cookie): (&str, &str, &str),
) -> Duration {
    loop {
        let (s, body) = call(client, at, method, path, cookie, None).await;
        if s == want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "{method} {path} on {} still answers {s} ({body}), not {want}",
            at.base
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_every_instance_within_one_second() {
    let Some(db) = test_support::postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = Instance::start(dir.path(), &db.url);
    let mut b = Instance::start(dir.path(), &db.url);
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let me = ("GET", "/api/v1/me/entitlements");
    let download = format!("/api/v1/keys/{KEY}/download");
    let mut took = Vec::new();
    // Each instance trusts its memory once its first heartbeat came back (every 200 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;

    // Control: with the trigger off, a session revoked by hand stays usable on both instances
    // — they answer from memory — until the row changes again with the trigger on.
    let (ctl, ctl_id) = sign_up(&client, &a, &db.url, "control@keys.test").await;
    for at in [&a, &b] {
        assert_eq!(call(&client, at, me.0, me.1, &ctl, None).await.0, 200);
    }
    test_support::execute(&db.url, "ALTER TABLE sessions DISABLE TRIGGER keys_access_sessions").await;
    test_support::execute(
        &db.url,
        &format!("UPDATE sessions SET revoked_at = now() WHERE account_id = {ctl_id}"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for at in [&a, &b] {
        assert_eq!(
            call(&client, at, me.0, me.1, &ctl, None).await.0,
            200,
            "{}: served from memory (the control)",
            at.base
        );
    }
    test_support::execute(&db.url, "ALTER TABLE sessions ENABLE TRIGGER keys_access_sessions").await;
    test_support::execute(
        &db.url,
        &format!("UPDATE sessions SET revoked_at = revoked_at WHERE account_id = {ctl_id}"),
    )
    .await;
    let since = Instant::now();
    for at in [&a, &b] {
        took.push((
            "revoked in SQL",
            until(&client, at, since, 401, (me.0, me.1, &ctl)).await,
        ));
    }

    // Sign-out on A: the cookie stops working on B.
    let (ada, _) = sign_up(&client, &a, &db.url, "ada@keys.test").await;
    assert_eq!(call(&client, &b, me.0, me.1, &ada, None).await.0, 200);
    assert_eq!(
        call(&client, &a, "POST", "/api/v1/auth/logout", &ada, None).await.0,
        204
    );
    let since = Instant::now();
    took.push(("sign-out", until(&client, &b, since, 401, (me.0, me.1, &ada)).await));

    // "Sign out everywhere" on A revokes a session opened on B.
    let (bob_a, _) = sign_up(&client, &a, &db.url, "bob@keys.test").await;
    let bob_b = sign_in(&client, &b, "bob@keys.test").await;
    assert_eq!(call(&client, &b, me.0, me.1, &bob_b, None).await.0, 200);
    let (s, _) = call(&client, &a, "POST", "/api/v1/auth/logout-everywhere", &bob_a, None).await;
    assert!(s == 200 || s == 204, "logout-everywhere: {s}");
    let since = Instant::now();
    took.push((
        "session revoked",
        until(&client, &b, since, 401, (me.0, me.1, &bob_b)).await,
    ));

    // A refund through A (paid in the local payment mode, applied by a worker): B stops issuing
    // download links at once.
    let (admin, admin_id) = sign_up(&client, &a, &db.url, "admin@keys.test").await;
    test_support::execute(
        &db.url,
        &format!("UPDATE accounts SET is_admin = true, admin_since = now() WHERE id = {admin_id}"),
    )
    .await;
    let (cy, _) = sign_up(&client, &a, &db.url, "cy@keys.test").await;
    assert_eq!(
        call(&client, &b, "POST", &download, &cy, None).await.0,
        403,
        "not bought yet"
    );
    let (s, checkout) = call(
        &client,
        &a,
        "POST",
        "/api/v1/checkout",
        &cy,
        Some(json!({"sku": format!("key:{KEY}")})),
    )
    .await;
    assert_eq!(s, 200, "{checkout}");
    let order = checkout["order_id"].as_i64().unwrap();
    let session = checkout["session_id"].as_str().unwrap().to_owned();
    let page = client
        .get(format!("{}/pay/local/{session}", a.base))
        .header("cookie", &cy)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let paid = client
        .post(format!("{}/pay/local/{session}", a.base))
        .header("cookie", &cy)
        .form(&[("csrf", common::csrf_in(&page)), ("action", "pay".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    let since = Instant::now();
    took.push((
        "purchase (worker)",
        until(&client, &b, since, 200, ("POST", &download, &cy)).await,
    ));
    let (s, r) = call(
        &client,
        &a,
        "POST",
        &format!("/api/v1/admin/orders/{order}/refund"),
        &admin,
        Some(json!({"reason": "customer asked"})),
    )
    .await;
    assert!(s == 200 || s == 202, "refund: {s} {r}");
    let since = Instant::now();
    took.push((
        "refund (worker)",
        until(&client, &b, since, 403, ("POST", &download, &cy)).await,
    ));
    assert_eq!(call(&client, &a, "POST", &download, &cy, None).await.0, 403);

    // A member removed on A loses the organisation's KEY on B.
    let (owner, _) = sign_up(&client, &a, &db.url, "owner@acme.test").await;
    let (dee, dee_id) = sign_up(&client, &a, &db.url, "dee@acme.test").await;
    let (_, org) = call(
        &client,
        &a,
        "POST",
        "/api/v1/orgs",
        &owner,
        Some(json!({"name": "Acme"})),
    )
    .await;
    let org_id = org["id"].as_i64().unwrap();
    let (_, invite) = call(
        &client,
        &a,
        "POST",
        &format!("/api/v1/orgs/{org_id}/invites"),
        &owner,
        Some(json!({"role": "member"})),
    )
    .await;
    let token = invite["token"].as_str().unwrap();
    assert_eq!(
        call(&client, &b, "POST", &download, &dee, None).await.0,
        403,
        "not a member yet"
    );
    assert_eq!(
        call(
            &client,
            &a,
            "POST",
            &format!("/api/v1/invites/{token}/accept"),
            &dee,
            None
        )
        .await
        .0,
        200
    );
    let (s, r) = call(
        &client,
        &a,
        "POST",
        "/api/v1/admin/entitlements",
        &admin,
        Some(json!({"organisation": org_id, "key": KEY, "reason": "team pilot"})),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    let since = Instant::now();
    took.push((
        "organisation grant",
        until(&client, &b, since, 200, ("POST", &download, &dee)).await,
    ));
    assert_eq!(
        call(
            &client,
            &a,
            "DELETE",
            &format!("/api/v1/orgs/{org_id}/members/{dee_id}"),
            &owner,
            None
        )
        .await
        .0,
        204
    );
    let since = Instant::now();
    took.push((
        "member removed",
        until(&client, &b, since, 403, ("POST", &download, &dee)).await,
    ));
    assert_eq!(call(&client, &a, "POST", &download, &dee, None).await.0, 403);

    for (what, t) in &took {
        eprintln!("{what}: on the other instance after {} ms", t.as_millis());
        assert!(*t < WITHIN, "{what}: took {t:?}, more than {WITHIN:?}");
    }
    for i in [&mut a, &mut b] {
        common::terminate(&mut i.child, Duration::from_secs(10));
    }
}
