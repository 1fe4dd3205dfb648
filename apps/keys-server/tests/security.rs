//! Security and money-integrity regressions (issue 11), against the real server on SQLite and
//! Postgres. Each test reproduces a finding of the review as an attacker (or an unlucky buyer)
//! would, and fails on the code before the fix.

mod common;

use common::{TestApp, deliver, drain, event, inbox, send, sign_up, sign_up_account, signed};
use serde_json::{Value, json};

const SECRET: &str = "whsec_security";

async fn app_on(db: &test_support::TestDatabase, extra: &[(&'static str, String)]) -> TestApp {
    let mut settings = vec![
        ("stripe.webhook_secrets", SECRET.to_owned()),
        ("worker.in_server", "false".to_owned()),
    ];
    settings.extend(extra.iter().cloned());
    common::spawn_app_with(db, &test_support::repo_assets_dir(), &settings).await
}

async fn order_of(app: &TestApp, cookie: &str, id: i64) -> Value {
    let (_, r) = send(app, "GET", "/api/v1/me/orders", Some(cookie), None).await;
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn owns(app: &TestApp, cookie: &str, key: &str) -> bool {
    let (s, _) = send(app, "POST", &format!("/api/v1/keys/{key}/download"), Some(cookie), None).await;
    s == 200
}

fn completed(session: &str, order: i64, amount: i64, currency: &str, pi: &str) -> Value {
    json!({"id": session, "object": "checkout.session", "client_reference_id": order.to_string(),
           "payment_status": "paid", "status": "complete", "amount_total": amount, "currency": currency,
           "payment_intent": pi, "subscription": null, "customer": "cus_x", "mode": "payment"})
}

async fn checkout(app: &TestApp, cookie: &str, sku: &str) -> (u16, Value) {
    send(app, "POST", "/api/v1/checkout", Some(cookie), Some(json!({"sku": sku}))).await
}

// ---- 1. Admin is a role in the database, never an email -------------------------------------

#[tokio::test]
async fn admin_is_a_stored_role_granted_only_by_the_operator() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        // Signing up with an address that used to be listed (any case) gives nothing.
        let eve = sign_up(&app, "Admin@Keys.Test").await;
        sign_up(&app, "ada@example.com").await;
        let grant = json!({"email": "ada@example.com", "key": "on-call-handbook", "reason": "x"});
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            Some(&eve),
            Some(grant.clone()),
        )
        .await;
        assert_eq!(s, 403, "{db:?}: an unverified address is not an admin");
        // The operator grants the role: checked on every request, from the database.
        common::make_admin(&app, "admin@keys.test").await;
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            Some(&eve),
            Some(grant.clone()),
        )
        .await;
        assert_eq!(s, 201, "{db:?}");
        let lines = keys_server::admin::run(&app.settings, &keys_server::admin::AdminCommand::List, "test-operator")
            .await
            .unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("admin@keys.test"), "{lines:?}");
        let lines = keys_server::admin::run(
            &app.settings,
            &keys_server::admin::AdminCommand::Revoke("admin@keys.test".into()),
            "test-operator",
        )
        .await
        .unwrap();
        assert!(
            lines[0].contains("admin_revoke") && lines[0].contains("test-operator"),
            "{lines:?}"
        );
        let (s, _) = send(&app, "POST", "/api/v1/admin/entitlements", Some(&eve), Some(grant)).await;
        assert_eq!(s, 403, "{db:?}: revoked at once, on the next request");
        // Granting to nobody says what to do.
        let err = keys_server::admin::run(
            &app.settings,
            &keys_server::admin::AdminCommand::Grant("nobody@example.com".into()),
            "test-operator",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("sign up first"), "{err}");
    }
}

