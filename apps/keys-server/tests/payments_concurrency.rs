//! Postgres: two keys-server instances receive a few thousand shuffled, duplicated webhook
//! deliveries while two `keys-webhook-worker` processes apply them; one is killed with
//! SIGKILL mid-drain, the other stopped with SIGTERM at the end. The final orders and
//! entitlements equal those of applying each distinct event once, in order; nothing is left
//! pending (claimed) or dead.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestApp, send, sign_up};
use payments::ports::InboxRepository;
use serde_json::{Value, json};

const SECRET: &str = "whsec_concurrency";
const USERS: usize = 120;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Key,
    Bundle,
    Plan,
}

struct Buyer {
    cookie: String,
    kind: Kind,
    order: i64,
    session: String,
    events: Vec<String>,
    refunded: bool,
    partial: bool,
    failed: bool,
    deleted: bool,
    /// A dispute of the payment: `Some(true)` won, `Some(false)` lost.
    dispute: Option<bool>,
    /// The plan was cancelled for the end of its period (still active).
    cancelling: bool,
}

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": chrono::Utc::now().timestamp(),
           "livemode": false, "data": {"object": object}})
    .to_string()
}

/// A small deterministic shuffle (xorshift), so failures reproduce.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

async fn deliver(app: &TestApp, body: &str) -> u16 {
    let sig = payments::signature::sign(body.as_bytes(), SECRET, chrono::Utc::now().timestamp());
    app.client
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", sig)
        .body(body.to_owned())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines)]
