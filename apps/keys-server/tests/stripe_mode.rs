//! keys-server in Stripe mode against a local fake of the Stripe API (SQLite and Postgres): the
//! catalog sync, an upgrade checkout whose credit is a one-off coupon so the buyer pays exactly
//! the quote, the return page fulfilling from the session before the webhook, the webhook then
//! changing nothing, and an admin refund sent to Stripe.

mod common;

#[path = "../../../crates/stripe-gateway/tests/fake_stripe/mod.rs"]
#[allow(dead_code)]
mod fake_stripe;

use common::{send, sign_up};
use fake_stripe::FakeStripe;
use payments::ports::PaymentGateway;
use serde_json::{Value, json};

const SECRET: &str = "whsec_stripe_mode";

fn field<'a>(r: &'a fake_stripe::Recorded, name: &str) -> &'a str {
    r.form.get(name).map_or("", String::as_str)
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn stripe_checkout_applies_credit_as_a_coupon_and_events_fulfil_once() {
    for db in test_support::databases().await {
        let fake = FakeStripe::start().await;
        // The catalog sync (what `keys-ingest stripe-sync` runs).
        let (offers, names) = ingest::documents::offers_from_assets(&test_support::repo_assets_dir()).unwrap();
        let items = payments::ports::catalog_items(&offers, &names);
        let gateway = stripe_gateway::StripeGateway::new("sk_test_fake", Some(&fake.base)).unwrap();
        let first = gateway.sync_catalog(&items).await.unwrap();
        assert_eq!(first.prices_created, items.len(), "{db:?}");
        let again = gateway.sync_catalog(&items).await.unwrap();
        assert_eq!(
            (again.prices_created, again.unchanged),
            (0, items.len()),
            "re-running changes nothing"
        );
        fake.take_requests();

        let app = common::spawn_app_with(
            &db,
            &test_support::repo_assets_dir(),
            &[
                ("stripe.secret_key", "sk_test_fake".into()),
                ("stripe.api_base", fake.base.clone()),
                ("stripe.webhook_secrets", SECRET.into()),
                ("stripe.public_url", "https://shop.example".into()),
                ("worker.in_server", "true".into()),
                ("worker.poll_ms", "50".into()),
            ],
        )
        .await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        // Ada paid $49.00 for one member (recorded by support), then upgrades to the bundle.
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/admin/orders",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "sku": "key:deploy-rollback-runbook", "reason": "invoice 9"})),
        )
        .await;
        assert_eq!(s, 201);
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "bundle:incident-response-essentials"})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {r}");
        let order_id = r["order_id"].as_i64().unwrap();
        let session = r["session_id"].as_str().unwrap().to_owned();
        assert!(r["checkout_url"].as_str().unwrap().starts_with("http"), "{r}");

        let reqs = fake.take_requests();
        let paths: Vec<String> = reqs.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
        assert_eq!(
            paths,
            [
                "POST /v1/customers",
                "GET /v1/prices",
                "POST /v1/coupons",
                "POST /v1/checkout/sessions"
            ],
            "{reqs:#?}"
        );
        assert_eq!(reqs[0].idempotency_key.as_deref(), Some("keys-customer-user:2"));
        assert_eq!(field(&reqs[0], "email"), "ada@example.com");
        let coupon = &reqs[2];
        assert_eq!(
            (
                field(coupon, "amount_off"),
                field(coupon, "currency"),
                field(coupon, "duration"),
                field(coupon, "max_redemptions")
            ),
            ("4900", "usd", "once", "1"),
            "the credit becomes a one-off coupon: {coupon:?}"
        );
        let cs = &reqs[3];
        assert_eq!(field(cs, "mode"), "payment");
        assert_eq!(field(cs, "client_reference_id"), order_id.to_string());
        assert_eq!(field(cs, "discounts[0][coupon]"), format!("keys-credit-{order_id}"));
        assert_eq!(field(cs, "line_items[0][quantity]"), "1");
        assert_eq!(field(cs, "metadata[sku]"), "bundle:incident-response-essentials");
        assert_eq!(field(cs, "metadata[holder]"), "user:2");
        assert!(field(cs, "metadata[quote_id]").starts_with("qt_"), "{cs:?}");
        assert_eq!(
            field(cs, "success_url"),
            format!("https://shop.example/checkout/return?order={order_id}")
        );
        assert_eq!(
            field(cs, "cancel_url"),
            format!("https://shop.example/checkout/return?order={order_id}&cancelled=1")
        );
        assert_eq!(
            cs.idempotency_key.as_deref(),
            Some(format!("keys-checkout-{order_id}").as_str())
        );

        // The buyer comes back before the webhook: the return page reads the session and fulfils.
        fake.seed_session(json!({"id": session, "payment_status": "paid", "status": "complete",
            "client_reference_id": order_id.to_string(), "amount_total": 4_928, "currency": "usd", "payment_intent": "pi_bundle", "customer": "cus_ada"}));
        let (s, page) = app
            .get_text_with_cookie(&format!("/checkout/return?order={order_id}"), &ada)
            .await;
        assert_eq!(s, 200);
        assert!(page.contains("Paid"), "{page}");
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
        let o = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == order_id)
            .cloned()
            .unwrap();
        assert_eq!(
            (o["status"].as_str(), o["cash_paid"]["minor"].as_i64()),
            (Some("paid"), Some(4_928)),
            "{o}"
        );

        // Then the webhook arrives (twice): nothing is granted twice.
        let body = json!({"id": "evt_cs_done", "object": "event", "type": "checkout.session.completed",
            "created": chrono::Utc::now().timestamp(), "data": {"object": {"id": session, "object": "checkout.session",
            "client_reference_id": order_id.to_string(), "payment_status": "paid", "amount_total": 4_928,
            "currency": "usd", "payment_intent": "pi_bundle", "customer": "cus_ada"}}})
        .to_string();
        for _ in 0..2 {
            let sig = payments::signature::sign(body.as_bytes(), SECRET, chrono::Utc::now().timestamp());
            let r = app
                .client
                .post(app.url("/webhooks/stripe"))
                .header("stripe-signature", sig)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let (_, ents) = send(&app, "GET", "/api/v1/me/entitlements", Some(&ada), None).await;
        let bundles = ents["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["scope"] == "bundle")
            .count();
        assert_eq!(bundles, 1, "{db:?}: granted once: {ents}");

        // An admin refund of a Stripe payment goes to Stripe; its webhook will revoke.
        fake.take_requests();
        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/admin/orders/{order_id}/refund"),
            Some(&admin),
            Some(json!({"reason": "asked within 14 days"})),
        )
        .await;
        assert_eq!(s, 202, "{r}");
        let reqs = fake.take_requests();
        assert_eq!(reqs.len(), 1, "{reqs:#?}");
        assert_eq!(
            (reqs[0].method.as_str(), reqs[0].path.as_str()),
            ("POST", "/v1/refunds")
        );
        assert_eq!(field(&reqs[0], "payment_intent"), "pi_bundle");
        assert_eq!(
            reqs[0].idempotency_key.as_deref(),
            Some(format!("keys-refund-{order_id}-after-0-all").as_str())
        );
        let refunded = json!({"id": "evt_refund", "object": "event", "type": "charge.refunded",
            "created": chrono::Utc::now().timestamp(), "data": {"object": {"id": "ch_1", "object": "charge",
            "amount": 4_928, "amount_refunded": 4_928, "refunded": true, "payment_intent": "pi_bundle"}}})
        .to_string();
        let sig = payments::signature::sign(refunded.as_bytes(), SECRET, chrono::Utc::now().timestamp());
        let r = app
            .client
            .post(app.url("/webhooks/stripe"))
            .header("stripe-signature", sig)
            .body(refunded)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let mut status = Value::Null;
        for _ in 0..40 {
            let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
            status = orders["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["id"] == order_id)
                .unwrap()["status"]
                .clone();
            if status == "refunded" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, "refunded", "{db:?}");
        app.stop().await.unwrap();
    }
}