#[test]
fn the_old_admin_email_setting_refuses_to_start_and_names_the_command() {
    let err = infra::Settings::load(None, &[("auth.admin_emails", "admin@keys.test".into())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("KEYS__AUTH__ADMIN_EMAILS") && err.contains("keys-server admin grant"),
        "{err}"
    );
}

// ---- 2. Organisation invites -----------------------------------------------------------------

#[tokio::test]
async fn a_removed_admins_invites_die_and_invites_can_be_listed_and_revoked() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let owner = sign_up(&app, "owner@acme.test").await;
        let (ada, ada_id) = sign_up_account(&app, "ada@acme.test").await;
        let (mallory, _) = sign_up_account(&app, "mallory@evil.test").await;
        let (carl, _) = sign_up_account(&app, "carl@acme.test").await;
        let (_, org) = send(
            &app,
            "POST",
            "/api/v1/orgs",
            Some(&owner),
            Some(json!({"name": "Acme"})),
        )
        .await;
        let org = org["id"].as_i64().unwrap();
        let invite = |cookie: String, role: &'static str| {
            let app = &app;
            async move {
                let (s, r) = send(
                    app,
                    "POST",
                    &format!("/api/v1/orgs/{org}/invites"),
                    Some(&cookie),
                    Some(json!({"role": role})),
                )
                .await;
                assert_eq!(s, 201, "{r}");
                r
            }
        };
        let to_ada = invite(owner.clone(), "admin").await;
        let (s, _) = send(
            &app,
            "POST",
            &format!("/api/v1/invites/{}/accept", to_ada["token"].as_str().unwrap()),
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200);
        // Ada, an admin, mints invites… then is removed.
        let kept = invite(ada.clone(), "admin").await;
        let (s, list) = send(&app, "GET", &format!("/api/v1/orgs/{org}/invites"), Some(&owner), None).await;
        assert_eq!(s, 200);
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{db:?}: {list}");
        assert_eq!(list["items"][0]["id"], kept["id"]);
        assert_eq!(list["items"][0]["created_by"], ada_id);
        assert!(list["items"][0].get("token").is_none(), "tokens are never listed");
        let (s, members) = send(&app, "GET", &format!("/api/v1/orgs/{org}/members"), Some(&owner), None).await;
        assert_eq!(s, 200);
        assert_eq!(
            members["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
                .collect::<Vec<_>>(),
            vec![("owner@acme.test", "owner"), ("ada@acme.test", "admin")]
        );
        let (s, _) = send(
            &app,
            "DELETE",
            &format!("/api/v1/orgs/{org}/members/{ada_id}"),
            Some(&owner),
            None,
        )
        .await;
        assert_eq!(s, 204);
        // Her invite died with her membership: she cannot come back through it.
        let (s, _) = send(
            &app,
            "POST",
            &format!("/api/v1/invites/{}/accept", kept["token"].as_str().unwrap()),
            Some(&mallory),
            None,
        )
        .await;
        assert_eq!(s, 404, "{db:?}: a removed admin's invite is dead");
        let (_, list) = send(&app, "GET", &format!("/api/v1/orgs/{org}/invites"), Some(&owner), None).await;
        assert!(list["items"].as_array().unwrap().is_empty(), "{db:?}: {list}");

        // An owner's invite can be revoked by id.
        let to_carl = invite(owner.clone(), "member").await;
        let id = to_carl["id"].as_str().unwrap();
        let (s, _) = send(
            &app,
            "DELETE",
            &format!("/api/v1/orgs/{org}/invites/{id}"),
            Some(&owner),
            None,
        )
        .await;
        assert_eq!(s, 204);
        let (s, _) = send(
            &app,
            "DELETE",
            &format!("/api/v1/orgs/{org}/invites/{id}"),
            Some(&owner),
            None,
        )
        .await;
        assert_eq!(s, 404, "revoked once");
        let (s, _) = send(
            &app,
            "POST",
            &format!("/api/v1/invites/{}/accept", to_carl["token"].as_str().unwrap()),
            Some(&carl),
            None,
        )
        .await;
        assert_eq!(s, 404, "{db:?}: a revoked invite is dead");

        // A plain member sees neither members nor invites; an outsider gets 404.
        let to_carl = invite(owner.clone(), "member").await;
        send(
            &app,
            "POST",
            &format!("/api/v1/invites/{}/accept", to_carl["token"].as_str().unwrap()),
            Some(&carl),
            None,
        )
        .await;
        for path in [
            format!("/api/v1/orgs/{org}/members"),
            format!("/api/v1/orgs/{org}/invites"),
        ] {
            let (s, _) = send(&app, "GET", &path, Some(&carl), None).await;
            assert_eq!(s, 403, "{db:?}: {path}");
            let (s, _) = send(&app, "GET", &path, Some(&mallory), None).await;
            assert_eq!(s, 404, "{db:?}: {path}");
        }
        let (s, _) = send(
            &app,
            "DELETE",
            &format!("/api/v1/orgs/{org}/invites/inv_0000000000000000"),
            Some(&carl),
            None,
        )
        .await;
        assert_eq!(s, 403);
    }
}

#[test]
fn invite_tokens_and_link_signatures_never_reach_the_access_log() {
    let logged = web::guard::redacted_path("/api/v1/invites/keys_inv_a1b2c3d4e5f6/accept");
    assert!(!logged.contains("keys_inv_a1b2c3d4e5f6"), "{logged}");
    assert_eq!(logged, "/api/v1/invites/[redacted]/accept");
}

// ---- 3 & 4. Checkouts are never cancelled while being paid; fulfilment checks the session,
// the amount and the currency ---------------------------------------------------------------

