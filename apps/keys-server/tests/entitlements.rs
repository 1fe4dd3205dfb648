//! Entitlements over HTTP (SQLite and Postgres): admin grants and revocations with reasons
//! and an audit trail, `GET /api/v1/me/entitlements`, and who may call what.

mod common;

use common::{send as call, sign_up};

use serde_json::{Value, json};

#[tokio::test]
async fn grants_revocations_and_who_may_call_what() {
    for (db, app) in common::spawn_apps().await {
        let grant =
            json!({"email": "ada@example.com", "key": "postgres-failover-runbook", "reason": "support ticket 42"});
        // Anonymous.
        assert_eq!(
            call(&app, "GET", "/api/v1/me/entitlements", None, None).await.0,
            401,
            "{db:?}"
        );
        assert_eq!(
            call(&app, "POST", "/api/v1/admin/entitlements", None, Some(grant.clone()))
                .await
                .0,
            401
        );
        assert_eq!(
            call(&app, "GET", "/api/v1/admin/customers?email=ada@example.com", None, None)
                .await
                .0,
            401
        );

        let ada = sign_up(&app, "ada@example.com").await;
        let bob = sign_up(&app, "bob@example.com").await;
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        assert_eq!(
            call(&app, "GET", "/api/v1/me/entitlements", Some(&ada), None).await,
            (200, json!({"items": []}))
        );

        // Non-admins may not grant, look up or revoke.
        assert_eq!(
            call(
                &app,
                "POST",
                "/api/v1/admin/entitlements",
                Some(&ada),
                Some(grant.clone())
            )
            .await
            .0,
            403
        );
        assert_eq!(
            call(
                &app,
                "GET",
                "/api/v1/admin/customers?email=ada@example.com",
                Some(&bob),
                None
            )
            .await
            .0,
            403
        );

        // Bad grants name the problem and write nothing.
        let (s, b) = call(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "key": "no-such-key", "reason": "x"})),
        )
        .await;
        assert_eq!((s, b["error"].as_str()), (404, Some("not_found")));
        let (s, _) = call(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            Some(&admin),
            Some(json!({"email": "nobody@example.com", "key": "postgres-failover-runbook", "reason": "x"})),
        )
        .await;
        assert_eq!(s, 404);
        let (s, b) = call(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            Some(&admin),
            Some(json!({"email": "ada@example.com", "key": "postgres-failover-runbook", "reason": " "})),
        )
        .await;
        assert_eq!(s, 400);
        assert!(b["message"].as_str().unwrap().contains("reason"));

        // The grant.
        let (s, ent) = call(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            Some(&admin),
            Some(grant.clone()),
        )
        .await;
        assert_eq!(s, 201, "{db:?}: {ent}");
        assert_eq!(
            (ent["key"].as_str(), ent["source"].as_str(), ent["status"].as_str()),
            (Some("postgres-failover-runbook"), Some("manual_grant"), Some("active"))
        );
        let id = ent["id"].as_i64().unwrap();
        let (_, mine) = call(&app, "GET", "/api/v1/me/entitlements", Some(&ada), None).await;
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        assert_eq!(mine["items"][0]["effective"], true);
        assert_eq!(mine["items"][0]["expires_at"], Value::Null, "perpetual");
        assert_eq!(
            call(&app, "GET", "/api/v1/me/entitlements", Some(&bob), None).await.1,
            json!({"items": []}),
            "not Bob's"
        );

        // Revoke, with a reason; twice is a conflict.
        assert_eq!(
            call(
                &app,
                "POST",
                &format!("/api/v1/admin/entitlements/{id}/revoke"),
                Some(&ada),
                Some(json!({"reason": "x"}))
            )
            .await
            .0,
            403
        );
        let (s, revoked) = call(
            &app,
            "POST",
            &format!("/api/v1/admin/entitlements/{id}/revoke"),
            Some(&admin),
            Some(json!({"reason": "chargeback reported"})),
        )
        .await;
        assert_eq!((s, revoked["status"].as_str()), (200, Some("revoked")));
        assert_eq!(
            call(
                &app,
                "POST",
                &format!("/api/v1/admin/entitlements/{id}/revoke"),
                Some(&admin),
                Some(json!({"reason": "again"}))
            )
            .await
            .0,
            409
        );
        assert_eq!(
            call(
                &app,
                "POST",
                "/api/v1/admin/entitlements/999999/revoke",
                Some(&admin),
                Some(json!({"reason": "x"}))
            )
            .await
            .0,
            404
        );
        let (_, mine) = call(&app, "GET", "/api/v1/me/entitlements", Some(&ada), None).await;
        assert_eq!(mine["items"][0]["effective"], false);

        // The audit trail names the admin and the reasons.
        let (s, view) = call(
            &app,
            "GET",
            "/api/v1/admin/customers?email=Ada@Example.com",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(s, 200);
        let audit = view["audit"].as_array().unwrap();
        assert_eq!(audit.len(), 2, "{view}");
        assert_eq!(audit[0]["action"]["type"], "grant");
        assert_eq!(audit[0]["cause"], "support ticket 42");
        assert_eq!(audit[0]["actor"]["type"], "admin");
        assert_eq!(audit[1]["action"]["type"], "revoke");
        assert_eq!(audit[1]["cause"], "chargeback reported");
    }
}