async fn orders_of(app: &common::TestApp, cookie: &str) -> Vec<Value> {
    let (_, r) = send(app, "GET", "/api/v1/me/orders", Some(cookie), None).await;
    r["items"].as_array().unwrap().clone()
}

async fn stripe_app(db: &test_support::TestDatabase, fake: &FakeStripe) -> common::TestApp {
    let (offers, names) = ingest::documents::offers_from_assets(&test_support::repo_assets_dir()).unwrap();
    let items = payments::ports::catalog_items(&offers, &names);
    let gateway = stripe_gateway::StripeGateway::new("sk_test_fake", Some(&fake.base)).unwrap();
    gateway.sync_catalog(&items).await.unwrap();
    fake.take_requests();
    common::spawn_app_with(
        db,
        &test_support::repo_assets_dir(),
        &[
            ("stripe.secret_key", "sk_test_fake".into()),
            ("stripe.api_base", fake.base.clone()),
            ("stripe.webhook_secrets", SECRET.into()),
            ("server.public_url", "https://shop.example".into()),
            ("worker.in_server", "false".into()),
        ],
    )
    .await
}

/// A second checkout for the same SKU expires the first Checkout Session at Stripe and
/// cancels its order only when that succeeds; a session that is already complete (paid, or an
/// asynchronous payment under way) is never cancelled — the new checkout is refused instead.
#[tokio::test]
async fn a_second_checkout_expires_the_open_session_and_never_cancels_a_paid_one() {
    for db in test_support::databases().await {
        let fake = FakeStripe::start().await;
        let app = stripe_app(&db, &fake).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let sku = json!({"sku": "key:disk-full-recovery"});
        let (s, first) = send(&app, "POST", "/api/v1/checkout", Some(&ada), Some(sku.clone())).await;
        assert_eq!(s, 200, "{first}");
        let first_session = first["session_id"].as_str().unwrap().to_owned();
        fake.take_requests();
        let (s, second) = send(&app, "POST", "/api/v1/checkout", Some(&ada), Some(sku.clone())).await;
        assert_eq!(s, 200, "{second}");
        let reqs = fake.take_requests();
        assert_eq!(
            (reqs[0].method.as_str(), reqs[0].path.as_str()),
            ("POST", format!("/v1/checkout/sessions/{first_session}/expire").as_str()),
            "{db:?}: {reqs:#?}"
        );
        assert_eq!(fake.session(&first_session).unwrap()["status"], "expired");
        let list = orders_of(&app, &ada).await;
        assert_eq!(list[0]["status"], "cancelled");
        assert_eq!(list[1]["status"], "pending");

        // The buyer pays the second session on Stripe's page; before the webhook, a third
        // checkout finds it complete: refused, and the paid order stays.
        let second_session = second["session_id"].as_str().unwrap().to_owned();
        fake.pay_session(&second_session, "pi_second");
        fake.take_requests();
        let (s, r) = send(&app, "POST", "/api/v1/checkout", Some(&ada), Some(sku)).await;
        assert_eq!(s, 409, "{db:?}: {r}");
        let paths: Vec<String> = fake
            .take_requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            paths,
            [
                format!("POST /v1/checkout/sessions/{second_session}/expire"),
                format!("GET /v1/checkout/sessions/{second_session}")
            ]
        );
        let list = orders_of(&app, &ada).await;
        assert_eq!(list.len(), 2, "{db:?}: no third order");
        assert_eq!(list[1]["status"], "pending");
        // The return page sees the paid session and fulfils it.
        let id = list[1]["id"].as_i64().unwrap();
        let (_, page) = app
            .get_text_with_cookie(&format!("/checkout/return?order={id}"), &ada)
            .await;
        assert!(page.contains("Paid"), "{page}");
    }
}

