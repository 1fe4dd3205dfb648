//! Payments over HTTP (SQLite and Postgres), in local payment mode with the worker driven by
//! the test: checkout, Stripe-format webhooks signed exactly as Stripe signs them (each
//! delivered five times, in shuffled orders), refunds, subscriptions, and deliveries that must
//! be refused without storing anything.

mod common;

use common::{TestApp, csrf_in, deliver, drain, event, inbox, send, sign_up, signed};
use serde_json::{Value, json};

const SECRETS: &str = "whsec_test_old,whsec_test_new";

async fn app_on(db: &test_support::TestDatabase) -> TestApp {
    common::spawn_app_with(
        db,
        &test_support::repo_assets_dir(),
        &[
            ("stripe.webhook_secrets", SECRETS.into()),
            ("worker.in_server", "false".into()),
        ],
    )
    .await
}

/// Delivers an event five times (secrets rotate: the old and the new one both verify).
async fn deliver5(app: &TestApp, body: &str) {
    for i in 0..5 {
        let secret = if i % 2 == 0 { "whsec_test_new" } else { "whsec_test_old" };
        let (s, r) = deliver(app, body, signed(body, secret)).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["duplicate"], i > 0, "{r}");
    }
}

async fn checkout(app: &TestApp, cookie: &str, sku: &str) -> (i64, String) {
    let (s, r) = send(app, "POST", "/api/v1/checkout", Some(cookie), Some(json!({"sku": sku}))).await;
    assert_eq!(s, 200, "{r}");
    (
        r["order_id"].as_i64().unwrap(),
        r["session_id"].as_str().unwrap_or("").to_owned(),
    )
}

fn session_completed(session: &str, order: i64, amount: i64, pi: Option<&str>, sub: Option<&str>) -> Value {
    json!({"id": session, "object": "checkout.session", "client_reference_id": order.to_string(),
           "payment_status": "paid", "status": "complete", "amount_total": amount, "currency": "usd",
           "payment_intent": pi, "subscription": sub, "customer": "cus_test",
           "mode": if sub.is_some() { "subscription" } else { "payment" }})
}

async fn entitlements(app: &TestApp, cookie: &str) -> Vec<Value> {
    let (_, r) = send(app, "GET", "/api/v1/me/entitlements", Some(cookie), None).await;
    r["items"].as_array().cloned().unwrap_or_default()
}

