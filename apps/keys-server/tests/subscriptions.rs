//! Subscriptions (issue 12), over HTTP on SQLite and Postgres in local payment mode: a plan
//! bought by a holder who already has one changes that subscription — never a second one — and
//! charges exactly the quote; the database allows one live subscription per holder, so even two
//! plan checkouts paid one after the other cannot leave two.

mod common;

use common::{TestApp, csrf_in, deliver, drain, event, inbox, send, sign_up, signed};
use serde_json::{Value, json};

const SECRET: &str = "whsec_subscriptions";

async fn app_on(db: &test_support::TestDatabase) -> TestApp {
    common::spawn_app_with(
        db,
        &test_support::repo_assets_dir(),
        &[
            ("stripe.webhook_secrets", SECRET.into()),
            ("worker.in_server", "false".into()),
        ],
    )
    .await
}

/// Starts a checkout for `sku`: (order id, local session id).
async fn checkout(app: &TestApp, cookie: &str, sku: &str) -> (i64, String) {
    let (s, r) = send(app, "POST", "/api/v1/checkout", Some(cookie), Some(json!({"sku": sku}))).await;
    assert_eq!(s, 200, "{sku}: {r}");
    (
        r["order_id"].as_i64().unwrap(),
        r["session_id"].as_str().unwrap_or("").to_owned(),
    )
}

async fn quote_due(app: &TestApp, cookie: &str, sku: &str) -> i64 {
    let (s, q) = send(app, "GET", &format!("/api/v1/quotes?sku={sku}"), Some(cookie), None).await;
    assert_eq!(s, 200, "{q}");
    q["amount_due"]["minor"].as_i64().unwrap()
}

async fn subscriptions(app: &TestApp, cookie: &str) -> Vec<Value> {
    let (s, r) = send(app, "GET", "/api/v1/me/subscriptions", Some(cookie), None).await;
    assert_eq!(s, 200, "{r}");
    r["items"].as_array().unwrap().clone()
}

async fn orders(app: &TestApp, cookie: &str) -> Vec<Value> {
    let (_, r) = send(app, "GET", "/api/v1/me/orders", Some(cookie), None).await;
    r["items"].as_array().unwrap().clone()
}

async fn plan_grants(app: &TestApp, cookie: &str) -> Vec<Value> {
    let (_, r) = send(app, "GET", "/api/v1/me/entitlements", Some(cookie), None).await;
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["scope"] == "plan")
        .cloned()
        .collect()
}