async fn two_servers_two_workers_one_killed_apply_every_event_once() {
    let Some(db) = test_support::postgres_database().await else {
        assert!(!test_support::require_services(), "Postgres is required");
        eprintln!("skipped: no Postgres (set KEYS_TEST_DATABASE_URL)");
        return;
    };
    let extra = [
        ("stripe.webhook_secrets", SECRET.to_owned()),
        ("worker.in_server", "false".to_owned()),
        ("database.max_connections", "8".to_owned()),
    ];
    let a = common::spawn_app_with(&db, &test_support::repo_assets_dir(), &extra).await;
    let b = common::spawn_app_with(&db, &test_support::repo_assets_dir(), &extra).await;
    let now = chrono::Utc::now().timestamp();
    let renewed = now + 62 * 86_400;

    // Buyers and their orders, alternating servers.
    let mut buyers = Vec::new();
    for i in 0..USERS {
        let app = if i % 2 == 0 { &a } else { &b };
        let cookie = sign_up(app, &format!("buyer{i}@example.com")).await;
        let kind = [Kind::Key, Kind::Bundle, Kind::Plan][i % 3];
        let sku = match kind {
            Kind::Key => "key:redis-memory-pressure",
            Kind::Bundle => "bundle:database-reliability",
            Kind::Plan => "plan:operator:monthly",
        };
        let (s, r) = send(
            app,
            "POST",
            "/api/v1/checkout",
            Some(&cookie),
            Some(json!({"sku": sku})),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        let order = r["order_id"].as_i64().unwrap();
        let session = r["session_id"].as_str().unwrap().to_owned();
        let (pi, sub) = match kind {
            Kind::Plan => (Value::Null, Value::from(format!("sub_{i}"))),
            _ => (Value::from(format!("pi_{i}")), Value::Null),
        };
        let (_, o) = send(app, "GET", "/api/v1/me/orders", Some(&cookie), None).await;
        let due = o["items"][0]["amount_due"]["minor"].as_i64().unwrap();
        let mut events = vec![event(
            &format!("evt_{i}_completed"),
            "checkout.session.completed",
            json!({"id": session, "object": "checkout.session", "client_reference_id": order.to_string(),
                   "payment_status": "paid", "amount_total": due, "currency": "usd", "payment_intent": pi, "subscription": sub,
                   "customer": format!("cus_{i}")}),
        )];
        let refunded = kind == Kind::Key && i % 2 == 0;
        let partial = kind == Kind::Bundle && i % 4 == 1;
        let failed = kind == Kind::Plan && i % 4 == 2;
        let deleted = kind == Kind::Plan && i % 5 == 2;
        if refunded || partial {
            let amount_refunded = if partial { due / 3 } else { due };
            events.push(event(
                &format!("evt_{i}_refund"),
                "charge.refunded",
                json!({"id": format!("ch_{i}"), "object": "charge", "amount": due, "amount_refunded": amount_refunded,
                       "refunded": !partial, "payment_intent": format!("pi_{i}")}),
            ));
        }
        // Disputes (issue 12) of some KEY payments that were not refunded: opened, then won or
        // lost — shuffled with the rest, so "closed" may come before "opened".
        let dispute = (kind == Kind::Key && i % 6 == 3).then_some(i % 12 == 3);
        if let Some(won) = dispute {
            let d = |kind: &str, status: &str| {
                event(
                    &format!("evt_{i}_dispute_{kind}"),
                    &format!("charge.dispute.{kind}"),
                    json!({"id": format!("dp_{i}"), "object": "dispute", "amount": due, "currency": "usd",
                           "payment_intent": format!("pi_{i}"), "reason": "fraudulent", "status": status}),
                )
            };
            events.push(d("created", "needs_response"));
            events.push(d("closed", if won { "won" } else { "lost" }));
        }
        if kind == Kind::Plan {
            events.push(event(
                &format!("evt_{i}_renewal"),
                "invoice.paid",
                json!({"id": format!("in_{i}_2"), "object": "invoice", "subscription": format!("sub_{i}"), "amount_paid": due,
                       "lines": {"object": "list", "data": [{"period": {"start": now + 31 * 86_400, "end": renewed}}]}}),
            ));
        }
        if failed {
            events.push(event(
                &format!("evt_{i}_failed"),
                "invoice.payment_failed",
                json!({"id": format!("in_{i}_3"), "object": "invoice", "subscription": format!("sub_{i}"),
                       "lines": {"object": "list", "data": [{"period": {"start": renewed, "end": renewed + 31 * 86_400}}]}}),
            ));
        }
        let cancelling = kind == Kind::Plan && !deleted && !failed && i % 5 == 4;
        if cancelling {
            events.push(event(
                &format!("evt_{i}_cancel_at_period_end"),
                "customer.subscription.updated",
                json!({"id": format!("sub_{i}"), "object": "subscription", "status": "active", "cancel_at_period_end": true}),
            ));
        }
        if deleted {
            events.push(event(
                &format!("evt_{i}_deleted"),
                "customer.subscription.deleted",
                json!({"id": format!("sub_{i}"), "object": "subscription", "status": "canceled"}),
            ));
        }
        events.push(event(
            &format!("evt_{i}_noise"),
            "customer.updated",
            json!({"id": format!("cus_{i}")}),
        ));
        buyers.push(Buyer {
            cookie,
            kind,
            order,
            session,
            events,
            refunded,
            partial,
            failed,
            deleted,
            dispute,
            cancelling,
        });
    }

    // Every distinct event five times, shuffled, delivered 16 at a time across both servers.
    let mut deliveries: Vec<String> = buyers
        .iter()
        .flat_map(|b| b.events.iter().flat_map(|e| std::iter::repeat_n(e.clone(), 5)))
        .collect();
    shuffle(&mut deliveries, 0x5eed_1234);
    let distinct: usize = buyers.iter().map(|b| b.events.len()).sum();
    assert!(deliveries.len() >= 1_500, "{} deliveries", deliveries.len());

    // Two worker processes (the real `keys-webhook-worker` binary) on the same database.
    let env = [
        ("KEYS__WORKER__POLL_MS", "20"),
        ("KEYS__WORKER__MAX_ATTEMPTS", "12"),
        ("KEYS__WORKER__SWEEP_SECS", "3600"),
        ("KEYS__WORKER__BATCH", "8"),
    ];
    let mut worker_a = common::WorkerProcess::start(&db.url, &env);
    let worker_b = common::WorkerProcess::start(&db.url, &env);
    let inbox: Arc<dyn InboxRepository> = Arc::new(storage_sql::payments::SqlInbox::new(
        storage_sql::connect(&db.url, 2).await.unwrap(),
        payments::apply::Policy::default(),
        12,
    ));
    let apps = Arc::new([a, b]);
    let chunks: Vec<Vec<String>> = deliveries
        .chunks(deliveries.len().div_ceil(16))
        .map(<[String]>::to_vec)
        .collect();
    let mut senders = Vec::new();
    for (n, chunk) in chunks.into_iter().enumerate() {
        let apps = Arc::clone(&apps);
        senders.push(tokio::spawn(async move {
            for body in chunk {
                let status = deliver(&apps[n % 2], &body).await;
                assert_eq!(status, 200);
            }
        }));
    }
    // `kill -9` of worker A in the middle of the drain: once events are being applied, long
    // before all of them are. Its open transaction rolls back; its claimed rows stay pending
    // for worker B.
    let done = |counts: &[(String, i64)]| counts.iter().find(|(s, _)| s == "done").map_or(0, |(_, n)| *n);
    let mut at_kill = 0;
    for _ in 0..1_000 {
        at_kill = done(&inbox.counts().await.unwrap());
        if at_kill >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker_a.kill9();
    assert!(
        at_kill >= 40 && (at_kill as usize) < distinct / 2,
        "killed mid-drain: {at_kill} of {distinct} applied (worker A: {})",
        worker_a.stderr()
    );
    for s in senders {
        s.await.unwrap();
    }

    // Wait until nothing is pending.
    let mut counts = Vec::new();
    for _ in 0..600 {
        counts = inbox.counts().await.unwrap();
        if !counts.iter().any(|(s, _)| s == "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM: worker B finishes the batch under way and exits cleanly.
    let (clean, said) = worker_b.terminate(Duration::from_secs(10));
    assert!(clean, "worker B exit: {said}");
    assert!(said.starts_with("applied "), "{said}");
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, distinct, "one inbox row per distinct event: {counts:?}");
    assert!(!counts.iter().any(|(s, _)| s == "pending" || s == "dead"), "{counts:?}");

    // The final state equals applying each distinct event once, in order.
    for (i, buyer) in buyers.iter().enumerate() {
        let app = &apps[i % 2];
        let (_, orders) = send(app, "GET", "/api/v1/me/orders", Some(&buyer.cookie), None).await;
        let order = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == buyer.order)
            .cloned()
            .unwrap();
        let want_status = if buyer.refunded || buyer.dispute == Some(false) {
            "refunded"
        } else if buyer.partial {
            "partially_refunded"
        } else {
            "paid"
        };
        assert_eq!(
            order["status"], want_status,
            "buyer {i} ({:?}, {}): {order}",
            buyer.kind, buyer.session
        );
        let (_, ents) = send(app, "GET", "/api/v1/me/entitlements", Some(&buyer.cookie), None).await;
        let ents = ents["items"].as_array().unwrap();
        assert_eq!(ents.len(), 1, "buyer {i}: exactly one grant, never two: {ents:?}");
        let e = &ents[0];
        match buyer.kind {
            Kind::Key => {
                let lost = buyer.dispute == Some(false);
                assert_eq!(e["effective"], !buyer.refunded && !lost, "buyer {i}: {e}");
                if buyer.dispute.is_some() {
                    assert_eq!(
                        e["status"],
                        if lost { "revoked" } else { "active" },
                        "buyer {i}: dispute: {e}"
                    );
                }
            }
            Kind::Bundle => assert_eq!(e["effective"], true, "buyer {i}: {e}"),
            Kind::Plan => {
                if buyer.deleted {
                    assert_eq!(e["effective"], false, "buyer {i}: {e}");
                } else {
                    assert_eq!(e["effective"], true, "buyer {i}: {e}");
                    let want = if buyer.failed { "past_due" } else { "active" };
                    assert_eq!(e["status"], want, "buyer {i}: {e}");
                    let (_, subs) = send(app, "GET", "/api/v1/me/subscriptions", Some(&buyer.cookie), None).await;
                    assert_eq!(
                        subs["items"][0]["cancel_at_period_end"], buyer.cancelling,
                        "buyer {i}: cancelled for the period's end, still active: {subs}"
                    );
                    let end = chrono::DateTime::parse_from_rfc3339(e["expires_at"].as_str().unwrap()).unwrap();
                    if !buyer.failed {
                        assert_eq!(
                            end.timestamp(),
                            renewed,
                            "buyer {i}: renewed once, to the invoice's end: {e}"
                        );
                    }
                }
            }
        }
    }
    let apps = Arc::try_unwrap(apps).ok().unwrap();
    for app in apps {
        app.stop().await.unwrap();
    }
}