#[tokio::test]
async fn a_second_checkout_never_cancels_one_being_paid() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let sku = "key:redis-memory-pressure";
        let (s, first) = checkout(&app, &ada, sku).await;
        assert_eq!(s, 200);
        let first_id = first["order_id"].as_i64().unwrap();
        let session = first["session_id"].as_str().unwrap().to_owned();
        // Ada pays on the (local) checkout page: the payment starts, its event is on its way.
        let (csrf, _) = common::form_csrf(&app, &format!("/pay/local/{session}"), Some(&ada)).await;
        let r = app
            .client
            .post(app.url(&format!("/pay/local/{session}")))
            .header("cookie", &ada)
            .form(&[("csrf", csrf.as_str()), ("action", "pay")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        // Before the worker applies it, a second checkout for the same KEY: refused, and the
        // first order is not cancelled.
        let (s, r) = checkout(&app, &ada, sku).await;
        assert_eq!(s, 409, "{db:?}: {r}");
        assert!(r["message"].as_str().unwrap().contains("in progress"), "{r}");
        assert_eq!(order_of(&app, &ada, first_id).await["status"], "pending");
        // The payment lands: paid and granted, not "already cancelled".
        drain(inbox.as_ref()).await;
        assert_eq!(order_of(&app, &ada, first_id).await["status"], "paid", "{db:?}");
        assert!(owns(&app, &ada, "redis-memory-pressure").await);

        // An abandoned checkout (no payment started) is still replaced by a new one.
        let (_, a) = checkout(&app, &ada, "key:disk-full-recovery").await;
        let (s, b) = checkout(&app, &ada, "key:disk-full-recovery").await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(
            order_of(&app, &ada, a["order_id"].as_i64().unwrap()).await["status"],
            "cancelled"
        );
        // …and paying the replaced one is refused, never a second charge.
        let old = a["session_id"].as_str().unwrap();
        let (s, _) = app.get_text_with_cookie(&format!("/pay/local/{old}"), &ada).await;
        assert_eq!(s, 410, "{db:?}");
        // Cancelling the open one explicitly releases it.
        let b_id = b["order_id"].as_i64().unwrap();
        let (s, _) = send(
            &app,
            "POST",
            &format!("/api/v1/me/orders/{b_id}/cancel"),
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(order_of(&app, &ada, b_id).await["status"], "cancelled");
        let (s, _) = send(
            &app,
            "POST",
            &format!("/api/v1/me/orders/{first_id}/cancel"),
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 409, "a paid order is not a checkout to cancel");
    }
}

#[tokio::test]
async fn a_payment_for_a_cancelled_order_is_fulfilled_or_parked_never_dropped() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        // Order 1 is cancelled (replaced) while the buyer pays it elsewhere: nothing
        // conflicts, so the late payment is fulfilled.
        let (_, one) = checkout(&app, &ada, "key:disk-full-recovery").await;
        let (_, two) = checkout(&app, &ada, "key:disk-full-recovery").await;
        let one_id = one["order_id"].as_i64().unwrap();
        let cancelled = order_of(&app, &ada, one_id).await;
        assert_eq!(cancelled["status"], "cancelled");
        let due = cancelled["amount_due"]["minor"].as_i64().unwrap();
        let late = event(
            "evt_late_ok",
            "checkout.session.completed",
            completed(one["session_id"].as_str().unwrap(), one_id, due, "usd", "pi_late_1"),
        );
        assert_eq!(deliver(&app, &late, signed(&late, SECRET)).await.0, 200);
        drain(inbox.as_ref()).await;
        assert_eq!(order_of(&app, &ada, one_id).await["status"], "paid", "{db:?}");
        assert!(owns(&app, &ada, "disk-full-recovery").await);

        // Order 2 (the replacement, cancelled by the buyer) is then paid too: the buyer already
        // owns it through order 1 — parked as dead with the reason, for an admin to refund.
        let two_id = two["order_id"].as_i64().unwrap();
        send(
            &app,
            "POST",
            &format!("/api/v1/me/orders/{two_id}/cancel"),
            Some(&ada),
            None,
        )
        .await;
        let twice = event(
            "evt_late_twice",
            "checkout.session.completed",
            completed(two["session_id"].as_str().unwrap(), two_id, due, "usd", "pi_late_2"),
        );
        deliver(&app, &twice, signed(&twice, SECRET)).await;
        let outcomes = drain(inbox.as_ref()).await;
        assert!(outcomes.iter().any(Result::is_err), "{outcomes:?}");
        assert_eq!(order_of(&app, &ada, two_id).await["status"], "cancelled");
        let dead = inbox.list("dead", 10).await.unwrap();
        assert_eq!(dead.len(), 1, "{db:?}: {dead:?}");
        assert_eq!(dead[0].event_id, "evt_late_twice");
        let reason = dead[0].last_error.clone().unwrap_or_default();
        assert!(
            reason.contains("paid twice") && reason.contains("pi_late_2"),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn a_forged_or_foreign_payment_never_grants_anything() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let inbox = inbox(&db).await;
        let victim = sign_up(&app, "victim@example.com").await;
        let (_, pending) = checkout(&app, &victim, "bundle:incident-response-essentials").await;
        let order = pending["order_id"].as_i64().unwrap();
        let session = pending["session_id"].as_str().unwrap().to_owned();
        let due = order_of(&app, &victim, order).await["amount_due"]["minor"]
            .as_i64()
            .unwrap();
        let cases = [
            // A session the shop never created, naming someone's pending order, paying $1.00.
            (
                "evt_foreign",
                completed("cs_attacker", order, 100, "usd", "pi_a"),
                "not a checkout this shop opened",
            ),
            // The right session, the wrong amount.
            ("evt_cheap", completed(&session, order, 100, "usd", "pi_b"), "is due"),
            // The right session and amount, another currency.
            ("evt_yen", completed(&session, order, due, "jpy", "pi_c"), "is due"),
            // An expiry for a session that is not the order's.
            (
                "evt_foreign_expiry",
                json!({"id": "cs_other", "object": "checkout.session", "client_reference_id": order.to_string(),
                       "status": "expired", "payment_status": "unpaid"}),
                "not a checkout this shop opened",
            ),
        ];
        for (id, object, why) in cases {
            let kind = if id == "evt_foreign_expiry" {
                "checkout.session.expired"
            } else {
                "checkout.session.completed"
            };
            let body = event(id, kind, object);
            assert_eq!(deliver(&app, &body, signed(&body, SECRET)).await.0, 200);
            drain(inbox.as_ref()).await;
            let dead = inbox.list("dead", 10).await.unwrap();
            let row = dead
                .iter()
                .find(|d| d.event_id == id)
                .unwrap_or_else(|| panic!("{db:?}: {id} not dead: {dead:?}"));
            assert!(
                row.last_error.as_deref().unwrap_or_default().contains(why),
                "{id}: {row:?}"
            );
            assert_eq!(
                order_of(&app, &victim, order).await["status"],
                "pending",
                "{db:?}: {id}"
            );
            assert!(
                !owns(&app, &victim, "disk-full-recovery").await,
                "{db:?}: {id} granted nothing"
            );
        }
        // The genuine payment still goes through.
        let body = event(
            "evt_real",
            "checkout.session.completed",
            completed(&session, order, due, "usd", "pi_real"),
        );
        deliver(&app, &body, signed(&body, SECRET)).await;
        drain(inbox.as_ref()).await;
        assert_eq!(order_of(&app, &victim, order).await["status"], "paid", "{db:?}");
    }
}

