//! The router table, held to the CSRF rule: every state-changing form route of `web::app`
//! takes a CSRF-checked form extractor, and — against the real server — refuses a forged token
//! with 403, signed in or not. New form routes are found by reading the router, so one added
//! without the check fails here.

mod common;

use std::collections::BTreeMap;

/// Form routes that are not browser forms, and why they need no CSRF token.
const EXEMPT: &[(&str, &str)] = &[("/webhooks/stripe", "Stripe-Signature (HMAC) verified")];

fn web_src() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/web/src")
}

/// `(path, handler)` of every page route with a POST, read from `web::app`'s router.
fn post_routes() -> Vec<(String, String)> {
    let lib = std::fs::read_to_string(web_src().join("lib.rs")).unwrap();
    let app = &lib[lib.find("pub fn app(").expect("web::app")..];
    let app = &app[..app.find("\n}\n").unwrap()];
    // The page router (the API routes are nested under `/api`, JSON-only, and guarded apart).
    let app = &app[app.rfind("Route::new()").expect("the page router")..];
    let mut out = Vec::new();
    // Each route: `.at("PATH", …)` up to the next `.at(` / `.nest(`.
    for chunk in app.split(".at(").skip(1) {
        let chunk = chunk.split(".nest(").next().unwrap();
        let path = chunk.split('"').nth(1).unwrap().to_owned();
        let Some(post) = chunk.find("post(") else { continue };
        let handler = chunk[post + 5..].split(')').next().unwrap().trim().to_owned();
        out.push((path, handler));
    }
    out
}

/// The parameters of handler `module::name`, as written in web's source.
fn signature_of(handler: &str) -> String {
    let name = handler.rsplit("::").next().unwrap();
    let needle = format!(" fn {name}(");
    for entry in walk(&web_src()) {
        let src = std::fs::read_to_string(&entry).unwrap();
        if let Some(at) = src.find(&needle) {
            let rest = &src[at..];
            return rest[..rest.find('{').unwrap()].to_owned();
        }
    }
    panic!("handler {handler} not found in crates/web/src");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_form_route_takes_a_csrf_checked_form() {
    let routes = post_routes();
    assert!(routes.len() >= 12, "the router was not read: {routes:?}");
    for (path, handler) in routes {
        if EXEMPT.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let sig = signature_of(&handler);
        assert!(
            sig.contains("CheckedForm<") || sig.contains("SignedInForm<"),
            "POST {path} ({handler}) must take CheckedForm or SignedInForm: {sig}"
        );
    }
}

/// Every field any form reads, so a forged post is refused for its token, not its shape.
fn forged_body() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("csrf", "forged-token"),
        ("sku", "key:nextjs-saas-starter"),
        ("org", ""),
        ("version", "1.0.0"),
        ("action", "pay"),
        ("email", "forger@example.com"),
        ("password", "correct horse battery"),
        ("current_password", "correct horse battery"),
        ("new_password", "another horse battery"),
        ("role", ""),
        ("intent", ""),
        ("category", ""),
    ])
}

#[tokio::test]
async fn every_form_route_refuses_a_forged_token() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let (cookie, _) = common::sign_up_account(&app, "victim@example.com").await;
    let slug = "nextjs-saas-starter";
    let routes: Vec<(String, String)> = post_routes()
        .into_iter()
        .filter(|(p, _)| !EXEMPT.iter().any(|(e, _)| e == p))
        .map(|(p, h)| {
            (
                p.replace(":slug", slug)
                    .replace(":session", "cs_local_1_forged")
                    .replace(":id", "1")
                    .replace(":invite", "inv_forged")
                    .replace(":account", "2")
                    .replace(":token", "forged-invite-token"),
                h,
            )
        })
        .collect();
    for (path, handler) in &routes {
        // Signed in: the session's token is the only one accepted.
        let r = app
            .client
            .post(app.url(path))
            .header("cookie", &cookie)
            .form(&forged_body())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            403,
            "signed-in POST {path} ({handler}) with a forged token"
        );
        // Not signed in, a double-submit cookie that differs from the form's token.
        let r = app
            .client
            .post(app.url(path))
            .header("cookie", "keys_csrf=the-real-one")
            .form(&forged_body())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let to_login = r.headers().get("location").is_some_and(|l| l == "/login");
        assert!(
            status == 403 || (status == 303 && to_login),
            "anonymous POST {path} ({handler}) with a forged token: {status}"
        );
    }
    // The session survived every forged sign-out and password change.
    let (status, _) = app.get_text_with_cookie("/account", &cookie).await;
    assert_eq!(status, 200);
    // And the same form with the right token works (the test can tell the difference).
    let (csrf, _) = common::form_csrf(&app, "/account", Some(&cookie)).await;
    let r = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    app.stop().await.unwrap();
}
