//! Disputes (issue 12), over HTTP on SQLite and Postgres: `charge.dispute.created` suspends what
//! the disputed payment bought (downloads answer 403 "under dispute"), `charge.dispute.closed`
//! restores it when won and revokes it when lost (a chargeback: the order counts as refunded, so
//! its value is no credit later); events in either order, delivered twice, end the same; admins
//! list the open disputes.

mod common;

use common::{TestApp, deliver, drain, event, inbox, send, sign_up, signed};
use serde_json::{Value, json};

const SECRET: &str = "whsec_disputes";

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

async fn deliver_twice(app: &TestApp, body: &str) {
    for _ in 0..2 {
        let (s, r) = deliver(app, body, signed(body, SECRET)).await;
        assert_eq!(s, 200, "{r}");
    }
}

/// Buys `key` with payment `pi` (the checkout's completion delivered as Stripe would).
async fn buy(app: &TestApp, cookie: &str, key: &str, pi: &str) -> i64 {
    let (s, r) = send(
        app,
        "POST",
        "/api/v1/checkout",
        Some(cookie),
        Some(json!({"sku": format!("key:{key}")})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let order = r["order_id"].as_i64().unwrap();
    let (_, orders) = send(app, "GET", "/api/v1/me/orders", Some(cookie), None).await;
    let due = orders["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == order)
        .unwrap()["amount_due"]["minor"]
        .as_i64()
        .unwrap();
    let done = event(
        &format!("evt_paid_{pi}"),
        "checkout.session.completed",
        json!({"id": r["session_id"], "object": "checkout.session", "client_reference_id": order.to_string(),
               "payment_status": "paid", "status": "complete", "amount_total": due, "currency": "usd",
               "payment_intent": pi, "subscription": null, "customer": "cus_x", "mode": "payment"}),
    );
    deliver_twice(app, &done).await;
    order
}

fn dispute(kind: &str, id: &str, pi: &str, status: &str) -> String {
    event(
        &format!("evt_{id}_{kind}"),
        &format!("charge.dispute.{kind}"),
        json!({"id": id, "object": "dispute", "amount": 1_900, "currency": "usd", "charge": "ch_1",
               "payment_intent": pi, "reason": "fraudulent", "status": status}),
    )
}

async fn download(app: &TestApp, cookie: &str, key: &str) -> (u16, Value) {
    send(app, "POST", &format!("/api/v1/keys/{key}/download"), Some(cookie), None).await
}

async fn admin_disputes(app: &TestApp, admin: &str, state: &str) -> Vec<Value> {
    let (s, r) = send(
        app,
        "GET",
        &format!("/api/v1/admin/disputes?state={state}"),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    r["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_dispute_suspends_access_won_restores_it_and_lost_revokes_it_for_good() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let bob = sign_up(&app, "bob@example.com").await;
        buy(&app, &ada, "disk-full-recovery", "pi_ada").await;
        let bob_order = buy(&app, &bob, "disk-full-recovery", "pi_bob").await;
        drain(inbox.as_ref()).await;
        assert_eq!(download(&app, &ada, "disk-full-recovery").await.0, 200);

        // Opened: suspended, with the reason; admins see it.
        deliver_twice(&app, &dispute("created", "dp_ada", "pi_ada", "needs_response")).await;
        deliver_twice(&app, &dispute("created", "dp_bob", "pi_bob", "needs_response")).await;
        drain(inbox.as_ref()).await;
        let (s, r) = download(&app, &ada, "disk-full-recovery").await;
        assert_eq!(s, 403, "{db:?}: {r}");
        assert!(
            r["message"].as_str().is_some_and(|m| m.contains("under dispute")),
            "{r}"
        );
        let (_, ents) = send(&app, "GET", "/api/v1/me/entitlements", Some(&ada), None).await;
        assert_eq!(ents["items"][0]["status"], "disputed", "{ents}");
        let open = admin_disputes(&app, &admin, "open").await;
        assert_eq!(open.len(), 2, "{db:?}: {open:?}");
        assert_eq!(
            open.iter().find(|d| d["id"] == "dp_ada").unwrap()["reason"],
            "fraudulent"
        );
        let (s, _) = send(&app, "GET", "/api/v1/admin/disputes", Some(&ada), None).await;
        assert_eq!(s, 403, "buyers do not see disputes");

        // Won: restored. Lost: revoked for good, the order refunded (no credit later).
        deliver_twice(&app, &dispute("closed", "dp_ada", "pi_ada", "won")).await;
        deliver_twice(&app, &dispute("closed", "dp_bob", "pi_bob", "lost")).await;
        drain(inbox.as_ref()).await;
        assert_eq!(download(&app, &ada, "disk-full-recovery").await.0, 200, "{db:?}: won");
        let (s, r) = download(&app, &bob, "disk-full-recovery").await;
        assert_eq!(s, 403, "{db:?}: lost: {r}");
        let (_, ents) = send(&app, "GET", "/api/v1/me/entitlements", Some(&bob), None).await;
        assert_eq!(ents["items"][0]["status"], "revoked", "{ents}");
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&bob), None).await;
        let o = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == bob_order)
            .unwrap()
            .clone();
        assert_eq!(o["status"], "refunded", "{o}");
        let (_, q) = send(
            &app,
            "GET",
            "/api/v1/quotes?sku=bundle:incident-response-essentials",
            Some(&bob),
            None,
        )
        .await;
        assert_eq!(
            q["credit_total"]["minor"], 0,
            "{db:?}: a charged-back payment is no credit: {q}"
        );
        assert!(admin_disputes(&app, &admin, "open").await.is_empty());
        let all = admin_disputes(&app, &admin, "all").await;
        let statuses: Vec<(&str, &str)> = all
            .iter()
            .map(|d| (d["id"].as_str().unwrap(), d["status"].as_str().unwrap()))
            .collect();
        assert!(
            statuses.contains(&("dp_ada", "won")) && statuses.contains(&("dp_bob", "lost")),
            "{statuses:?}"
        );
        app.stop().await.unwrap();
    }
}

/// Closed before opened (the events crossed): the outcome stands, the late "created" changes
/// nothing.
#[tokio::test]
async fn a_dispute_closed_before_it_is_opened_keeps_its_outcome() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        buy(&app, &ada, "disk-full-recovery", "pi_cross").await;
        drain(inbox.as_ref()).await;
        deliver_twice(&app, &dispute("closed", "dp_cross", "pi_cross", "won")).await;
        drain(inbox.as_ref()).await;
        deliver_twice(&app, &dispute("created", "dp_cross", "pi_cross", "needs_response")).await;
        drain(inbox.as_ref()).await;
        assert_eq!(
            download(&app, &ada, "disk-full-recovery").await.0,
            200,
            "{db:?}: won stands"
        );
        app.stop().await.unwrap();
    }
}
