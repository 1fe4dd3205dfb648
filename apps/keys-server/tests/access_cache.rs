//! Issue 16's correctness rule, with two `keys-server` processes on one Postgres and one data
//! directory: each instance keeps sessions and holdings in memory, and a revoked session, a
//! sign-out, a refund and a removed organisation member take effect on **both** within one
//! second — the change made through one instance (or by hand in SQL), the effect measured on
//! the other. Controls prove the instances really answer from memory (with a notification
//! trigger switched off, a change made by hand is not seen), so the rest cannot pass by reading
//! the database every time — and that redeeming a download link never trusts that memory.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Served, buy_locally, send, sign_up_account};
use reqwest::Client;
use serde_json::{Value, json};

const KEY: &str = "kubernetes-incident-response";
/// The promise: every instance within one second.
const WITHIN: Duration = Duration::from_secs(1);

struct Instance {
    child: std::process::Child,
    base: String,
    db_url: String,
    client: Client,
}

impl Instance {
    fn start(data: &Path, db_url: &str) -> Self {
        let (child, url) = common::server_process(
            data,
            &[("KEYS__DATABASE__URL", db_url), ("KEYS__WORKER__POLL_MS", "20")],
        );
        Self {
            child,
            base: url.trim_end_matches('/').trim_end_matches("/marketplace").to_owned(),
            db_url: db_url.to_owned(),
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }
}

impl Served for Instance {
    fn client(&self) -> &Client {
        &self.client
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn db_url(&self) -> &str {
        &self.db_url
    }
}

async fn call(at: &Instance, method: &str, path: &str, cookie: &str, body: Option<Value>) -> u16 {
    send(at, method, path, Some(cookie), body).await.0
}

async fn sign_in(at: &Instance, email: &str) -> String {
    let r = at
        .client
        .post(at.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "sign-in of {email}");
    common::session_cookie_of(&r).expect("a session cookie")
}

/// Polls `method path` as `cookie` on `at` every 10 ms until it answers `want`; answers how
/// long that took from `since`, failing after 5 s.
async fn until(at: &Instance, since: Instant, want: u16, (method, path, cookie): (&str, &str, &str)) -> Duration {
    loop {
        let (s, body) = send(at, method, path, Some(cookie), None).await;
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

async fn sql(at: &Instance, statement: &str) {
    test_support::execute(at.db_url(), statement).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_every_instance_within_one_second() {
    let Some(db) = test_support::postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = Instance::start(dir.path(), &db.url);
    let mut b = Instance::start(dir.path(), &db.url);
    let me = ("GET", "/api/v1/me/entitlements");
    let download = format!("/api/v1/keys/{KEY}/download");
    let mut took = Vec::new();
    // Each instance trusts its memory once its first heartbeat came back (every 200 ms).
    tokio::time::sleep(Duration::from_millis(600)).await;

    // Control: with the trigger off, a session revoked by hand stays usable on both instances
    // — they answer from memory — until the row changes again with the trigger on.
    let (ctl, ctl_id) = sign_up_account(&a, "control@keys.test").await;
    for at in [&a, &b] {
        assert_eq!(call(at, me.0, me.1, &ctl, None).await, 200);
    }
    sql(&a, "ALTER TABLE sessions DISABLE TRIGGER keys_access_sessions").await;
    sql(
        &a,
        &format!("UPDATE sessions SET revoked_at = now() WHERE account_id = {ctl_id}"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for at in [&a, &b] {
        assert_eq!(
            call(at, me.0, me.1, &ctl, None).await,
            200,
            "{}: served from memory (the control)",
            at.base
        );
    }
    sql(&a, "ALTER TABLE sessions ENABLE TRIGGER keys_access_sessions").await;
    sql(
        &a,
        &format!("UPDATE sessions SET revoked_at = revoked_at WHERE account_id = {ctl_id}"),
    )
    .await;
    let since = Instant::now();
    for at in [&a, &b] {
        took.push(("revoked in SQL", until(at, since, 401, (me.0, me.1, &ctl)).await));
    }

    // Sign-out on A: the cookie stops working on B.
    let (ada, _) = sign_up_account(&a, "ada@keys.test").await;
    assert_eq!(call(&b, me.0, me.1, &ada, None).await, 200);
    assert_eq!(call(&a, "POST", "/api/v1/auth/logout", &ada, None).await, 204);
    let since = Instant::now();
    took.push(("sign-out", until(&b, since, 401, (me.0, me.1, &ada)).await));

    // "Sign out everywhere" on A revokes a session opened on B.
    let (bob_a, _) = sign_up_account(&a, "bob@keys.test").await;
    let bob_b = sign_in(&b, "bob@keys.test").await;
    assert_eq!(call(&b, me.0, me.1, &bob_b, None).await, 200);
    assert_eq!(
        call(&a, "POST", "/api/v1/auth/logout-everywhere", &bob_a, None).await,
        200
    );
    let since = Instant::now();
    took.push(("session revoked", until(&b, since, 401, (me.0, me.1, &bob_b)).await));

    // A purchase through A (local payment mode, applied by a worker) reaches B.
    let (admin, admin_id) = sign_up_account(&a, "admin@keys.test").await;
    sql(
        &a,
        &format!("UPDATE accounts SET is_admin = true, admin_since = now() WHERE id = {admin_id}"),
    )
    .await;
    let (cy, cy_id) = sign_up_account(&a, "cy@keys.test").await;
    assert_eq!(call(&b, "POST", &download, &cy, None).await, 403, "not bought yet");
    let order = buy_locally(&a, &cy, &format!("key:{KEY}")).await;
    let since = Instant::now();
    took.push((
        "purchase (worker)",
        until(&b, since, 200, ("POST", &download, &cy)).await,
    ));

    // Control: redeeming a link re-checks the database, never the memory. With the trigger
    // off, Cy's entitlement moved away by hand is still believed when B issues a link, but
    // the link itself is refused.
    sql(&a, "ALTER TABLE entitlements DISABLE TRIGGER keys_access_entitlements").await;
    sql(
        &a,
        &format!("UPDATE entitlements SET holder_id = -holder_id WHERE holder_kind = 'user' AND holder_id = {cy_id}"),
    )
    .await;
    let (s, link) = send(&b, "POST", &download, Some(&cy), None).await;
    assert_eq!(s, 200, "issued from memory (the control): {link}");
    let redeemed = b
        .client
        .get(b.url(link["url"].as_str().unwrap()))
        .header("cookie", &cy)
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 403, "redemption re-checks the database");
    sql(&a, "ALTER TABLE entitlements ENABLE TRIGGER keys_access_entitlements").await;
    sql(
        &a,
        &format!("UPDATE entitlements SET holder_id = -holder_id WHERE holder_kind = 'user' AND holder_id = -{cy_id}"),
    )
    .await;

    // A refund through A: B stops issuing download links at once.
    let (s, r) = send(
        &a,
        "POST",
        &format!("/api/v1/admin/orders/{order}/refund"),
        Some(&admin),
        Some(json!({"reason": "customer asked"})),
    )
    .await;
    assert_eq!(s, 202, "refund: {r}");
    let since = Instant::now();
    took.push(("refund (worker)", until(&b, since, 403, ("POST", &download, &cy)).await));
    assert_eq!(call(&a, "POST", &download, &cy, None).await, 403);

    // A member removed on A loses the organisation's KEY on B.
    let (owner, _) = sign_up_account(&a, "owner@acme.test").await;
    let (dee, dee_id) = sign_up_account(&a, "dee@acme.test").await;
    let (_, org) = send(&a, "POST", "/api/v1/orgs", Some(&owner), Some(json!({"name": "Acme"}))).await;
    let org_id = org["id"].as_i64().unwrap();
    let invites = format!("/api/v1/orgs/{org_id}/invites");
    let (_, invite) = send(&a, "POST", &invites, Some(&owner), Some(json!({"role": "member"}))).await;
    let accept = format!("/api/v1/invites/{}/accept", invite["token"].as_str().unwrap());
    assert_eq!(call(&b, "POST", &download, &dee, None).await, 403, "not a member yet");
    assert_eq!(call(&a, "POST", &accept, &dee, None).await, 200);
    let grant = json!({"organisation": org_id, "key": KEY, "reason": "team pilot"});
    let (s, r) = send(&a, "POST", "/api/v1/admin/entitlements", Some(&admin), Some(grant)).await;
    assert_eq!(s, 201, "{r}");
    let since = Instant::now();
    took.push((
        "organisation grant",
        until(&b, since, 200, ("POST", &download, &dee)).await,
    ));
    let member = format!("/api/v1/orgs/{org_id}/members/{dee_id}");
    assert_eq!(call(&a, "DELETE", &member, &owner, None).await, 204);
    let since = Instant::now();
    took.push(("member removed", until(&b, since, 403, ("POST", &download, &dee)).await));
    assert_eq!(call(&a, "POST", &download, &dee, None).await, 403);

    for (what, t) in &took {
        eprintln!("{what}: on the other instance after {} ms", t.as_millis());
        assert!(*t < WITHIN, "{what}: took {t:?}, more than {WITHIN:?}");
    }
    for i in [&mut a, &mut b] {
        common::terminate(&mut i.child, Duration::from_secs(10));
    }
}