// ---- 5. Organisation purchasing ---------------------------------------------------------------

#[tokio::test]
async fn only_owners_and_admins_buy_for_an_organisation() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let owner = sign_up(&app, "owner@acme.test").await;
        let member = sign_up(&app, "member@acme.test").await;
        let (_, org) = send(
            &app,
            "POST",
            "/api/v1/orgs",
            Some(&owner),
            Some(json!({"name": "Acme"})),
        )
        .await;
        let org = org["id"].as_i64().unwrap();
        let (_, inv) = send(
            &app,
            "POST",
            &format!("/api/v1/orgs/{org}/invites"),
            Some(&owner),
            Some(json!({"role": "member"})),
        )
        .await;
        send(
            &app,
            "POST",
            &format!("/api/v1/invites/{}/accept", inv["token"].as_str().unwrap()),
            Some(&member),
            None,
        )
        .await;
        let buy = json!({"sku": "key:disk-full-recovery", "org": org});
        let (s, r) = send(&app, "POST", "/api/v1/checkout", Some(&member), Some(buy.clone())).await;
        assert_eq!(s, 403, "{db:?}: {r}");
        let (s, _) = send(
            &app,
            "GET",
            &format!("/api/v1/quotes?sku=key:disk-full-recovery&org={org}"),
            Some(&member),
            None,
        )
        .await;
        assert_eq!(s, 403);
        let (s, r) = send(&app, "POST", "/api/v1/checkout", Some(&owner), Some(buy)).await;
        assert_eq!(s, 200, "{r}");
        let order = r["order_id"].as_i64().unwrap();
        // The member neither sees the organisation's pending checkout nor cancels it.
        let (_, mine) = send(&app, "GET", "/api/v1/me/orders", Some(&member), None).await;
        assert!(mine["items"].as_array().unwrap().is_empty(), "{db:?}: {mine}");
        let (s, _) = send(
            &app,
            "POST",
            &format!("/api/v1/me/orders/{order}/cancel"),
            Some(&member),
            None,
        )
        .await;
        assert_eq!(s, 404);
        let (s, _) = app
            .get_text_with_cookie(&format!("/checkout/return?order={order}"), &member)
            .await;
        assert_eq!(s, 404);
        let (_, theirs) = send(&app, "GET", "/api/v1/me/orders", Some(&owner), None).await;
        assert_eq!(theirs["items"][0]["id"], order);

        // A Buy form whose `org` is not an id is a 400 — never a purchase for yourself.
        let (csrf, _) = common::form_csrf(&app, "/account", Some(&member)).await;
        let r = app
            .client
            .post(app.url("/checkout"))
            .header("cookie", &member)
            .form(&[
                ("csrf", csrf.as_str()),
                ("sku", "key:disk-full-recovery"),
                ("org", "acme"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{db:?}");
        let (_, mine) = send(&app, "GET", "/api/v1/me/orders", Some(&member), None).await;
        assert!(
            mine["items"].as_array().unwrap().is_empty(),
            "{db:?}: nothing bought: {mine}"
        );
    }
}

// ---- 6. Partial refunds -----------------------------------------------------------------------

#[tokio::test]
async fn partial_refunds_are_capped_by_the_cash_still_refundable() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        sign_up(&app, "ada@example.com").await;
        let (s, o) = send(
            &app,
            "POST",
            "/api/v1/admin/orders",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "sku": "key:deploy-rollback-runbook", "reason": "invoice"})),
        )
        .await;
        assert_eq!(s, 201, "{o}");
        let id = o["id"].as_i64().unwrap();
        let paid = o["cash_paid"]["minor"].as_i64().unwrap();
        let refund = |amount: &str| {
            let app = &app;
            let admin = admin.clone();
            let body = json!({"amount": amount, "reason": "partial"});
            async move {
                send(
                    app,
                    "POST",
                    &format!("/api/v1/admin/orders/{id}/refund"),
                    Some(&admin),
                    Some(body),
                )
                .await
            }
        };
        let (s, r) = refund("40.00").await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["refunded"]["minor"], 4_000);
        // $40 of $49 is refunded: another $40 exceeds the $9 left, whatever the list value (a
        // conflict with what the order has left; a malformed amount is a 400).
        let (s, r) = refund("40.00").await;
        assert_eq!(s, 409, "{db:?}: {r}");
        let (s, _) = refund("0.00").await;
        assert_eq!(s, 400);
        assert!(r["message"].as_str().unwrap().contains("still refundable"), "{r}");
        let left = format!("{}.{:02}", (paid - 4_000) / 100, (paid - 4_000) % 100);
        let (s, r) = refund(&left).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["status"], "refunded", "{db:?}: the rest of the cash is a full refund");
    }
}