/// Partial refunds at Stripe: each a new refund (its own idempotency key), capped by the cash
/// not refunded yet — the second of two equal partial refunds is not swallowed as a replay.
#[tokio::test]
async fn partial_refunds_at_stripe_are_distinct_and_capped() {
    for db in test_support::databases().await {
        let fake = FakeStripe::start().await;
        let app = stripe_app(&db, &fake).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (_, started) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "key:redis-memory-pressure"})),
        )
        .await;
        let order = started["order_id"].as_i64().unwrap();
        let session = started["session_id"].as_str().unwrap().to_owned();
        fake.pay_session(&session, "pi_partial");
        let (_, page) = app
            .get_text_with_cookie(&format!("/checkout/return?order={order}"), &ada)
            .await;
        assert!(page.contains("Paid"), "{page}");
        let refund = |amount: &'static str| {
            let app = &app;
            let admin = admin.clone();
            async move {
                send(
                    app,
                    "POST",
                    &format!("/api/v1/admin/orders/{order}/refund"),
                    Some(&admin),
                    Some(json!({"amount": amount, "reason": "partial"})),
                )
                .await
            }
        };
        fake.take_requests();
        assert_eq!(refund("10.00").await.0, 202);
        // Stripe confirms the first partial refund.
        let body = json!({"id": "evt_partial_1", "object": "event", "type": "charge.refunded",
            "created": chrono::Utc::now().timestamp(), "data": {"object": {"id": "ch_p", "object": "charge",
            "amount": 4_900, "amount_refunded": 1_000, "refunded": false, "payment_intent": "pi_partial"}}})
        .to_string();
        let inbox = common::inbox(&db).await;
        common::deliver(&app, &body, common::signed(&body, SECRET)).await;
        common::drain(inbox.as_ref()).await;
        assert_eq!(refund("10.00").await.0, 202);
        let keys: Vec<String> = fake
            .take_requests()
            .iter()
            .filter(|r| r.path == "/v1/refunds")
            .map(|r| r.idempotency_key.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                format!("keys-refund-{order}-after-0-1000"),
                format!("keys-refund-{order}-after-1000-1000")
            ],
            "{db:?}"
        );
        // More than the cash not refunded yet ($39.00 of $49.00, the second refund not yet
        // confirmed) is refused before Stripe.
        let (s, r) = refund("45.00").await;
        assert_eq!(s, 409, "{r}");
        assert!(fake.take_requests().is_empty());
    }
}

