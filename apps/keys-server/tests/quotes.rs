//! SKUs and quotes over HTTP (SQLite and Postgres), with the shipped pricing file and bundles:
//! anonymous list prices, a buyer who owns some members (credited what they actually paid),
//! one who owns every member (free upgrade), a refunded buyer (no credit, access revoked), an
//! organisation's quote, upgrades twice in a row, and the errors that name the problem.
//!
//! `incident-response-essentials` = on-call-handbook $9 (override) + deploy-rollback-runbook
//! $49 + disk-full-recovery $19 + redis-memory-pressure $49 = $126.00, 22 % off ($27.72) =
//! $98.28.

mod common;

use common::{TestApp, send, sign_up};
use serde_json::{Value, json};

const BUNDLE: &str = "bundle:incident-response-essentials";

async fn quote(app: &TestApp, sku: &str, cookie: Option<&str>) -> (u16, Value) {
    send(app, "GET", &format!("/api/v1/quotes?sku={sku}"), cookie, None).await
}

async fn record(app: &TestApp, admin: &str, email: &str, sku: &str, org: Option<i64>) -> (u16, Value) {
    send(
        app,
        "POST",
        "/api/v1/admin/orders",
        Some(admin),
        Some(json!({"email": email, "sku": sku, "organisation": org, "reason": "invoice paid by transfer"})),
    )
    .await
}

fn minor(v: &Value) -> i64 {
    v["minor"].as_i64().unwrap_or_else(|| panic!("not an amount: {v}"))
}