// ---- 7. Bodies are bounded; errors echo little -------------------------------------------------

#[tokio::test]
async fn large_bodies_are_refused_with_413_and_errors_echo_little() {
    let db = test_support::sqlite_database();
    let app = app_on(&db, &[]).await;
    let big = "x".repeat(200 * 1024);
    for path in ["/api/v1/auth/signup", "/api/v1/checkout", "/signup", "/checkout"] {
        let r = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "payload_too_large");
    }
    // A streamed (chunked, no length) body is cut at the limit too.
    assert_eq!(chunked_post(&app, "/api/v1/auth/signup", big.as_bytes()).await, 413);
    // Within the limit, a long bad value is echoed at most ~100 characters.
    let long = format!("{}@", "a".repeat(20_000));
    let (s, r) = send(
        &app,
        "POST",
        "/api/v1/auth/signup",
        None,
        Some(json!({"email": long, "password": "correct horse battery"})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(r["message"].as_str().unwrap().len() < 300, "{r}");
    let (s, r) = send(
        &app,
        "GET",
        &format!("/api/v1/quotes?sku=key:{}", "y".repeat(5_000)),
        None,
        None,
    )
    .await;
    assert!(s == 400 || s == 404, "{s}");
    assert!(r["message"].as_str().unwrap_or_default().len() < 300, "{r}");
}

/// POSTs `body` with `Transfer-Encoding: chunked` over a raw connection; returns the status.
async fn chunked_post(app: &TestApp, path: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(chunk);
        frame.extend_from_slice(b"\r\n");
        // The server may answer (and stop reading) before the end: that is the point.
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

// ---- 8. Password hashing never blocks the server: the semaphore is tested in
// `infra::hasher`, the 503 + Retry-After mapping in `crates/web/tests/readiness.rs`, and the
// latency under load by `.ci/bench-signin`.

// ---- 9. The sign-in throttle: atomic, progressive, proxies -------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_are_counted_and_the_owner_is_not_locked_out() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[("server.trusted_proxies", "127.0.0.1".into())]).await;
        sign_up(&app, "ada@example.com").await;
        let login = |password: &'static str, from: &'static str| {
            let client = app.client.clone();
            let url = app.url("/api/v1/auth/login");
            async move {
                let r = client
                    .post(url)
                    .header("x-forwarded-for", from)
                    .json(&json!({"email": "ada@example.com", "password": password}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.headers().get("retry-after").is_some())
            }
        };
        let guesses: Vec<_> = (0..10)
            .map(|_| tokio::spawn(login("wrong wrong wrong", "203.0.113.9")))
            .collect();
        let mut judged = 0;
        for g in guesses {
            match g.await.unwrap() {
                (401, _) => judged += 1,
                (429, true) => {}
                other => panic!("{db:?}: {other:?}"),
            }
        }
        assert_eq!(judged, 3, "{db:?}: exactly the free allowance was judged");
        // The owner, from their own address, gets in at once.
        assert_eq!(login("correct horse battery", "198.51.100.7").await.0, 200, "{db:?}");
        // A client that is not a trusted proxy cannot pick its address.
        let direct = common::spawn_app_with(&db, &test_support::repo_assets_dir(), &[]).await;
        for i in 0..4 {
            let r = direct
                .client
                .post(direct.url("/api/v1/auth/login"))
                .header("x-forwarded-for", format!("10.0.0.{i}"))
                .json(&json!({"email": "ada@example.com", "password": "wrong wrong wrong"}))
                .send()
                .await
                .unwrap();
            let want = if i < 3 { 401 } else { 429 };
            assert_eq!(r.status().as_u16(), want, "{db:?}: spoofed X-Forwarded-For {i}");
        }
    }
}

// ---- 11. Cookies, HSTS; 12. no-store -----------------------------------------------------------

#[tokio::test]
async fn https_shops_get_host_prefixed_secure_cookies_and_hsts() {
    let db = test_support::sqlite_database();
    let app = app_on(&db, &[("server.public_url", "https://shop.example".into())]).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with("__Host-keys_session=") && set.contains("; Secure") && set.contains("Path=/"),
        "{set}"
    );
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let (s, _) = send(&app, "GET", "/api/v1/me/orders", Some(&cookie), None).await;
    assert_eq!(s, 200, "the prefixed cookie is the session");
    let unprefixed = cookie.replacen("__Host-", "", 1);
    let (s, _) = send(&app, "GET", "/api/v1/me/orders", Some(&unprefixed), None).await;
    assert_eq!(s, 401, "the unprefixed name means nothing on an HTTPS shop");

    // A plain-HTTP shop: no Secure, no HSTS.
    let plain = app_on(&test_support::sqlite_database(), &[]).await;
    let r = plain.get("/marketplace").await;
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn personal_and_secret_answers_are_never_cached() {
    let db = test_support::sqlite_database();
    let app = app_on(&db, &[]).await;
    let ada = sign_up(&app, "ada@example.com").await;
    let (_, org) = send(&app, "POST", "/api/v1/orgs", Some(&ada), Some(json!({"name": "Acme"}))).await;
    let org = org["id"].as_i64().unwrap();
    let mut checks: Vec<(reqwest::Response, &str)> = Vec::new();
    for path in [
        "/account",
        "/account/keys",
        "/account/billing",
        "/api/v1/me/orders",
        "/api/v1/me/entitlements",
        "/marketplace/on-call-handbook",
    ] {
        let r = app
            .client
            .get(app.url(path))
            .header("cookie", &ada)
            .send()
            .await
            .unwrap();
        checks.push((r, path));
    }
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .header("cookie", &ada)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    checks.push((r, "token creation"));
    let r = app
        .client
        .post(app.url(&format!("/api/v1/orgs/{org}/invites")))
        .header("cookie", &ada)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    checks.push((r, "invite creation"));
    for (r, what) in checks {
        assert!(r.status().is_success(), "{what}: {}", r.status());
        assert_eq!(
            r.headers().get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{what}"
        );
    }
    // The anonymous catalog stays cacheable.
    assert!(app.get("/marketplace").await.headers().get("cache-control").is_none());
}

// ---- 13. Tokens: scope, expiry, no token-minting tokens; password change ----------------------

#[tokio::test]
async fn token_scopes_and_lifetimes_are_enforced() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        common::grant_key(&app, &admin, "ada@example.com", "on-call-handbook").await;
        let token = |cookie: String, body: Value| {
            let app = &app;
            async move { send(app, "POST", "/api/v1/tokens", Some(&cookie), Some(body)).await }
        };
        let (s, read) = token(ada.clone(), json!({"name": "dash", "scope": "read"})).await;
        assert_eq!(s, 201);
        let (s, dl) = token(ada.clone(), json!({"name": "ci"})).await;
        assert_eq!(
            (s, dl["scope"].as_str()),
            (201, Some("download")),
            "download by default"
        );
        let expires = chrono::DateTime::parse_from_rfc3339(dl["expires_at"].as_str().unwrap()).unwrap();
        let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
        assert!((89..=90).contains(&days), "90 days by default: {days}");
        let (s, short) = token(ada.clone(), json!({"name": "once", "expires_in_days": 1})).await;
        assert_eq!(s, 201, "{short}");
        let (s, _) = token(ada.clone(), json!({"name": "forever", "expires_in_days": 0})).await;
        assert_eq!(s, 400);
        let (s, _) = token(ada.clone(), json!({"name": "root", "scope": "admin"})).await;
        assert_eq!(s, 403, "{db:?}: admin tokens are for admins");
        let (s, root) = token(admin.clone(), json!({"name": "ops", "scope": "admin"})).await;
        assert_eq!(s, 201);

        let bearer = |t: &Value| format!("Bearer {}", t["token"].as_str().unwrap());
        let call = |method: &'static str, path: String, auth: String, body: Option<Value>| {
            let app = &app;
            async move {
                let mut rb = match method {
                    "GET" => app.client.get(app.url(&path)),
                    _ => app.client.post(app.url(&path)),
                };
                rb = rb.header("authorization", auth);
                if let Some(b) = body {
                    rb = rb.json(&b);
                }
                rb.send().await.unwrap().status().as_u16()
            }
        };
        let download = "/api/v1/keys/on-call-handbook/download".to_owned();
        assert_eq!(
            call("GET", "/api/v1/me/entitlements".into(), bearer(&read), None).await,
            200
        );
        assert_eq!(
            call("POST", download.clone(), bearer(&read), None).await,
            403,
            "{db:?}: read cannot download"
        );
        assert_eq!(call("POST", download.clone(), bearer(&dl), None).await, 200);
        assert_eq!(
            call(
                "POST",
                "/api/v1/checkout".into(),
                bearer(&dl),
                Some(json!({"sku": "key:disk-full-recovery"}))
            )
            .await,
            403,
            "download cannot buy"
        );
        assert_eq!(
            call(
                "POST",
                "/api/v1/tokens".into(),
                bearer(&root),
                Some(json!({"name": "x"}))
            )
            .await,
            403,
            "{db:?}: a token never creates tokens"
        );
        assert_eq!(
            call(
                "GET",
                "/api/v1/admin/customers?email=ada@example.com".into(),
                bearer(&dl),
                None
            )
            .await,
            403
        );
        assert_eq!(
            call(
                "GET",
                "/api/v1/admin/customers?email=ada@example.com".into(),
                bearer(&root),
                None
            )
            .await,
            200
        );
        // A download link issued to a token is usable with it, not with a read token.
        let r = app
            .client
            .post(app.url(&download))
            .header("authorization", bearer(&dl))
            .send()
            .await
            .unwrap();
        let url = r.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
        assert_eq!(call("GET", url.clone(), bearer(&read), None).await, 403);
        assert_eq!(call("GET", url, bearer(&dl), None).await, 200);
    }
}