/// Issue 12: a fully credited plan is still a real subscription. Ada paid $19.00 for a starter
/// KEY today; the $12.00 Starter monthly plan is fully credited, so the checkout opens a
/// subscription-mode session with a one-off coupon for the whole first invoice (Stripe collects
/// the card for the renewals at $12.00) — never a grant without a subscription.
#[tokio::test]
async fn a_fully_credited_plan_opens_a_subscription_with_a_one_off_coupon_for_the_whole_first_invoice() {
    for db in test_support::databases().await {
        let fake = FakeStripe::start().await;
        let app = stripe_app(&db, &fake).await;
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
        let (s, q) = send(&app, "GET", "/api/v1/quotes?sku=plan:starter:monthly", Some(&ada), None).await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(q["amount_due"]["minor"], 0, "{q}");
        fake.take_requests();
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "plan:starter:monthly"})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {r}");
        let order_id = r["order_id"].as_i64().unwrap();
        assert!(
            r["session_id"].as_str().is_some_and(|s| !s.is_empty()),
            "a real checkout: {r}"
        );
        let reqs = fake.take_requests();
        let coupon = reqs.iter().find(|r| r.path == "/v1/coupons").expect("a coupon");
        assert_eq!(
            (
                field(coupon, "amount_off"),
                field(coupon, "duration"),
                field(coupon, "max_redemptions")
            ),
            ("1200", "once", "1"),
            "the whole first invoice, once: {coupon:?}"
        );
        assert_eq!(
            coupon.idempotency_key.as_deref(),
            Some(format!("keys-coupon-{order_id}").as_str())
        );
        let cs = reqs
            .iter()
            .find(|r| r.path == "/v1/checkout/sessions")
            .expect("a session");
        assert_eq!(field(cs, "mode"), "subscription");
        assert_eq!(field(cs, "discounts[0][coupon]"), format!("keys-credit-{order_id}"));
        assert_eq!(field(cs, "subscription_data[metadata][sku]"), "plan:starter:monthly");
        assert_eq!(field(cs, "subscription_data[metadata][order_id]"), order_id.to_string());
        // Nothing granted before the subscription exists.
        let (_, ents) = send(&app, "GET", "/api/v1/me/entitlements", Some(&ada), None).await;
        assert!(
            !ents["items"].as_array().unwrap().iter().any(|e| e["scope"] == "plan"),
            "{db:?}: {ents}"
        );
        app.stop().await.unwrap();
    }
}