#[tokio::test]
async fn skus_list_every_key_bundle_and_plan_with_prices() {
    for (db, app) in common::spawn_apps().await {
        let (s, list) = send(&app, "GET", "/api/v1/skus", None, None).await;
        assert_eq!(s, 200, "{db:?}");
        assert_eq!(list["currency"], "USD");
        let items = list["items"].as_array().unwrap();
        let find = |sku: &str| items.iter().find(|i| i["sku"] == sku).cloned().unwrap_or(Value::Null);
        assert_eq!(items.iter().filter(|i| i["kind"] == "key").count(), 27);
        assert_eq!(items.iter().filter(|i| i["kind"] == "bundle").count(), 5);
        assert_eq!(items.iter().filter(|i| i["kind"] == "plan").count(), 8);
        let b = find(BUNDLE);
        assert_eq!((minor(&b["list_price"]), minor(&b["price"])), (12_600, 9_828), "{b}");
        assert_eq!(b["discount_percent"], "22%");
        assert_eq!(b["keys"].as_array().unwrap().len(), 4);
        assert_eq!(
            minor(&find("key:postgres-failover-runbook")["price"]),
            19_900,
            "override"
        );
        assert_eq!(
            minor(&find("key:redis-memory-pressure")["price"]),
            4_900,
            "operator default"
        );
        let scale = find("plan:scale:annual");
        assert_eq!(
            (minor(&scale["price"]), scale["interval"].as_str()),
            (59_000, Some("annual"))
        );
        // Every KEY at or below Scale: all but the Enterprise-tier ones.
        assert!(scale["keys"].as_array().unwrap().len() < 27);
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn quotes_credit_what_was_paid_and_never_charge_twice() {
    for (db, app) in common::spawn_apps().await {
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let bob = sign_up(&app, "bob@example.com").await;
        let cy = sign_up(&app, "cy@example.com").await;

        // Bad requests name the problem.
        for (path, status, needle) in [
            ("/api/v1/quotes", 400, "`sku`"),
            ("/api/v1/quotes?sku=widget:x", 400, "unknown SKU prefix `widget`"),
            ("/api/v1/quotes?sku=plan:gold:monthly", 400, "gold"),
            ("/api/v1/quotes?sku=plan:scale:weekly", 400, "weekly"),
            (
                "/api/v1/quotes?sku=bundle:nope-bundle",
                404,
                "no bundle has the slug `nope-bundle`",
            ),
            (
                "/api/v1/quotes?sku=key:no-such-key",
                404,
                "no KEY has the slug `no-such-key`",
            ),
            ("/api/v1/quotes?sku=key:on-call-handbook&org=abc", 400, "`org`"),
            ("/api/v1/quotes?sku=key:on-call-handbook&org=1", 401, "sign in"),
        ] {
            let (s, body) = send(&app, "GET", path, None, None).await;
            assert_eq!(s, status, "{db:?} {path}: {body}");
            assert!(
                body["message"].as_str().unwrap_or("").contains(needle),
                "{path}: {body}"
            );
        }

        // Anonymous: the list price, nothing personal.
        let (s, q) = quote(&app, BUNDLE, None).await;
        assert_eq!(s, 200, "{db:?}: {q}");
        assert_eq!(
            (q["holder"].as_str(), q["personalised"].as_bool()),
            (Some("anonymous"), Some(false))
        );
        assert_eq!((minor(&q["price"]), minor(&q["amount_due"])), (9_828, 9_828));
        let kinds: Vec<&str> = q["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["list_price", "discount", "amount_due"]);

        // Only admins record orders.
        assert_eq!(
            send(
                &app,
                "POST",
                "/api/v1/admin/orders",
                None,
                Some(json!({"email": "ada@example.com", "sku": "key:on-call-handbook", "reason": "x"}))
            )
            .await
            .0,
            401
        );
        assert_eq!(
            send(
                &app,
                "POST",
                "/api/v1/admin/orders",
                Some(&ada),
                Some(json!({"email": "ada@example.com", "sku": "key:on-call-handbook", "reason": "x"}))
            )
            .await
            .0,
            403
        );

        // Ada owns two members, bought at list price: credited exactly what she paid.
        let (s, o1) = record(&app, &admin, "ada@example.com", "key:deploy-rollback-runbook", None).await;
        assert_eq!((s, minor(&o1["cash_paid"])), (201, 4_900), "{db:?}: {o1}");
        let (s, _) = record(&app, &admin, "ada@example.com", "key:disk-full-recovery", None).await;
        assert_eq!(s, 201);
        let (s, again) = record(&app, &admin, "ada@example.com", "key:disk-full-recovery", None).await;
        assert_eq!(s, 409, "a KEY is never sold twice: {again}");
        let (s, q) = quote(&app, BUNDLE, Some(&ada)).await;
        assert_eq!(s, 200, "{q}");
        assert_eq!(q["personalised"], true);
        let credits = q["credits"].as_array().unwrap();
        assert_eq!(credits.len(), 2, "{q}");
        assert_eq!(credits[0]["order_id"].as_i64(), o1["id"].as_i64());
        assert_eq!(credits[0]["keys"], json!(["deploy-rollback-runbook"]));
        assert_eq!(
            (minor(&q["credit_total"]), minor(&q["amount_due"])),
            (6_800, 3_028),
            "{q}"
        );
        assert_eq!(q["owned_members"].as_array().unwrap().len(), 2);
        assert!(q["explanation"].as_str().unwrap().contains("You pay $30.28"), "{q}");

        // She upgrades: pays exactly the quote, the credit is used up, and the bundle is hers.
        let (s, up) = record(&app, &admin, "ada@example.com", BUNDLE, None).await;
        assert_eq!(s, 201, "{up}");
        assert_eq!((minor(&up["cash_paid"]), minor(&up["credit_applied"])), (3_028, 6_800));
        let (s, q) = quote(&app, BUNDLE, Some(&ada)).await;
        assert_eq!(s, 409, "already owned: {q}");
        let (_, mine) = send(&app, "GET", "/api/v1/me/entitlements", Some(&ada), None).await;
        let sources: Vec<&str> = mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["source"].as_str().unwrap())
            .collect();
        assert_eq!(sources, ["purchase", "purchase", "bundle_purchase"]);
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
        let paid: i64 = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| minor(&o["cash_paid"]))
            .sum();
        assert_eq!(paid, 9_828, "in total Ada paid the bundle price, not more");

        // Bob owns every member (granted by support): the bundle is a free upgrade.
        for key in [
            "on-call-handbook",
            "deploy-rollback-runbook",
            "disk-full-recovery",
            "redis-memory-pressure",
        ] {
            common::grant_key(&app, &admin, "bob@example.com", key).await;
        }
        let (s, q) = quote(&app, BUNDLE, Some(&bob)).await;
        assert_eq!(
            (s, q["free_upgrade"].as_bool(), minor(&q["amount_due"])),
            (200, Some(true), 0),
            "{q}"
        );
        let (s, free) = record(&app, &admin, "bob@example.com", BUNDLE, None).await;
        assert_eq!((s, minor(&free["cash_paid"])), (201, 0), "{free}");
        let (_, mine) = send(&app, "GET", "/api/v1/me/entitlements", Some(&bob), None).await;
        assert!(
            mine["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["source"] == "free_upgrade"),
            "{mine}"
        );

        // Cy bought a member, then was refunded: no credit, and no access.
        let (_, o) = record(&app, &admin, "cy@example.com", "key:redis-memory-pressure", None).await;
        let id = o["id"].as_i64().unwrap();
        let refund = json!({"reason": "customer asked within 14 days"});
        assert_eq!(
            send(
                &app,
                "POST",
                &format!("/api/v1/admin/orders/{id}/refund"),
                Some(&cy),
                Some(refund.clone())
            )
            .await
            .0,
            403
        );
        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/admin/orders/{id}/refund"),
            Some(&admin),
            Some(refund.clone()),
        )
        .await;
        assert_eq!((s, r["status"].as_str()), (200, Some("refunded")), "{r}");
        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/admin/orders/{id}/refund"),
            Some(&admin),
            Some(refund.clone()),
        )
        .await;
        assert_eq!(s, 409, "refunding twice: {r}");
        let (s, q) = quote(&app, BUNDLE, Some(&cy)).await;
        assert_eq!(
            (s, minor(&q["amount_due"]), q["credits"].as_array().map(Vec::len)),
            (200, 9_828, Some(0)),
            "{q}"
        );
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/keys/redis-memory-pressure/download",
            Some(&cy),
            None,
        )
        .await;
        assert_eq!(s, 403, "a refund revokes access");
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/admin/orders/999999/refund",
            Some(&admin),
            Some(refund),
        )
        .await;
        assert_eq!(s, 404, "{r}");

        // Plans: Enterprise only for organisations (a SKU that exists, not sellable to this
        // holder: a conflict with who is asking).
        let (s, q) = quote(&app, "plan:enterprise:annual", Some(&ada)).await;
        assert_eq!(s, 409, "{q}");
        assert!(q["message"].as_str().unwrap().contains("organisations"));
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn organisations_get_their_own_quotes_and_credits() {
    for (db, app) in common::spawn_apps().await {
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let dee = sign_up(&app, "dee@acme.test").await;
        let eve = sign_up(&app, "eve@other.test").await;
        let (s, org) = send(&app, "POST", "/api/v1/orgs", Some(&dee), Some(json!({"name": "Acme"}))).await;
        assert_eq!(s, 201, "{db:?}");
        let org_id = org["id"].as_i64().unwrap();

        // The organisation bought the handbook; Dee personally did not.
        let (s, o) = record(&app, &admin, "dee@acme.test", "key:on-call-handbook", Some(org_id)).await;
        assert_eq!(
            (s, o["holder"].as_str()),
            (201, Some(format!("organisation:{org_id}").as_str())),
            "{o}"
        );
        let (s, bad) = record(&app, &admin, "eve@other.test", "key:on-call-handbook", Some(org_id)).await;
        assert_eq!(s, 409, "eve is not a member: {bad}");

        let (s, q) = send(
            &app,
            "GET",
            &format!("/api/v1/quotes?sku={BUNDLE}&org={org_id}"),
            Some(&dee),
            None,
        )
        .await;
        assert_eq!(
            (s, minor(&q["credit_total"]), minor(&q["amount_due"])),
            (200, 900, 8_928),
            "{q}"
        );
        assert_eq!(q["holder"], format!("organisation:{org_id}"));
        let (_, personal) = quote(&app, BUNDLE, Some(&dee)).await;
        assert_eq!(
            minor(&personal["amount_due"]),
            9_828,
            "personal quotes use personal purchases"
        );
        let (s, q) = send(
            &app,
            "GET",
            &format!("/api/v1/quotes?sku={BUNDLE}&org={org_id}"),
            Some(&eve),
            None,
        )
        .await;
        assert_eq!(s, 403, "{q}");
        let (s, q) = send(
            &app,
            "GET",
            &format!("/api/v1/quotes?sku=plan:enterprise:monthly&org={org_id}"),
            Some(&dee),
            None,
        )
        .await;
        assert_eq!(
            (s, minor(&q["amount_due"])),
            (200, 19_900 - 900),
            "the handbook bought this month counts: {q}"
        );
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn bundle_to_larger_bundle_credits_everything_paid_once() {
    for (db, app) in common::spawn_apps().await {
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        // key → bundle → larger bundle: the larger bundle's quote credits all that was paid.
        let (s, _) = record(&app, &admin, "ada@example.com", "key:next-authjs-starter", None).await;
        assert_eq!(s, 201, "{db:?}");
        let (_, small) = quote(&app, "bundle:saas-launch-kit", Some(&ada)).await;
        let (s, o2) = record(&app, &admin, "ada@example.com", "bundle:saas-launch-kit", None).await;
        assert_eq!((s, minor(&o2["cash_paid"])), (201, minor(&small["amount_due"])));
        let (_, big) = quote(&app, "bundle:saas-launch-kit-plus", Some(&ada)).await;
        let (s, o3) = record(&app, &admin, "ada@example.com", "bundle:saas-launch-kit-plus", None).await;
        assert_eq!(s, 201, "{o3}");
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
        let paid: i64 = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| minor(&o["cash_paid"]))
            .sum();
        assert_eq!(
            paid,
            minor(&big["price"]),
            "three purchases cost exactly the larger bundle: {big}"
        );
        app.stop().await.unwrap();
    }
}