#[tokio::test]
async fn password_change_and_sign_out_everywhere_end_other_sessions() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let here = sign_up(&app, "ada@example.com").await;
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        let there = common::session_cookie_of(&r).unwrap();
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/auth/password",
            Some(&here),
            Some(json!({"current_password": "wrong wrong wrong", "new_password": "a brand new secret"})),
        )
        .await;
        assert_eq!(s, 401);
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/auth/password",
            Some(&here),
            Some(json!({"current_password": "correct horse battery", "new_password": "a brand new secret"})),
        )
        .await;
        assert_eq!((s, r["signed_out"].as_u64()), (200, Some(1)), "{db:?}: {r}");
        assert_eq!(send(&app, "GET", "/api/v1/me/orders", Some(&there), None).await.0, 401);
        assert_eq!(send(&app, "GET", "/api/v1/me/orders", Some(&here), None).await.0, 200);
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": "a brand new secret"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let again = common::session_cookie_of(&r).unwrap();
        let (s, r) = send(&app, "POST", "/api/v1/auth/logout-everywhere", Some(&here), None).await;
        assert_eq!((s, r["signed_out"].as_u64()), (200, Some(1)));
        assert_eq!(send(&app, "GET", "/api/v1/me/orders", Some(&again), None).await.0, 401);
        assert_eq!(send(&app, "GET", "/api/v1/me/orders", Some(&here), None).await.0, 200);
    }
}

