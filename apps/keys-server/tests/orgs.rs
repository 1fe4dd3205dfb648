//! Organisations over HTTP (SQLite and Postgres): invites, roles, members holding the
//! organisation's entitlements, and removal taking effect at once — links already issued too.

mod common;

use common::sign_up;

use serde_json::{Value, json};

const KEY: &str = "kubernetes-incident-response";

async fn send(app: &common::TestApp, method: &str, path: &str, cookie: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb = match method {
        "GET" => app.client.get(app.url(path)),
        "DELETE" => app.client.delete(app.url(path)),
        _ => app.client.post(app.url(path)),
    };
    rb = rb.header("cookie", cookie);
    if let Some(b) = body {
        rb = rb.json(&b);
    } else if method != "GET" {
        rb = rb.header("content-type", "application/json");
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn members_hold_the_organisations_entitlements_until_removed() {
    for (db, app) in common::spawn_apps().await {
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let owner = sign_up(&app, "owner@acme.test").await;
        let ada = sign_up(&app, "ada@acme.test").await;
        let bob = sign_up(&app, "bob@acme.test").await;

        let (s, org) = send(&app, "POST", "/api/v1/orgs", &owner, Some(json!({"name": "Acme"}))).await;
        assert_eq!((s, org["role"].as_str()), (201, Some("owner")), "{db:?}");
        let org_id = org["id"].as_i64().unwrap();

        // Invite Ada as a member; the invite works once.
        let (s, invite) = send(
            &app,
            "POST",
            &format!("/api/v1/orgs/{org_id}/invites"),
            &owner,
            Some(json!({"role": "member"})),
        )
        .await;
        assert_eq!(s, 201);
        let token = invite["token"].as_str().unwrap().to_owned();
        let (s, m) = send(&app, "POST", &format!("/api/v1/invites/{token}/accept"), &ada, None).await;
        assert_eq!((s, m["role"].as_str()), (200, Some("member")));
        assert_eq!(
            send(&app, "POST", &format!("/api/v1/invites/{token}/accept"), &bob, None)
                .await
                .0,
            404,
            "single use"
        );
        assert_eq!(
            send(&app, "POST", "/api/v1/invites/keys_inv_forged/accept", &bob, None)
                .await
                .0,
            404
        );
        // Members cannot invite; outsiders cannot see the organisation.
        assert_eq!(
            send(
                &app,
                "POST",
                &format!("/api/v1/orgs/{org_id}/invites"),
                &ada,
                Some(json!({"role": "member"}))
            )
            .await
            .0,
            403
        );
        assert_eq!(
            send(
                &app,
                "POST",
                &format!("/api/v1/orgs/{org_id}/invites"),
                &bob,
                Some(json!({"role": "member"}))
            )
            .await
            .0,
            404
        );
        let (_, mine) = send(&app, "GET", "/api/v1/orgs", &ada, None).await;
        assert_eq!(mine["items"][0]["name"], "Acme");

        // Support grants the KEY to the organisation: Ada (a member) can download it, Bob cannot.
        let (s, ent) = send(
            &app,
            "POST",
            "/api/v1/admin/entitlements",
            &admin,
            Some(json!({"organisation": org_id, "key": KEY, "reason": "team plan pilot"})),
        )
        .await;
        assert_eq!(s, 201, "{ent}");
        assert_eq!(ent["holder"], format!("organisation:{org_id}"));
        let (s, link) = send(&app, "POST", &format!("/api/v1/keys/{KEY}/download"), &ada, None).await;
        assert_eq!(s, 200, "{db:?}: members hold the organisation's entitlements");
        let url = link["url"].as_str().unwrap().to_owned();
        assert_eq!(
            app.client
                .get(app.url(&url))
                .header("cookie", &ada)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            send(&app, "POST", &format!("/api/v1/keys/{KEY}/download"), &bob, None)
                .await
                .0,
            403
        );
        let page = app
            .client
            .get(app.url(&format!("/marketplace/{KEY}")))
            .header("cookie", &ada)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("via organisation Acme (granted by support)"),
            "how Ada owns it"
        );

        // The last owner cannot leave; removing Ada takes effect at once, even for her issued link.
        assert_eq!(
            send(&app, "POST", &format!("/api/v1/orgs/{org_id}/leave"), &owner, None)
                .await
                .0,
            409
        );
        assert_eq!(
            send(&app, "DELETE", &format!("/api/v1/orgs/{org_id}/members/2"), &ada, None)
                .await
                .0,
            403,
            "members cannot remove the owner (account 2)"
        );
        let ada_id = m["account"].as_i64().unwrap();
        assert_eq!(
            send(
                &app,
                "DELETE",
                &format!("/api/v1/orgs/{org_id}/members/{ada_id}"),
                &owner,
                None
            )
            .await
            .0,
            204
        );
        assert_eq!(
            app.client
                .get(app.url(&url))
                .header("cookie", &ada)
                .send()
                .await
                .unwrap()
                .status(),
            403,
            "{db:?}: removed member, link already issued"
        );
        assert_eq!(
            send(&app, "POST", &format!("/api/v1/keys/{KEY}/download"), &ada, None)
                .await
                .0,
            403
        );
        assert_eq!(
            send(&app, "GET", "/api/v1/me/entitlements", &ada, None).await.1,
            json!({"items": []})
        );
    }
}