async fn order(app: &TestApp, cookie: &str, id: i64) -> Value {
    let (_, r) = send(app, "GET", "/api/v1/me/orders", Some(cookie), None).await;
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn refused_deliveries_store_nothing() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let body = event("evt_refused", "invoice.paid", json!({"id": "in_1"}));
        let now = chrono::Utc::now().timestamp();
        let cases = [
            ("unsigned", None),
            ("wrong secret", signed(&body, "whsec_other")),
            (
                "stale",
                Some(payments::signature::sign(body.as_bytes(), "whsec_test_new", now - 301)),
            ),
            (
                "from the future",
                Some(payments::signature::sign(body.as_bytes(), "whsec_test_new", now + 400)),
            ),
            ("garbage header", Some("t=abc,v1=zz".into())),
        ];
        for (what, sig) in cases {
            let (s, r) = deliver(&app, &body, sig).await;
            assert_eq!(s, 400, "{db:?} {what}: {r}");
        }
        // Tampered: signed, then one byte changed.
        let sig = signed(&body, "whsec_test_new");
        let (s, _) = deliver(&app, &body.replace("in_1", "in_2"), sig).await;
        assert_eq!(s, 400, "tampered body");
        // Signed but not an event.
        for bad in ["{not json", r#"{"id":"evt_x","type":"invoice.paid"}"#] {
            let (s, r) = deliver(&app, bad, signed(bad, "whsec_test_new")).await;
            assert_eq!(s, 400, "{bad}: {r}");
        }
        // Too large: 413, before anything reads it.
        let big = "x".repeat(300 * 1024);
        let (s, r) = deliver(&app, &big, signed(&big, "whsec_test_new")).await;
        assert_eq!((s, r["error"].as_str()), (413, Some("payload_too_large")), "{r}");
        assert!(inbox.counts().await.unwrap().is_empty(), "{db:?}: nothing stored");

        // An unknown type is acknowledged and stored as ignored.
        let other = event("evt_other", "customer.created", json!({"id": "cus_1"}));
        let (s, _) = deliver(&app, &other, signed(&other, "whsec_test_old")).await;
        assert_eq!(s, 200);
        assert_eq!(inbox.counts().await.unwrap(), vec![("ignored".to_owned(), 1)]);
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn purchases_refunds_and_subscriptions_follow_the_events_exactly_once() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;

        // --- A KEY: checkout, then its completion delivered 5 times.
        let (key_order, key_session) = checkout(&app, &ada, "key:redis-memory-pressure").await;
        assert!(key_session.starts_with("cs_local_"), "{key_session}");
        assert_eq!(order(&app, &ada, key_order).await["status"], "pending");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/redis-memory-pressure/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 403, "{db:?}: not before payment");
        let done = event(
            "evt_key_paid",
            "checkout.session.completed",
            session_completed(&key_session, key_order, 4_900, Some("pi_key"), None),
        );
        deliver5(&app, &done).await;
        let outcomes = drain(inbox.as_ref()).await;
        assert_eq!(outcomes.len(), 1, "{db:?}: five deliveries, one event: {outcomes:?}");
        assert_eq!(order(&app, &ada, key_order).await["status"], "paid");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/redis-memory-pressure/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "{db:?}: downloadable once paid");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "key:redis-memory-pressure"})),
        )
        .await;
        assert_eq!(s, 409, "already owned");

        // --- Upgrade to the bundle with credit: the checkout charges the credited amount.
        let (bundle_order, bundle_session) = checkout(&app, &ada, "bundle:incident-response-essentials").await;
        let pending = order(&app, &ada, bundle_order).await;
        assert_eq!(pending["credit_applied"]["minor"], 4_900, "{pending}");
        let due = 9_828 - 4_900;
        // A charge.refunded for it arriving BEFORE its completion waits (retried), never dropped.
        let refund = event(
            "evt_bundle_refund",
            "charge.refunded",
            json!({"id": "ch_b", "object": "charge", "amount": due, "amount_refunded": due, "refunded": true,
                   "payment_intent": "pi_bundle"}),
        );
        deliver5(&app, &refund).await;
        let first = drain(inbox.as_ref()).await;
        assert!(first.iter().all(Result::is_err), "{first:?}");
        let paid = event(
            "evt_bundle_paid",
            "checkout.session.completed",
            session_completed(&bundle_session, bundle_order, due, Some("pi_bundle"), None),
        );
        deliver5(&app, &paid).await;
        // The completion is applied now; the refund when its backoff is due (2 s).
        drain(inbox.as_ref()).await;
        assert_eq!(order(&app, &ada, bundle_order).await["status"], "paid");
        assert!(
            entitlements(&app, &ada)
                .await
                .iter()
                .any(|e| e["source"] == "bundle_purchase" && e["effective"] == true)
        );
        tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
        drain(inbox.as_ref()).await;
        let refunded = order(&app, &ada, bundle_order).await;
        assert_eq!(refunded["status"], "refunded", "{db:?}: {refunded}");
        let ents = entitlements(&app, &ada).await;
        assert!(
            ents.iter()
                .any(|e| e["source"] == "bundle_purchase" && e["effective"] == false),
            "the bundle's grant is revoked: {ents:?}"
        );
        assert!(
            ents.iter()
                .any(|e| e["key"] == "redis-memory-pressure" && e["effective"] == true),
            "the KEY bought before stays: {ents:?}"
        );
        let (_, q) = send(
            &app,
            "GET",
            "/api/v1/quotes?sku=bundle:incident-response-essentials",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(
            q["amount_due"]["minor"], due,
            "the refunded upgrade released its credit: {q}"
        );

        // --- A plan: invoice.paid first, then checkout completion, then a failed renewal and
        // the end of the subscription. Shuffled, duplicated: same final state. (Scale, so the
        // KEY bought above — credited to the plan's first invoice — leaves something to pay and
        // a real Checkout Session opens.)
        let (plan_order, plan_session) = checkout(&app, &ada, "plan:scale:monthly").await;
        assert!(!plan_session.is_empty(), "a paid plan checkout opens a session");
        let plan_due = order(&app, &ada, plan_order).await["amount_due"]["minor"]
            .as_i64()
            .unwrap();
        let now = chrono::Utc::now().timestamp();
        let renewed_until = now + 62 * 86_400;
        let invoice = event(
            "evt_inv_paid",
            "invoice.paid",
            json!({"id": "in_2", "object": "invoice", "subscription": "sub_ada", "amount_paid": 2_900,
                   "lines": {"object": "list", "data": [{"period": {"start": now + 31 * 86_400, "end": renewed_until}}]}}),
        );
        let completed = event(
            "evt_plan_paid",
            "checkout.session.completed",
            session_completed(&plan_session, plan_order, plan_due, None, Some("sub_ada")),
        );
        let stale_failure = event(
            "evt_inv_failed_old",
            "invoice.payment_failed",
            json!({"id": "in_1", "object": "invoice", "subscription": "sub_ada",
                   "lines": {"object": "list", "data": [{"period": {"start": now, "end": now + 31 * 86_400}}]}}),
        );
        deliver5(&app, &invoice).await;
        deliver5(&app, &stale_failure).await;
        drain(inbox.as_ref()).await; // both wait for their order
        deliver5(&app, &completed).await;
        drain(inbox.as_ref()).await;
        tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
        drain(inbox.as_ref()).await;
        let plan = entitlements(&app, &ada)
            .await
            .into_iter()
            .find(|e| e["scope"] == "plan")
            .expect("plan granted");
        assert_eq!(
            plan["status"], "active",
            "{db:?}: a failure for an already paid period changes nothing: {plan}"
        );
        let expires = chrono::DateTime::parse_from_rfc3339(plan["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(
            expires.timestamp(),
            renewed_until,
            "renewed to the later invoice's period end"
        );

        // A failure for the next period: past due, still accessible during the grace period.
        let failure = event(
            "evt_inv_failed",
            "invoice.payment_failed",
            json!({"id": "in_3", "object": "invoice", "subscription": "sub_ada",
                   "lines": {"object": "list", "data": [{"period": {"start": renewed_until, "end": renewed_until + 31 * 86_400}}]}}),
        );
        deliver5(&app, &failure).await;
        drain(inbox.as_ref()).await;
        let plan = entitlements(&app, &ada)
            .await
            .into_iter()
            .find(|e| e["scope"] == "plan")
            .unwrap();
        assert_eq!(
            (plan["status"].as_str(), plan["effective"].as_bool()),
            (Some("past_due"), Some(true)),
            "{plan}"
        );
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/deploy-rollback-runbook/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "operator-tier KEY via the plan");

        let deleted = event(
            "evt_sub_deleted",
            "customer.subscription.deleted",
            json!({"id": "sub_ada", "object": "subscription", "status": "canceled"}),
        );
        deliver5(&app, &deleted).await;
        drain(inbox.as_ref()).await;
        let plan = entitlements(&app, &ada)
            .await
            .into_iter()
            .find(|e| e["scope"] == "plan")
            .unwrap();
        assert_eq!(plan["effective"], false, "{plan}");
        // A stale renewal after the end changes nothing.
        let late = event(
            "evt_inv_paid_late",
            "invoice.paid",
            json!({"id": "in_4", "object": "invoice", "subscription": "sub_ada", "amount_paid": 2_900,
                   "lines": {"object": "list", "data": [{"period": {"start": renewed_until, "end": renewed_until + 90 * 86_400}}]}}),
        );
        deliver5(&app, &late).await;
        drain(inbox.as_ref()).await;
        let plan = entitlements(&app, &ada)
            .await
            .into_iter()
            .find(|e| e["scope"] == "plan")
            .unwrap();
        assert_eq!(plan["effective"], false, "revocation is final: {plan}");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/deploy-rollback-runbook/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 403);
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn checkout_answers_name_the_problem_and_free_upgrades_skip_payment() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let bob = sign_up(&app, "bob@example.com").await;
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            None,
            Some(json!({"sku": "key:on-call-handbook"})),
        )
        .await;
        assert_eq!(s, 401, "{db:?}");
        for (sku, status) in [
            ("widget:x", 400),
            ("key:nope-nope", 404),
            ("plan:enterprise:monthly", 409),
        ] {
            let (s, r) = send(&app, "POST", "/api/v1/checkout", Some(&bob), Some(json!({"sku": sku}))).await;
            assert_eq!(s, status, "{sku}: {r}");
            assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
        }
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&bob),
            Some(json!({"sku": "key:on-call-handbook", "org": 999})),
        )
        .await;
        assert_eq!(s, 403, "not a member");
        // Every member granted by support: the bundle is free and needs no payment at all.
        for key in [
            "on-call-handbook",
            "deploy-rollback-runbook",
            "disk-full-recovery",
            "redis-memory-pressure",
        ] {
            common::grant_key(&app, &admin, "bob@example.com", key).await;
        }
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&bob),
            Some(json!({"sku": "bundle:incident-response-essentials"})),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["session_id"], Value::Null, "no payment session: {r}");
        let id = r["order_id"].as_i64().unwrap();
        assert_eq!(r["checkout_url"], format!("/checkout/return?order={id}"));
        let o = order(&app, &bob, id).await;
        assert_eq!(
            (o["status"].as_str(), o["cash_paid"]["minor"].as_i64()),
            (Some("paid"), Some(0)),
            "{o}"
        );
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn subscription_updates_change_plans_renew_and_end() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (order_id, session) = checkout(&app, &ada, "plan:starter:monthly").await;
        let done = event(
            "evt_starter_paid",
            "checkout.session.completed",
            session_completed(&session, order_id, 1_200, None, Some("sub_up")),
        );
        deliver5(&app, &done).await;
        drain(inbox.as_ref()).await;
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/deploy-rollback-runbook/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 403, "{db:?}: operator KEY not in the starter plan");

        // Upgraded in the billing portal: the subscription now carries the Operator price.
        let end = chrono::Utc::now().timestamp() + 40 * 86_400;
        let updated = event(
            "evt_sub_upgraded",
            "customer.subscription.updated",
            json!({"id": "sub_up", "object": "subscription", "status": "active",
                   "items": {"object": "list", "data": [{"current_period_end": end,
                     "price": {"lookup_key": "plan:operator:monthly"}}]}}),
        );
        deliver5(&app, &updated).await;
        drain(inbox.as_ref()).await;
        let plans: Vec<Value> = entitlements(&app, &ada)
            .await
            .into_iter()
            .filter(|e| e["scope"] == "plan")
            .collect();
        let live: Vec<&Value> = plans.iter().filter(|e| e["effective"] == true).collect();
        assert_eq!(live.len(), 1, "{db:?}: one live plan: {plans:?}");
        assert_eq!(live[0]["scope_ref"], "operator");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/deploy-rollback-runbook/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "operator KEY now included");
        assert_eq!(order(&app, &ada, order_id).await["sku"], "plan:operator:monthly");

        // Past due, then canceled by Stripe after the retries: access ends.
        let past_due = event(
            "evt_sub_past_due",
            "customer.subscription.updated",
            json!({"id": "sub_up", "object": "subscription", "status": "past_due",
                   "items": {"object": "list", "data": [{"current_period_end": end, "price": {"lookup_key": "plan:operator:monthly"}}]}}),
        );
        deliver5(&app, &past_due).await;
        drain(inbox.as_ref()).await;
        let live = entitlements(&app, &ada)
            .await
            .into_iter()
            .find(|e| e["scope"] == "plan" && e["effective"] == true)
            .unwrap();
        assert_eq!(live["status"], "past_due", "{live}");
        let canceled = event(
            "evt_sub_canceled",
            "customer.subscription.updated",
            json!({"id": "sub_up", "object": "subscription", "status": "canceled"}),
        );
        deliver5(&app, &canceled).await;
        drain(inbox.as_ref()).await;
        assert!(
            entitlements(&app, &ada).await.iter().all(|e| e["effective"] == false),
            "{db:?}: subscription canceled"
        );
        app.stop().await.unwrap();
    }
}