#[tokio::test]
async fn starter_then_operator_then_scale_is_one_subscription_charged_exactly_the_quotes() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        assert!(subscriptions(&app, &ada).await.is_empty());

        let starter_due = quote_due(&app, &ada, "plan:starter:monthly").await;
        let (starter, session) = checkout(&app, &ada, "plan:starter:monthly").await;
        common::pay_locally(&app, &ada, &session).await;
        drain(inbox.as_ref()).await;
        let subs = subscriptions(&app, &ada).await;
        assert_eq!(subs.len(), 1, "{db:?}: {subs:?}");
        let sub_id = subs[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            (
                subs[0]["sku"].as_str(),
                subs[0]["status"].as_str(),
                subs[0]["order_id"].as_i64()
            ),
            (Some("plan:starter:monthly"), Some("active"), Some(starter))
        );
        assert!(
            subs[0]["holder"].as_str().is_some_and(|h| h.starts_with("user:")),
            "{subs:?}"
        );
        assert_eq!(subs[0]["cancel_at_period_end"], false);

        // While a plan change waits for its payment, no other plan checkout starts (two changes
        // of one subscription could both be charged); cancelling it on the test page frees it.
        let (_, waiting) = checkout(&app, &ada, "plan:operator:monthly").await;
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "plan:scale:monthly"})),
        )
        .await;
        assert_eq!(s, 409, "{db:?}: {r}");
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "plan:operator:monthly"})),
        )
        .await;
        assert_eq!(s, 409, "the same change is not reopened either: {r}");
        let (_, page) = app.get_text_with_cookie(&format!("/pay/local/{waiting}"), &ada).await;
        let r = app
            .client
            .post(app.url(&format!("/pay/local/{waiting}")))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&page)), ("action", "cancel".into())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        drain(inbox.as_ref()).await;

        // Upgrades: each is a change of the same subscription, paid exactly its quote (the new
        // price less the unused time of the current plan).
        let mut charged = vec![starter_due];
        for sku in ["plan:operator:monthly", "plan:scale:monthly"] {
            let due = quote_due(&app, &ada, sku).await;
            let (change, session) = checkout(&app, &ada, sku).await;
            assert!(!session.is_empty(), "the change is paid on the test page: {sku}");
            common::pay_locally(&app, &ada, &session).await;
            drain(inbox.as_ref()).await;
            let subs = subscriptions(&app, &ada).await;
            assert_eq!(subs.len(), 1, "{db:?}: one live subscription after {sku}: {subs:?}");
            assert_eq!(subs[0]["id"], sub_id.as_str(), "the same subscription, changed");
            assert_eq!(
                (subs[0]["sku"].as_str(), subs[0]["order_id"].as_i64()),
                (Some(sku), Some(change))
            );
            let order = orders(&app, &ada)
                .await
                .into_iter()
                .find(|o| o["id"] == change)
                .unwrap();
            assert_eq!(order["status"], "paid", "{order}");
            assert_eq!(
                order["cash_paid"]["minor"].as_i64(),
                Some(due),
                "{db:?}: charged the quote: {order}"
            );
            assert!(
                order["explanation"].as_str().is_some_and(|x| x.contains("unused time")),
                "the credit for unused time is on the order: {order}"
            );
            charged.push(due);
        }
        let all = orders(&app, &ada).await;
        let paid: i64 = all.iter().map(|o| o["cash_paid"]["minor"].as_i64().unwrap()).sum();
        assert_eq!(
            paid,
            charged.iter().sum::<i64>(),
            "{db:?}: total charged = sum of the quotes: {all:?}"
        );
        assert!(
            charged[1] < 2_900 && charged[2] < 5_900,
            "credit was given: {charged:?}"
        );
        // Only the Scale plan gives access now; the earlier plans' grants ended.
        let grants = plan_grants(&app, &ada).await;
        let live: Vec<&Value> = grants.iter().filter(|g| g["effective"] == true).collect();
        assert_eq!(live.len(), 1, "{db:?}: {grants:?}");
        assert_eq!(live[0]["scope_ref"], "scale", "{live:?}");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/kubernetes-incident-response/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "{db:?}: a scale KEY downloads on the Scale plan");

        // The next renewal is the subscription's and carries the Scale plan on.
        let now = chrono::Utc::now().timestamp();
        let renewed_until = now + 62 * 86_400;
        let renewal = event(
            "evt_scale_renewed",
            "invoice.paid",
            json!({"id": "in_renewal", "object": "invoice", "subscription": sub_id, "amount_paid": 5_900,
                   "billing_reason": "subscription_cycle",
                   "lines": {"object": "list", "data": [{"period": {"start": now + 31 * 86_400, "end": renewed_until}}]}}),
        );
        let (s, r) = deliver(&app, &renewal, signed(&renewal, SECRET)).await;
        assert_eq!(s, 200, "{r}");
        drain(inbox.as_ref()).await;
        let subs = subscriptions(&app, &ada).await;
        assert!(
            subs[0]["current_period_end"]
                .as_str()
                .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp() == renewed_until),
            "{db:?}: {subs:?}"
        );
        // A downgrade is scheduled for the end of the paid period: nothing charged, no new order,
        // the Scale plan until the period ends; the next renewal is the Starter plan's.
        let (_, review) = app
            .get_text_with_cookie("/checkout/review?sku=plan:starter:monthly", &ada)
            .await;
        assert!(
            review.contains("Scheduled, not charged") && review.contains(">$0.00<"),
            "the review says from when, and that nothing is charged: {review}"
        );
        let orders_before = orders(&app, &ada).await.len();
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "plan:starter:monthly"})),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["checkout_url"], "/account/billing", "{r}");
        assert_eq!(orders(&app, &ada).await.len(), orders_before, "{db:?}: nothing charged");
        let subs = subscriptions(&app, &ada).await;
        assert_eq!(
            (subs[0]["sku"].as_str(), subs[0]["scheduled_sku"].as_str()),
            (Some("plan:scale:monthly"), Some("plan:starter:monthly")),
            "{subs:?}"
        );
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/kubernetes-incident-response/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "still Scale until the period ends");
        let (_, billing) = app.get_text_with_cookie("/account/billing", &ada).await;
        assert!(billing.contains("then it becomes the Starter plan"), "{billing}");
        let next_until = renewed_until + 31 * 86_400;
        let renewal = event(
            "evt_starter_renewal",
            "invoice.paid",
            json!({"id": "in_renewal_2", "object": "invoice", "subscription": sub_id, "amount_paid": 1_200,
                   "billing_reason": "subscription_cycle",
                   "lines": {"object": "list", "data": [{"period": {"start": renewed_until, "end": next_until}}]}}),
        );
        let (s, r) = deliver(&app, &renewal, signed(&renewal, SECRET)).await;
        assert_eq!(s, 200, "{r}");
        drain(inbox.as_ref()).await;
        let subs = subscriptions(&app, &ada).await;
        assert_eq!(
            (subs[0]["sku"].as_str(), subs[0]["scheduled_sku"].as_str()),
            (Some("plan:starter:monthly"), None),
            "{db:?}: {subs:?}"
        );
        let effective: Vec<Value> = plan_grants(&app, &ada)
            .await
            .into_iter()
            .filter(|g| g["effective"] == true)
            .collect();
        assert_eq!(effective.len(), 1, "{db:?}: {effective:?}");
        assert_eq!(effective[0]["scope_ref"], "starter", "{effective:?}");
        app.stop().await.unwrap();
    }
}

