//! Accounts over HTTP against the real server (SQLite and Postgres): JSON sign-up / sign-in /
//! sign-out, cookie attributes, uniform sign-in errors, throttling, and the HTML forms with
//! their CSRF checks.

mod common;

use common::spawn_apps;
use serde_json::json;

const PW: &str = "correct horse battery";

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keys_session="))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn json_signup_login_logout() {
    for (db, app) in spawn_apps().await {
        let c = &app.client;
        let r = c
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({"email": "Ada@Example.com", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{db:?}");
        let set = session_cookie(&r).expect("session cookie");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(set.contains(attr), "{set}");
        }
        assert!(!set.contains("Secure"), "plain-HTTP loopback server: no Secure flag");
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["email"], "ada@example.com");

        let r = c
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({"email": "ada@example.com", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let r = c
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({"email": "bob@example.com", "password": "short"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["field"], "password");

        // Wrong password and unknown email: same status, same body.
        let wrong = c
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": "nope nope nope"}))
            .send()
            .await
            .unwrap();
        let unknown = c
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "eve@example.com", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!((wrong.status().as_u16(), unknown.status().as_u16()), (401, 401));
        // The same answer, apart from each request's own id.
        let body = |text: String| {
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v.as_object_mut().unwrap().remove("request_id");
            v
        };
        assert_eq!(body(wrong.text().await.unwrap()), body(unknown.text().await.unwrap()));

        let r = c
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let login_cookie = cookie_value(&session_cookie(&r).unwrap());
        assert_ne!(login_cookie, cookie_value(&set), "a new session id at sign-in");

        // The session opens /account; sign-out ends it.
        let r = c
            .get(app.url("/account"))
            .header("cookie", &login_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("ada@example.com"));
        let r = c
            .post(app.url("/api/v1/auth/logout"))
            .header("cookie", &login_cookie)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert!(session_cookie(&r).unwrap().contains("Max-Age=0"));
        let r = c
            .get(app.url("/account"))
            .header("cookie", &login_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{db:?}: signed out session no longer opens /account");
        assert_eq!(
            r.headers()["location"],
            "/login?next=%2Faccount",
            "and back to the account page"
        );
    }
}

#[tokio::test]
async fn failed_sign_ins_are_throttled() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let c = &app.client;
    c.post(app.url("/api/v1/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": PW}))
        .send()
        .await
        .unwrap();
    // Three free guesses from one address, then that address must wait (2 s, 4 s, …).
    for _ in 0..3 {
        let r = c
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": "wrong wrong wrong"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = c
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        429,
        "slowed down even with the right password, from the guessing address"
    );
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "throttled");
}

fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

fn csrf_cookie(r: &reqwest::Response) -> String {
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keys_csrf="))
        .unwrap()
        .to_owned();
    cookie_value(&set)
}

#[tokio::test]
async fn html_forms_check_csrf() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let c = &app.client;

    let r = c.get(app.url("/signup")).send().await.unwrap();
    let jar = csrf_cookie(&r);
    let token = hidden_csrf(&r.text().await.unwrap());
    // Without the matching cookie (a cross-site post), refused and nothing created.
    let r = c
        .post(app.url("/signup"))
        .form(&[("email", "ada@example.com"), ("password", PW), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(app.url("/signup"))
        .header("cookie", &jar)
        .form(&[("email", "ada@example.com"), ("password", PW), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(app.url("/signup"))
        .header("cookie", &jar)
        .form(&[("email", "ada@example.com"), ("password", PW), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account");
    let session = cookie_value(&session_cookie(&r).unwrap());

    // Sign-out needs the session's CSRF token.
    let page = c
        .get(app.url("/account"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let session_csrf = hidden_csrf(&page);
    let r = c
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        c.get(app.url("/account"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "still signed in"
    );
    let r = c
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf", &session_csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        c.get(app.url("/account"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .status(),
        303
    );

    // The sign-in form: a wrong password shows the uniform error.
    let r = c.get(app.url("/login")).send().await.unwrap();
    let jar = csrf_cookie(&r);
    let token = hidden_csrf(&r.text().await.unwrap());
    let r = c
        .post(app.url("/login"))
        .header("cookie", &jar)
        .form(&[
            ("email", "ada@example.com"),
            ("password", "wrong wrong wrong"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("email or password is wrong"));
}

/// Personal API tokens: created once (shown once), listed without their value, accepted as
/// `Authorization: Bearer`, revocable by their owner only.
#[tokio::test]
async fn personal_api_tokens() {
    for (db, app) in spawn_apps().await {
        let c = &app.client;
        let app_ref = &app;
        let signup = |email: &'static str| async move {
            let r = app_ref
                .client
                .post(app_ref.url("/api/v1/auth/signup"))
                .json(&json!({"email": email, "password": PW}))
                .send()
                .await
                .unwrap();
            cookie_value(&session_cookie(&r).unwrap())
        };
        let ada = signup("ada@example.com").await;
        let bob = signup("bob@example.com").await;
        assert_eq!(
            c.post(app.url("/api/v1/tokens"))
                .json(&json!({"name": "ci"}))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let r = c
            .post(app.url("/api/v1/tokens"))
            .header("cookie", &ada)
            .json(&json!({"name": " "}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = c
            .post(app.url("/api/v1/tokens"))
            .header("cookie", &ada)
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{db:?}");
        let created: serde_json::Value = r.json().await.unwrap();
        let token = created["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("keys_pat_"));
        let id = created["id"].as_i64().unwrap();

        let listed: serde_json::Value = c
            .get(app.url("/api/v1/tokens"))
            .header("cookie", &ada)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(
            listed["items"][0]["token"],
            serde_json::Value::Null,
            "never shown again"
        );

        let bearer = |t: &str| format!("Bearer {t}");
        let r = c
            .get(app.url("/api/v1/me/entitlements"))
            .header("authorization", bearer(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{db:?}: the JSON API accepts the token");
        let r = c
            .get(app.url("/api/v1/me/entitlements"))
            .header("authorization", bearer("keys_pat_forged"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        // Only the owner can revoke it.
        let r = c
            .delete(app.url(&format!("/api/v1/tokens/{id}")))
            .header("cookie", &bob)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = c
            .delete(app.url(&format!("/api/v1/tokens/{id}")))
            .header("authorization", bearer(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = c
            .get(app.url("/api/v1/me/entitlements"))
            .header("authorization", bearer(&token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{db:?}: revoked tokens stop working at once");
    }
}

/// When configured (or when the public URL is HTTPS) the session cookie is `Secure` and named
/// with the `__Host-` prefix.
#[tokio::test]
async fn session_cookie_is_secure_unless_plain_http_loopback() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("server.secure_cookies", "true".into())],
    )
    .await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .json(&json!({"email": "ada@example.com", "password": PW}))
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-keys_session="))
        .expect("a __Host- session cookie")
        .to_owned();
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
}