/// The billing portal from `/account/billing`: in local payment mode it lists the subscription;
/// cancelling there emits `customer.subscription.updated` with `cancel_at_period_end` (access
/// until the period ends), resuming undoes it, and `customer.subscription.deleted` ends access.
#[tokio::test]
async fn billing_portal_cancels_the_subscription_through_an_event() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (order_id, session) = checkout(&app, &ada, "plan:operator:monthly").await;
        // Pay on the local checkout page, as the browser would.
        let (_, page) = app.get_text_with_cookie(&format!("/pay/local/{session}"), &ada).await;
        let r = app
            .client
            .post(app.url(&format!("/pay/local/{session}")))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&page)), ("action", "pay".into())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{db:?}");
        drain(inbox.as_ref()).await;
        assert_eq!(order(&app, &ada, order_id).await["status"], "paid");
        // A paid checkout cannot be paid again.
        let (s, again) = app.get_text_with_cookie(&format!("/pay/local/{session}"), &ada).await;
        assert_eq!(s, 410, "{db:?}");
        assert!(again.contains("already paid"), "{again}");
        let r = app
            .client
            .post(app.url(&format!("/pay/local/{session}")))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&page)), ("action", "pay".into())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 410, "{db:?}");

        let (_, billing) = app.get_text_with_cookie("/account/billing", &ada).await;
        assert!(billing.contains("plan:operator:monthly"), "{billing}");
        // The plan as a buyer reads it: its name, the next renewal date and amount.
        assert!(
            billing.contains("data-state=\"active\"")
                && billing.contains("Operator plan, billed monthly")
                && billing.contains("it renews on")
                && billing.contains("at $29.00."),
            "{billing}"
        );
        let post = |path: &str, csrf: String| {
            app.client
                .post(app.url(path))
                .header("cookie", &ada)
                .form(&[("csrf", csrf)])
                .send()
        };
        let r = post("/account/billing/portal", "wrong".into()).await.unwrap();
        assert_eq!(r.status(), 403, "CSRF-checked");
        let r = post("/account/billing/portal", csrf_in(&billing)).await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/pay/local/portal");
        let (_, portal) = app.get_text_with_cookie("/pay/local/portal", &ada).await;
        assert!(
            portal.contains("TEST MODE") && portal.contains("Operator plan, billed monthly"),
            "{portal}"
        );
        let r = post("/pay/local/portal", csrf_in(&portal)).await.unwrap();
        assert_eq!(r.status(), 303);
        let applied = drain(inbox.as_ref()).await;
        assert_eq!(applied.len(), 1, "{applied:?}");
        let plan = || async {
            entitlements(&app, &ada)
                .await
                .into_iter()
                .find(|e| e["scope"] == "plan")
                .unwrap()
        };
        // Cancelled in the portal: as with Stripe's portal, at the end of the paid period —
        // access continues until then, and every page says when it ends.
        assert_eq!(plan().await["effective"], true, "{db:?}: access until the period ends");
        let (_, subs) = send(&app, "GET", "/api/v1/me/subscriptions", Some(&ada), None).await;
        assert_eq!(subs["items"][0]["cancel_at_period_end"], true, "{subs}");
        let (_, billing) = app.get_text_with_cookie("/account/billing", &ada).await;
        assert!(
            billing.contains("data-state=\"ending\"")
                && billing.contains("it will not renew")
                && !billing.contains("renews on"),
            "{db:?}: {billing}"
        );
        // Resumed in the portal before the end: it renews again.
        let (_, portal) = app.get_text_with_cookie("/pay/local/portal", &ada).await;
        assert!(portal.contains("resume-subscription"), "{portal}");
        let r = app
            .client
            .post(app.url("/pay/local/portal"))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&portal)), ("action", "resume".into())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        drain(inbox.as_ref()).await;
        let (_, billing) = app.get_text_with_cookie("/account/billing", &ada).await;
        assert!(
            billing.contains("data-state=\"active\"") && billing.contains("renews on"),
            "{billing}"
        );
        // The end of the subscription ends access, and the billing page says so.
        let sub = subs["items"][0]["id"].as_str().unwrap().to_owned();
        let ended = event(
            "evt_portal_deleted",
            "customer.subscription.deleted",
            json!({"id": sub, "object": "subscription", "status": "canceled"}),
        );
        deliver5(&app, &ended).await;
        drain(inbox.as_ref()).await;
        assert_eq!(plan().await["effective"], false, "{db:?}: ended");
        let (_, billing) = app.get_text_with_cookie("/account/billing", &ada).await;
        assert!(
            billing.contains("data-state=\"ended\"") && !billing.contains("renews on"),
            "{db:?}: {billing}"
        );
        let (_, subs) = send(&app, "GET", "/api/v1/me/subscriptions", Some(&ada), None).await;
        assert_eq!(
            subs["items"].as_array().map(Vec::len),
            Some(0),
            "no live subscription: {subs}"
        );
        app.stop().await.unwrap();
    }
}

