//! The authorization matrix: every caller × every protected endpoint, each cell asserted
//! (status and error code), on SQLite and Postgres.
//!
//! Callers: anonymous, a user who owns the KEY, another user, an organisation member (the KEY is
//! granted to the organisation), a removed member, an admin (who owns nothing).

mod common;

use common::{send, sign_up};

use serde_json::{Value, json};

const OWNED: &str = "postgres-failover-runbook";
const ORG_KEY: &str = "tls-certificate-rotation";

#[tokio::test]
async fn every_caller_times_every_endpoint() {
    for (db, app) in common::spawn_apps().await {
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let owner = sign_up(&app, "owner@example.com").await;
        let other = sign_up(&app, "other@example.com").await;
        let lead = sign_up(&app, "lead@acme.test").await;
        let member = sign_up(&app, "member@acme.test").await;
        let removed = sign_up(&app, "removed@acme.test").await;

        // Set-up: Owner owns OWNED; Acme (lead, member, removed) owns ORG_KEY; then `removed` is removed.
        let g = send(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            Some(&admin),
            Some(json!({"email": "owner@example.com", "key": OWNED, "reason": "matrix"})),
        )
        .await;
        assert_eq!(g.0, 201);
        let grant_id = g.1["id"].as_i64().unwrap();
        let org = send(&app, "POST", "/api/v1/orgs", Some(&lead), Some(json!({"name": "Acme"})))
            .await
            .1["id"]
            .as_i64()
            .unwrap();
        for who in [&member, &removed] {
            let token = send(
                &app,
                "POST",
                &format!("/api/v1/orgs/{org}/invites"),
                Some(&lead),
                Some(json!({"role": "member"})),
            )
            .await
            .1["token"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(
                send(
                    &app,
                    "POST",
                    &format!("/api/v1/invites/{token}/accept"),
                    Some(who),
                    None
                )
                .await
                .0,
                200
            );
        }
        assert_eq!(
            send(
                &app,
                "POST",
                "/api/v1/admin/entitlements",
                Some(&admin),
                Some(json!({"organisation": org, "key": ORG_KEY, "reason": "matrix"}))
            )
            .await
            .0,
            201
        );
        // Links issued while everyone still had access.
        let owner_link = send(
            &app,
            "POST",
            &format!("/api/v1/keys/{OWNED}/download"),
            Some(&owner),
            None,
        )
        .await
        .1["url"]
            .as_str()
            .unwrap()
            .to_owned();
        let removed_link = send(
            &app,
            "POST",
            &format!("/api/v1/keys/{ORG_KEY}/download"),
            Some(&removed),
            None,
        )
        .await
        .1["url"]
            .as_str()
            .unwrap()
            .to_owned();
        let removed_id = 6;
        assert_eq!(
            send(
                &app,
                "DELETE",
                &format!("/api/v1/orgs/{org}/members/{removed_id}"),
                Some(&lead),
                None
            )
            .await
            .0,
            204
        );

        let callers: [(&str, Option<&str>); 6] = [
            ("anonymous", None),
            ("owner", Some(&owner)),
            ("other", Some(&other)),
            ("member", Some(&member)),
            ("removed", Some(&removed)),
            ("admin", Some(&admin)),
        ];
        type Row<'a> = (&'a str, &'a str, String, Option<Value>, [u16; 6]);
        //                                                                anon owner other member removed admin
        let rows: Vec<Row<'_>> = vec![
            (
                "me",
                "GET",
                "/api/v1/me/entitlements".into(),
                None,
                [401, 200, 200, 200, 200, 200],
            ),
            (
                "issue owned",
                "POST",
                format!("/api/v1/keys/{OWNED}/download"),
                None,
                [401, 200, 403, 403, 403, 403],
            ),
            (
                "issue org key",
                "POST",
                format!("/api/v1/keys/{ORG_KEY}/download"),
                None,
                [401, 403, 403, 200, 403, 403],
            ),
            (
                "use owner's link",
                "GET",
                owner_link.clone(),
                None,
                [403, 200, 403, 403, 403, 403],
            ),
            (
                "use removed member's link",
                "GET",
                removed_link.clone(),
                None,
                [403, 403, 403, 403, 403, 403],
            ),
            (
                "admin customers",
                "GET",
                "/api/v1/admin/customers?email=owner@example.com".into(),
                None,
                [401, 403, 403, 403, 403, 200],
            ),
            (
                "admin grant",
                "POST",
                "/api/v1/admin/entitlements".into(),
                Some(json!({"email": "other@example.com", "key": "deploy-rollback-runbook", "reason": "matrix"})),
                [401, 403, 403, 403, 403, 201],
            ),
            (
                "admin revoke (unknown id)",
                "POST",
                "/api/v1/admin/entitlements/999999/revoke".into(),
                Some(json!({"reason": "matrix"})),
                [401, 403, 403, 403, 403, 404],
            ),
            (
                "org invite",
                "POST",
                format!("/api/v1/orgs/{org}/invites"),
                Some(json!({"role": "member"})),
                [401, 404, 404, 403, 404, 404],
            ),
            (
                "tokens list",
                "GET",
                "/api/v1/tokens".into(),
                None,
                [401, 200, 200, 200, 200, 200],
            ),
            (
                "account page",
                "GET",
                "/account".into(),
                None,
                [303, 200, 200, 200, 200, 200],
            ),
            (
                "library page",
                "GET",
                "/account/keys".into(),
                None,
                [303, 200, 200, 200, 200, 200],
            ),
        ];
        for (name, method, path, body, want) in &rows {
            for (i, (who, cookie)) in callers.iter().enumerate() {
                let (status, json) = send(&app, method, path, *cookie, body.clone()).await;
                assert_eq!(status, want[i], "{db:?}: {name} as {who}: {json}");
                let code = json["error"].as_str();
                match status {
                    401 => assert_eq!(code, Some("unauthorized"), "{name} as {who}"),
                    403 if path.starts_with("/api/") => assert_eq!(code, Some("forbidden"), "{name} as {who}"),
                    404 if path.starts_with("/api/") => assert_eq!(code, Some("not_found"), "{name} as {who}"),
                    _ => {}
                }
            }
        }
        // The owner's entitlement is still there and untouched by all of the above.
        let (_, view) = send(
            &app,
            "GET",
            "/api/v1/admin/customers?email=owner@example.com",
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(view["entitlements"][0]["id"], grant_id);
        assert_eq!(view["entitlements"][0]["status"], "active");
    }
}