// ---- 14. Body-less state changes need JSON or the CSRF header ----------------------------------

#[tokio::test]
async fn bodyless_state_changes_need_json_or_the_csrf_header() {
    let db = test_support::sqlite_database();
    let app = app_on(&db, &[]).await;
    let ada = sign_up(&app, "ada@example.com").await;
    let (_, org) = send(&app, "POST", "/api/v1/orgs", Some(&ada), Some(json!({"name": "Acme"}))).await;
    let org = org["id"].as_i64().unwrap();
    // What a cross-site form can send: a urlencoded or text/plain body with the cookie.
    for path in [format!("/api/v1/orgs/{org}/leave"), "/api/v1/auth/logout".to_owned()] {
        for ct in [None, Some("application/x-www-form-urlencoded"), Some("text/plain")] {
            let mut rb = app.client.post(app.url(&path)).header("cookie", &ada);
            if let Some(ct) = ct {
                rb = rb.header("content-type", ct).body("a=b");
            }
            let r = rb.send().await.unwrap();
            assert_eq!(r.status(), 415, "{path} {ct:?}");
        }
        let r = app
            .client
            .post(app.url(&path))
            .header("cookie", &ada)
            .header("x-csrf-token", "forged")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}: a wrong CSRF header");
    }
    // Still signed in and still a member: nothing happened.
    assert_eq!(
        send(&app, "GET", "/api/v1/orgs", Some(&ada), None).await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The session's CSRF header works.
    let (csrf, _) = common::form_csrf(&app, "/account", Some(&ada)).await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &ada)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