/// Two plan checkouts opened before either is paid, both paid: the second payment cannot make
/// a second live subscription — its event is refused (parked dead, with the reason, for a
/// refund) and grants nothing.
#[tokio::test]
async fn two_plan_checkouts_paid_one_after_the_other_never_make_two_live_subscriptions() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (_, first) = checkout(&app, &ada, "plan:starter:monthly").await;
        let (second_order, second) = checkout(&app, &ada, "plan:operator:monthly").await;
        common::pay_locally(&app, &ada, &first).await;
        drain(inbox.as_ref()).await;
        common::pay_locally(&app, &ada, &second).await;
        let applied = drain(inbox.as_ref()).await;
        assert!(!applied.is_empty(), "{applied:?}");
        let subs = subscriptions(&app, &ada).await;
        assert_eq!(subs.len(), 1, "{db:?}: {subs:?}");
        assert_eq!(subs[0]["sku"], "plan:starter:monthly");
        let second = orders(&app, &ada)
            .await
            .into_iter()
            .find(|o| o["id"] == second_order)
            .unwrap();
        assert_ne!(
            second["status"], "paid",
            "{db:?}: nothing granted for a second subscription: {second}"
        );
        let effective: Vec<Value> = plan_grants(&app, &ada)
            .await
            .into_iter()
            .filter(|g| g["effective"] == true)
            .collect();
        assert_eq!(effective.len(), 1, "{db:?}: {effective:?}");
        let dead = inbox.list("dead", 10).await.unwrap();
        assert!(
            dead.iter().any(|d| d
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("second live subscription"))),
            "{db:?}: {dead:?}"
        );
        app.stop().await.unwrap();
    }
}

/// Cancel at the end of the paid period and resume, through the API: access continues until
/// the period ends; someone else's subscription id is a 404, never a change.
#[tokio::test]
async fn cancel_at_period_end_and_resume_through_the_api_only_for_the_holder() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let bob = sign_up(&app, "bob@example.com").await;
        let (_, session) = checkout(&app, &ada, "plan:operator:monthly").await;
        common::pay_locally(&app, &ada, &session).await;
        drain(inbox.as_ref()).await;
        let sub = subscriptions(&app, &ada).await[0]["id"].as_str().unwrap().to_owned();

        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/me/subscriptions/{sub}/cancel"),
            Some(&bob),
            None,
        )
        .await;
        assert_eq!(s, 404, "{db:?}: Bob cannot cancel Ada's subscription: {r}");
        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/me/subscriptions/{sub}/cancel?org=99"),
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 403, "{r}");

        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/me/subscriptions/{sub}/cancel"),
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(
            (r["id"].as_str(), r["cancel_at_period_end"].as_bool()),
            (Some(sub.as_str()), Some(true))
        );
        drain(inbox.as_ref()).await;
        assert_eq!(subscriptions(&app, &ada).await[0]["cancel_at_period_end"], true);
        let effective = plan_grants(&app, &ada)
            .await
            .into_iter()
            .filter(|g| g["effective"] == true)
            .count();
        assert_eq!(effective, 1, "{db:?}: access continues until the period ends");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/deploy-rollback-runbook/download",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "an operator KEY still downloads");

        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/me/subscriptions/{sub}/resume"),
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["cancel_at_period_end"], false);
        drain(inbox.as_ref()).await;
        assert_eq!(
            subscriptions(&app, &ada).await[0]["cancel_at_period_end"],
            false,
            "{db:?}"
        );
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/me/subscriptions/sub_unknown/resume",
            Some(&ada),
            None,
        )
        .await;
        assert_eq!(s, 404);
        app.stop().await.unwrap();
    }
}