/// Issue 12: a plan bought by a subscriber changes the live subscription at Stripe — the exact
/// requests: the new Price by lookup key, the subscription's item, a one-off coupon for the
/// quote's credit (unused time), and one update (new price, period restarting now, no
/// proration of Stripe's own, payment taken now or nothing changes) under the change order's
/// idempotency key. Its `invoice.paid` fulfils the change for exactly the quote.
#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn a_plan_upgrade_updates_the_stripe_subscription_for_exactly_the_quote() {
    for db in test_support::databases().await {
        let fake = FakeStripe::start().await;
        let app = stripe_app(&db, &fake).await;
        let inbox = common::inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (s, started) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "plan:starter:monthly"})),
        )
        .await;
        assert_eq!(s, 200, "{started}");
        let first = started["order_id"].as_i64().unwrap();
        let session = started["session_id"].as_str().unwrap().to_owned();
        let completed = common::event(
            "evt_starter",
            "checkout.session.completed",
            json!({"id": session, "object": "checkout.session", "client_reference_id": first.to_string(),
                   "payment_status": "paid", "status": "complete", "amount_total": 1_200, "currency": "usd",
                   "payment_intent": null, "subscription": "sub_ada", "customer": "cus_ada", "mode": "subscription"}),
        );
        let (s, r) = common::deliver(&app, &completed, common::signed(&completed, SECRET)).await;
        assert_eq!(s, 200, "{r}");
        common::drain(inbox.as_ref()).await;
        let starter_price = fake
            .prices()
            .into_iter()
            .find(|p| p["lookup_key"] == "plan:starter:monthly")
            .unwrap();
        fake.seed_subscription("sub_ada", "cus_ada", starter_price["id"].as_str().unwrap());
        let operator_price = fake
            .prices()
            .into_iter()
            .find(|p| p["lookup_key"] == "plan:operator:monthly")
            .unwrap();

        let (_, q) = send(
            &app,
            "GET",
            "/api/v1/quotes?sku=plan:operator:monthly",
            Some(&ada),
            None,
        )
        .await;
        let due = q["amount_due"]["minor"].as_i64().unwrap();
        let credit = q["credit_total"]["minor"].as_i64().unwrap();
        assert!(credit > 0 && due + credit == 2_900, "{q}");
        fake.take_requests();
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "plan:operator:monthly"})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {r}");
        let change = r["order_id"].as_i64().unwrap();
        assert_eq!(r["session_id"], Value::Null, "no new Checkout Session: {r}");
        let reqs = fake.take_requests();
        let paths: Vec<String> = reqs.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
        assert_eq!(
            paths,
            [
                "GET /v1/prices",
                "GET /v1/subscriptions/sub_ada",
                "POST /v1/coupons",
                "POST /v1/subscriptions/sub_ada"
            ],
            "{db:?}: never a second subscription: {reqs:#?}"
        );
        assert_eq!(
            (field(&reqs[2], "amount_off"), field(&reqs[2], "duration")),
            (credit.to_string().as_str(), "once"),
            "the quote's credit, once"
        );
        let update = &reqs[3];
        assert_eq!(field(update, "items[0][id]"), "si_sub_ada");
        assert_eq!(field(update, "items[0][price]"), operator_price["id"].as_str().unwrap());
        assert_eq!(field(update, "proration_behavior"), "none");
        assert_eq!(field(update, "billing_cycle_anchor[type]"), "now");
        assert_eq!(field(update, "payment_behavior"), "error_if_incomplete");
        assert_eq!(field(update, "discounts[0][coupon]"), format!("keys-credit-{change}"));
        assert_eq!(field(update, "metadata[order_id]"), change.to_string());
        assert_eq!(field(update, "metadata[sku]"), "plan:operator:monthly");
        assert_eq!(
            update.idempotency_key.as_deref(),
            Some(format!("keys-plan-change-{change}").as_str())
        );

        // Stripe invoices the change at once; its invoice names the change order.
        let now = chrono::Utc::now().timestamp();
        let paid = common::event(
            "evt_change_paid",
            "invoice.paid",
            json!({"id": "in_change", "object": "invoice", "amount_paid": due, "billing_reason": "subscription_update",
                   "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_ada",
                       "metadata": {"order_id": change.to_string(), "sku": "plan:operator:monthly"}}},
                   "lines": {"object": "list", "data": [{"period": {"start": now, "end": now + 30 * 86_400}}]}}),
        );
        let (s, r) = common::deliver(&app, &paid, common::signed(&paid, SECRET)).await;
        assert_eq!(s, 200, "{r}");
        common::drain(inbox.as_ref()).await;
        let (_, subs) = send(&app, "GET", "/api/v1/me/subscriptions", Some(&ada), None).await;
        let items = subs["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{db:?}: {subs}");
        assert_eq!(
            (
                items[0]["id"].as_str(),
                items[0]["sku"].as_str(),
                items[0]["order_id"].as_i64()
            ),
            (Some("sub_ada"), Some("plan:operator:monthly"), Some(change))
        );
        let list = orders_of(&app, &ada).await;
        let order = list.iter().find(|o| o["id"] == change).unwrap();
        assert_eq!(
            (order["status"].as_str(), order["cash_paid"]["minor"].as_i64()),
            (Some("paid"), Some(due))
        );
        // An invoice for another amount than the quote would have been refused: replaying the
        // same event changes nothing.
        let (s, r) = common::deliver(&app, &paid, common::signed(&paid, SECRET)).await;
        assert_eq!((s, r["duplicate"].as_bool()), (200, Some(true)), "{r}");

        // Cancel at the end of the period, then resume: one update each, with its own key.
        fake.take_requests();
        for (action, flag) in [("cancel", "true"), ("resume", "false")] {
            let (s, r) = send(
                &app,
                "POST",
                &format!("/api/v1/me/subscriptions/sub_ada/{action}"),
                Some(&ada),
                None,
            )
            .await;
            assert_eq!(s, 200, "{db:?}: {r}");
            let reqs = fake.take_requests();
            assert_eq!(reqs.len(), 1, "{reqs:#?}");
            assert_eq!(
                (reqs[0].method.as_str(), reqs[0].path.as_str()),
                ("POST", "/v1/subscriptions/sub_ada")
            );
            assert_eq!(field(&reqs[0], "cancel_at_period_end"), flag);
            assert!(
                reqs[0]
                    .idempotency_key
                    .as_deref()
                    .is_some_and(|k| k.starts_with(&format!("keys-{action}-sub_ada-"))),
                "{:?}",
                reqs[0].idempotency_key
            );
            assert_eq!(r["cancel_at_period_end"].as_bool(), Some(flag == "true"));
        }

        // A downgrade is scheduled at Stripe: the Starter Price from the next invoice, no
        // proration, the billing cycle unchanged — nothing charged now.
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "plan:starter:monthly"})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {r}");
        let reqs = fake.take_requests();
        let paths: Vec<String> = reqs.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
        assert_eq!(
            paths,
            [
                "GET /v1/prices",
                "GET /v1/subscriptions/sub_ada",
                "POST /v1/subscriptions/sub_ada"
            ],
            "{reqs:#?}"
        );
        let schedule = &reqs[2];
        assert_eq!(
            field(schedule, "items[0][price]"),
            starter_price["id"].as_str().unwrap()
        );
        assert_eq!(field(schedule, "proration_behavior"), "none");
        assert_eq!(field(schedule, "billing_cycle_anchor[type]"), "unchanged");
        assert_eq!(field(schedule, "metadata[sku]"), "plan:operator:monthly");
        assert_eq!(field(schedule, "metadata[scheduled_sku]"), "plan:starter:monthly");
        assert!(
            field(schedule, "discounts[0][coupon]").is_empty(),
            "nothing to credit: nothing is charged"
        );
        assert!(
            schedule
                .idempotency_key
                .as_deref()
                .is_some_and(|k| k.starts_with("keys-plan-schedule-sub_ada-plan:starter:monthly-")),
            "{:?}",
            schedule.idempotency_key
        );
        app.stop().await.unwrap();
    }
}