// ---- 15. Out-of-range ids ------------------------------------------------------------------------

#[tokio::test]
async fn out_of_range_ids_are_not_found_never_a_server_error() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        for id in ["99999999999", "9223372036854775807", "-1"] {
            for (method, path, cookie) in [
                ("POST", format!("/api/v1/orgs/{id}/leave"), &ada),
                ("GET", format!("/api/v1/orgs/{id}/members"), &ada),
                ("DELETE", format!("/api/v1/tokens/{id}"), &ada),
                ("POST", format!("/api/v1/me/orders/{id}/cancel"), &ada),
                ("DELETE", format!("/api/v1/orgs/{id}/members/{id}"), &ada),
            ] {
                let (s, _) = send(&app, method, &path, Some(cookie), None).await;
                assert_eq!(s, 404, "{db:?}: {method} {path}");
            }
            let (s, _) = send(
                &app,
                "POST",
                &format!("/api/v1/admin/orders/{id}/refund"),
                Some(&admin),
                Some(json!({"reason": "x"})),
            )
            .await;
            assert_eq!(s, 404, "{db:?}: refund {id}");
            let (s, _) = send(
                &app,
                "POST",
                &format!("/api/v1/admin/entitlements/{id}/revoke"),
                Some(&admin),
                Some(json!({"reason": "x"})),
            )
            .await;
            assert_eq!(s, 404, "{db:?}: revoke {id}");
            let (s, _) = app
                .get_text_with_cookie(&format!("/checkout/return?order={id}"), &ada)
                .await;
            assert_eq!(s, 404, "{db:?}: return page {id}");
        }
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/orgs/99999999999999999999/leave",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 400, "beyond i64: a bad request");
    }
}

// ---- 17. Housekeeping purges dead sessions -------------------------------------------------------

#[tokio::test]
async fn the_housekeeping_purges_expired_and_revoked_sessions() {
    for db in test_support::databases().await {
        let app = app_on(&db, &[]).await;
        let (ada, _) = sign_up_account(&app, "ada@example.com").await;
        send(&app, "POST", "/api/v1/auth/logout", Some(&ada), None).await;
        let conn = storage_sql::connect(&db.url, 2).await.unwrap();
        let store = std::sync::Arc::new(storage_sql::SqlAccountStore::new(conn.clone()));
        let accounts = accounts::AccountService::new(
            store.clone(),
            store.clone(),
            store,
            std::sync::Arc::new(accounts::InlineHasher),
            accounts::AccountPolicy::default(),
        )
        .unwrap();
        let house = infra::housekeeping::Housekeeping {
            accounts,
            signals: std::sync::Arc::new(storage_sql::SqlSignalRepository::new(conn.clone())),
            orders: std::sync::Arc::new(storage_sql::SqlOrderRepository::new(conn)),
            retention_days: 180,
        };
        let swept = house.run_once(chrono::Utc::now() + chrono::Duration::seconds(1)).await;
        assert_eq!(swept.sessions, 1, "{db:?}: the signed-out session is deleted");
        let swept = house.run_once(chrono::Utc::now() + chrono::Duration::days(31)).await;
        assert_eq!(swept.sessions, 0, "{db:?}: nothing left");
    }
}