/// In local payment mode the server's housekeeping cancels checkouts left unfinished for a day
/// (Stripe expires its own sessions), and leaves fresh ones and other channels alone.
#[tokio::test]
async fn unfinished_local_checkouts_expire_after_a_day() {
    use upgrades::ports::{Channel, NewOrder, OrderRepository, OrderStatus};
    for db in test_support::databases().await {
        let orders = storage_sql::SqlOrderRepository::new(storage_sql::connect(&db.url, 2).await.unwrap());
        let now = chrono::Utc::now();
        let usd = |m: i64| pricing::Money::from_minor(m, pricing::Currency::Usd);
        // One open checkout per holder and SKU: each pending order buys its own KEY.
        let pending = |channel: Channel, age: chrono::TimeDelta, key: &str| NewOrder {
            holder: entitlements::Holder::User(entitlements::UserId(1)),
            buyer: entitlements::UserId(1),
            sku: format!("key:{key}").parse().unwrap(),
            list_price: usd(4_900),
            amount_due: usd(4_900),
            cash_paid: usd(4_900),
            credit_applied: usd(0),
            allocations: Vec::new(),
            explanation: "test".into(),
            channel,
            period: None,
            at: now - age,
            quote_id: None,
        };
        let stale = orders
            .create_pending(&pending(Channel::Local, chrono::TimeDelta::hours(25), "kit-one"), &[])
            .await
            .unwrap();
        let fresh = orders
            .create_pending(&pending(Channel::Local, chrono::TimeDelta::hours(1), "kit-two"), &[])
            .await
            .unwrap();
        let stripe = orders
            .create_pending(
                &pending(Channel::Stripe, chrono::TimeDelta::hours(25), "kit-three"),
                &[],
            )
            .await
            .unwrap();
        // Local mode (no Stripe key): the first housekeeping round runs at start.
        let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
        let mut status = OrderStatus::Pending;
        for _ in 0..100 {
            status = orders.find(stale.id).await.unwrap().unwrap().status;
            if status != OrderStatus::Pending {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(status, OrderStatus::Cancelled, "{db:?}");
        for o in [&fresh, &stripe] {
            assert_eq!(
                orders.find(o.id).await.unwrap().unwrap().status,
                OrderStatus::Pending,
                "{db:?}"
            );
        }

        // The pay page stops taking payment an hour before the housekeeping may expire an order.
        let (cookie, me) = common::sign_up_account(&app, "late@example.com").await;
        for (session, age, want) in [("cs_local_late", 23 * 60 + 30, 410), ("cs_local_fresh", 60, 200)] {
            let mut o = pending(
                Channel::Local,
                chrono::TimeDelta::minutes(age),
                &session.replace('_', "-"),
            );
            o.holder = entitlements::Holder::User(entitlements::UserId(me));
            o.buyer = entitlements::UserId(me);
            let o = orders.create_pending(&o, &[]).await.unwrap();
            orders
                .set_refs(
                    o.id,
                    &upgrades::ports::PaymentRefs {
                        checkout_session: Some(session.into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let (s, page) = app
                .get_text_with_cookie(&format!("/pay/local/{session}"), &cookie)
                .await;
            assert_eq!(s, want, "{db:?}: {session}: {page}");
        }
        app.stop().await.unwrap();
    }
}

/// Pays a local checkout on its page, as the browser would.
async fn pay_locally(app: &TestApp, cookie: &str, session: &str, action: &str) {
    let (_, page) = app.get_text_with_cookie(&format!("/pay/local/{session}"), cookie).await;
    let r = app
        .client
        .post(app.url(&format!("/pay/local/{session}")))
        .header("cookie", cookie)
        .form(&[("csrf", csrf_in(&page)), ("action", action.into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{action} {session}");
}

/// Issue 12 (billing page a buyer can read): the plan first, then the orders — a paid date only
/// for paid orders — then at most three upgrade offers, each about something the buyer owns.
#[tokio::test]
async fn the_billing_page_shows_paid_dates_only_for_paid_orders_and_at_most_three_relevant_offers() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (paid, session) = checkout(&app, &ada, "key:on-call-handbook").await;
        pay_locally(&app, &ada, &session, "pay").await;
        let (cancelled, session) = checkout(&app, &ada, "key:disk-full-recovery").await;
        pay_locally(&app, &ada, &session, "cancel").await;
        drain(inbox.as_ref()).await;
        assert_eq!(order(&app, &ada, paid).await["status"], "paid");
        assert_eq!(order(&app, &ada, cancelled).await["status"], "cancelled");

        let (s, billing) = app.get_text_with_cookie("/account/billing", &ada).await;
        assert_eq!(s, 200);
        let row = |id: i64| {
            let start = billing
                .find(&format!("data-order=\"{id}\""))
                .unwrap_or_else(|| panic!("{billing}"));
            billing[start..start + billing[start..].find("</tr>").unwrap()].to_owned()
        };
        let today = chrono::Utc::now().date_naive().to_string();
        assert!(row(paid).contains(&today), "{db:?}: {}", row(paid));
        assert!(
            row(cancelled).contains("not paid") && !row(cancelled).contains(&today),
            "{db:?}: a cancelled order was never paid: {}",
            row(cancelled)
        );
        let (orders_at, offers_at) = (
            billing.find("<h2>Orders</h2>").unwrap(),
            billing.find("<h2>Upgrades for you</h2>").unwrap(),
        );
        assert!(orders_at < offers_at, "orders before offers");
        let offers: Vec<&str> = billing
            .split("<li class=\"offer\" data-sku=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert!(!offers.is_empty() && offers.len() <= 3, "{db:?}: {offers:?}");
        // Each offer is about what Ada owns: a bundle with the handbook in it, or a plan her
        // purchase credits.
        assert!(offers.contains(&"bundle:incident-response-essentials"), "{offers:?}");
        for sku in &offers {
            let card = &billing[billing.find(&format!("data-sku=\"{sku}\"")).unwrap()..];
            let card = &card[..card.find("</li>").unwrap()];
            assert!(card.contains("line-credit"), "{sku} credits nothing Ada owns: {card}");
        }
        app.stop().await.unwrap();
    }
}

/// Issue 12: a fully credited plan is a real subscription that renews at the plan's price —
/// not a grant for one period with nothing behind it. Ada paid $19.00 for a starter KEY; the
/// $12.00 Starter plan costs her $0.00 now, through a checkout (the card is collected), and its
/// renewal at $12.00 extends access.
#[tokio::test]
async fn a_fully_credited_plan_goes_through_checkout_and_renews() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/admin/orders",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "sku": "key:disk-full-recovery", "reason": "invoice 12"})),
        )
        .await;
        assert_eq!(s, 201);
        let (plan_order, session) = checkout(&app, &ada, "plan:starter:monthly").await;
        assert!(
            !session.is_empty(),
            "{db:?}: a checkout session, not a grant on the spot"
        );
        let o = order(&app, &ada, plan_order).await;
        assert_eq!(
            (o["status"].as_str(), o["amount_due"]["minor"].as_i64()),
            (Some("pending"), Some(0)),
            "{o}"
        );
        assert!(
            !entitlements(&app, &ada).await.iter().any(|e| e["scope"] == "plan"),
            "nothing granted before the subscription exists"
        );
        let now = chrono::Utc::now().timestamp();
        let completed = event(
            "evt_free_plan",
            "checkout.session.completed",
            session_completed(&session, plan_order, 0, None, Some("sub_free")),
        );
        deliver5(&app, &completed).await;
        drain(inbox.as_ref()).await;
        assert_eq!(order(&app, &ada, plan_order).await["status"], "paid", "{db:?}");
        let first = entitlements(&app, &ada)
            .await
            .into_iter()
            .find(|e| e["scope"] == "plan")
            .expect("plan granted");
        assert_eq!(first["effective"], true);
        // The renewal, at the plan's price, extends access.
        let renewed_until = now + 62 * 86_400;
        let renewal = event(
            "evt_free_plan_renewed",
            "invoice.paid",
            json!({"id": "in_free_2", "object": "invoice", "subscription": "sub_free", "amount_paid": 1_200,
                   "lines": {"object": "list", "data": [{"period": {"start": now + 31 * 86_400, "end": renewed_until}}]}}),
        );
        deliver5(&app, &renewal).await;
        drain(inbox.as_ref()).await;
        let renewed = entitlements(&app, &ada)
            .await
            .into_iter()
            .find(|e| e["scope"] == "plan")
            .unwrap();
        assert_ne!(renewed["expires_at"], first["expires_at"], "{db:?}: renewed: {renewed}");
        assert!(
            renewed["expires_at"].as_str().is_some_and(|t| t.starts_with(
                &chrono::DateTime::from_timestamp(renewed_until, 0)
                    .unwrap()
                    .date_naive()
                    .to_string()
            )),
            "{renewed}"
        );
        app.stop().await.unwrap();
    }
}