/// Every purchase passes a review step (issue 12): the Buy form leads to `/checkout/review`,
/// which names what is bought, shows every quote line and the amount now — $0.00 too — and the
/// renewal terms; only its confirmation opens the checkout.
#[tokio::test]
async fn every_purchase_is_reviewed_before_it_starts_even_at_zero() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        // A $19.00 starter KEY paid today fully credits the $12.00 Starter plan.
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/admin/orders",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "sku": "key:disk-full-recovery", "reason": "invoice 7"})),
        )
        .await;
        assert_eq!(s, 201);
        let (csrf, _) = common::form_csrf(&app, "/account", Some(&ada)).await;
        let post = |form: Vec<(&'static str, String)>| {
            app.client
                .post(app.url("/checkout"))
                .header("cookie", &ada)
                .form(&form)
                .send()
        };
        let r = post(vec![("csrf", csrf.clone()), ("sku", "plan:starter:monthly".into())])
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let review = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(review, "/checkout/review?sku=plan:starter:monthly");
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
        assert_eq!(
            orders["items"].as_array().unwrap().len(),
            1,
            "nothing started before the review"
        );

        let (s, page) = app.get_text_with_cookie(&review, &ada).await;
        assert_eq!(s, 200, "{page}");
        assert!(page.contains("Starter plan, billed monthly"), "{page}");
        assert!(page.contains("id=\"amount-now\" class=\"money\">$0.00"), "{page}");
        assert!(
            page.contains("then $12.00 every month from") && page.contains("until you cancel"),
            "the renewal terms: {page}"
        );
        assert!(page.contains("Confirm — nothing to pay now"), "{page}");
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        let r = post(vec![
            ("csrf", csrf),
            ("sku", "plan:starter:monthly".into()),
            ("confirm", "1".into()),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), 303);
        assert!(
            r.headers()["location"].to_str().unwrap().starts_with("/pay/local/"),
            "{db:?}: confirmed: the (test) checkout, where the card is collected: {:?}",
            r.headers()["location"]
        );
        // A KEY: one payment, nothing recurring. Someone's malformed SKU: a 400, not a review.
        let (_, page) = app
            .get_text_with_cookie("/checkout/review?sku=key:redis-memory-pressure", &ada)
            .await;
        assert!(page.contains("Redis") && page.contains("nothing recurring"), "{page}");
        let (s, _) = app.get_text_with_cookie("/checkout/review?sku=widget:x", &ada).await;
        assert_eq!(s, 400);
        app.stop().await.unwrap();
    }
}

/// Copies `src` into `dst` (the test's own assets).
fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// The minimum-charge rule over HTTP (issue 12, docs/revenue/PRICING_MODEL.md rule 9): with a
/// starter KEY priced $11.60 bought today, the $12.00 Starter plan leaves $0.40 — below the
/// card minimum — so it is waived: the quote says so, nothing is charged, and the plan still
/// checks out as a real subscription (the whole first invoice as a one-off discount).
#[tokio::test]
async fn an_amount_under_the_card_minimum_is_waived_as_documented() {
    let assets = tempfile::tempdir().unwrap();
    copy_dir(&test_support::repo_assets_dir(), assets.path());
    let pricing = assets.path().join("pricing.toml");
    let text = std::fs::read_to_string(&pricing).unwrap();
    std::fs::write(
        &pricing,
        text.replace(
            "on-call-handbook = \"9.00\"",
            "on-call-handbook = \"9.00\"\ndisk-full-recovery = \"11.60\"",
        ),
    )
    .unwrap();
    for db in test_support::databases().await {
        let app = common::spawn_app_with(
            &db,
            assets.path(),
            &[
                ("stripe.webhook_secrets", SECRET.into()),
                ("worker.in_server", "false".into()),
            ],
        )
        .await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/admin/orders",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "sku": "key:disk-full-recovery", "reason": "invoice 8"})),
        )
        .await;
        assert_eq!(s, 201, "{r}");
        assert_eq!(r["cash_paid"]["minor"], 1_160, "{r}");
        let (s, q) = send(&app, "GET", "/api/v1/quotes?sku=plan:starter:monthly", Some(&ada), None).await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(
            (
                q["credit_total"]["minor"].as_i64(),
                q["waived"]["minor"].as_i64(),
                q["amount_due"]["minor"].as_i64()
            ),
            (Some(1_160), Some(40), Some(0)),
            "{db:?}: {q}"
        );
        let lines: Vec<&str> = q["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["kind"].as_str().unwrap())
            .collect();
        assert_eq!(lines, ["list_price", "credit", "waived", "amount_due"], "{q}");
        assert!(
            q["explanation"]
                .as_str()
                .unwrap()
                .ends_with("The $0.40 left is below the smallest card payment ($0.50), so it is waived."),
            "{q}"
        );
        // Checkout: a real (test) checkout for the subscription, nothing charged now.
        let (order, session) = checkout(&app, &ada, "plan:starter:monthly").await;
        assert!(!session.is_empty());
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
        let o = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == order)
            .unwrap()
            .clone();
        assert_eq!(o["amount_due"]["minor"], 0, "{o}");
        assert!(
            o["explanation"].as_str().unwrap().contains("is waived"),
            "the order keeps it: {o}"
        );
        app.stop().await.unwrap();
    }
}