/// "Resume payment" asks Stripe for the Checkout Session now: its page while it is open (the
/// URL Stripe gave, never one from the browser); once Stripe has expired it, a page that says
/// so, and the order stays as it was. Someone else cannot resume it.
#[tokio::test]
async fn resuming_a_checkout_goes_back_to_stripes_page_only_while_it_is_open() {
    for db in test_support::databases().await {
        let fake = FakeStripe::start().await;
        let app = stripe_app(&db, &fake).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let eve = sign_up(&app, "eve@example.com").await;
        let (s, started) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "key:disk-full-recovery"})),
        )
        .await;
        assert_eq!(s, 200, "{started}");
        let order = started["order_id"].as_i64().unwrap();
        let session = started["session_id"].as_str().unwrap().to_owned();
        let stripe_page = fake.session(&session).unwrap()["url"].as_str().unwrap().to_owned();
        let back = format!("/checkout/return?order={order}&cancelled=1");
        let (_, page) = app.get_text_with_cookie(&back, &ada).await;
        assert!(page.contains("id=\"resume-payment\""), "{db:?}: {page}");
        let resume = |cookie: &str, page: &str| {
            let csrf = common::csrf_in(page);
            app.client
                .post(app.url("/checkout/resume"))
                .header("cookie", cookie)
                .form(&[("csrf", csrf), ("order", order.to_string())])
                .send()
        };
        fake.take_requests();
        let r = resume(&ada, &page).await.unwrap();
        assert_eq!(r.status(), 303, "{db:?}");
        assert_eq!(r.headers()["location"], stripe_page.as_str());
        let asked: Vec<String> = fake
            .take_requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(asked, [format!("GET /v1/checkout/sessions/{session}")]);

        let (_, eve_page) = app.get_text_with_cookie("/account", &eve).await;
        let r = resume(&eve, &eve_page).await.unwrap();
        assert_eq!(r.status(), 404, "{db:?}");
        assert!(
            fake.take_requests().is_empty(),
            "nothing asked of Stripe for someone else"
        );

        // Stripe expired the session (24 h): the page says so; the order is unchanged.
        fake.seed_session(json!({"id": session, "status": "expired", "url": null,
            "client_reference_id": order.to_string(), "payment_status": "unpaid"}));
        let r = resume(&ada, &page).await.unwrap();
        assert_eq!(r.status(), 410, "{db:?}");
        let body = r.text().await.unwrap();
        assert!(body.contains("This payment page has closed"), "{body}");
        assert!(
            body.contains(&format!("href=\"/checkout/return?order={order}\"")),
            "{body}"
        );
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
        assert_eq!(orders["items"][0]["status"], "pending", "{db:?}: {orders}");
        app.stop().await.unwrap();
    }
}
