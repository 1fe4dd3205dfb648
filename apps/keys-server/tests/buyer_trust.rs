//! What makes a buyer trust the shop, over HTTP against the real server (SQLite and Postgres):
//! legal pages filled from the settings, page metadata, `?next=` that only ever leads back
//! into the shop, forgiving marketplace pages, the checkout return page's ways on, and styled
//! refusals.

mod common;

use common::{TestApp, csrf_in, drain, inbox, send, sign_up};
use serde_json::json;

async fn app_on(db: &test_support::TestDatabase) -> TestApp {
    common::spawn_app_with(
        db,
        &test_support::repo_assets_dir(),
        &[
            ("site.company_name", "Acme Tools Ltd".into()),
            ("site.support_email", "help@acme.example".into()),
            ("stripe.grace_days", "5".into()),
            ("worker.in_server", "false".into()),
        ],
    )
    .await
}

/// The legal pages name the seller and contact from `[site]`, state the numbers the shop
/// really uses (grace days, link lifetime, signal retention), and every page links to them.
#[tokio::test]
async fn legal_pages_are_filled_from_the_settings_and_linked_from_every_page() {
    let db = test_support::sqlite_database();
    let app = app_on(&db).await;
    for (path, needles) in [
        (
            "/terms",
            &[
                "Acme Tools Ltd",
                "help@acme.example",
                "for <strong>5 days</strong>",
                "expire after 5 minutes",
            ][..],
        ),
        (
            "/privacy",
            &[
                "Acme Tools Ltd",
                "help@acme.example",
                "deleted after 180 days",
                "keys_session",
            ][..],
        ),
        (
            "/refunds",
            &[
                "help@acme.example",
                "A full refund",
                "A partial refund",
                "must be refunded first",
            ][..],
        ),
        ("/license", &["Acme Tools Ltd", "You may not", "resell"][..]),
        ("/support", &["id=\"support-email\"", "help@acme.example"][..]),
    ] {
        let (status, html) = app.get_text(path).await;
        assert_eq!(status, 200, "{path}");
        for n in needles {
            assert!(html.contains(n), "{path} lacks {n:?}");
        }
        assert!(html.contains("<meta name=\"description\""), "{path}");
    }
    for path in [
        "/marketplace",
        "/pricing",
        "/marketplace/bundles",
        "/login",
        "/signup",
        "/discover",
    ] {
        let (_, html) = app.get_text(path).await;
        for link in [
            "href=\"/terms\"",
            "href=\"/refunds\"",
            "href=\"/license\"",
            "href=\"/privacy\"",
            "href=\"/support\"",
        ] {
            assert!(html.contains(link), "{path} has no footer link {link}");
        }
        assert!(html.contains("rel=\"icon\" href=\"/favicon.svg\""), "{path}");
    }
    for icon in ["/favicon.svg", "/favicon.ico"] {
        let r = app.get(icon).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        assert!(r.text().await.unwrap().starts_with("<svg"));
    }
    // A KEY page describes itself to search engines and link previews, and its breadcrumb is a
    // labelled landmark.
    let (_, html) = app.get_text("/marketplace/postgres-failover-runbook").await;
    for n in [
        "<meta property=\"og:title\" content=\"PostgreSQL Failover Runbook\">",
        "<meta property=\"og:type\" content=\"product\">",
        "<meta property=\"og:url\" content=\"http://127.0.0.1:",
        "<meta name=\"description\" content=\"",
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\">",
    ] {
        assert!(html.contains(n), "KEY page lacks {n:?}");
    }
    // Browsing sets no cookie (what /privacy promises).
    for path in [
        "/marketplace",
        "/marketplace/postgres-failover-runbook",
        "/pricing",
        "/terms",
    ] {
        let r = app.get(path).await;
        assert!(r.headers().get("set-cookie").is_none(), "{path} set a cookie");
    }
    app.stop().await.unwrap();
}

/// An invalid `[site]` setting stops start-up with a message naming it.
#[tokio::test]
async fn a_bad_support_address_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let err = infra::Settings::load(
        None,
        &[
            ("data_dir", data.path().display().to_string()),
            ("site.support_email", "nobody".into()),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("KEYS__SITE__SUPPORT_EMAIL") && err.contains("nobody"),
        "{err}"
    );
}

/// Anonymous visitors see the price and a Buy button; Buy, "Sign in" and "create an account"
/// carry `?next=` back to the KEY, bundle or plan, and signing in or up lands there. A `next`
/// that would leave the shop (or loop into sign-in) is dropped.
#[tokio::test]
async fn sign_in_and_sign_up_return_to_what_the_buyer_chose() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let (_, key) = app.get_text("/marketplace/postgres-failover-runbook").await;
        let next = "next=%2Fmarketplace%2Fpostgres-failover-runbook%23access";
        for n in [
            format!("id=\"buy-key\" href=\"/signup?{next}\">Buy for $"),
            "id=\"buybar-buy\"".to_owned(),
            format!("href=\"/login?{next}\""),
            format!("href=\"/signup?{next}\""),
        ] {
            assert!(key.contains(&n), "{db:?}: KEY page lacks {n}");
        }
        let (_, pricing) = app.get_text("/pricing").await;
        assert!(
            pricing.contains("href=\"/signup?next=%2Fcheckout%2Freview%3Fsku%3Dplan%3Aoperator%3Amonthly\""),
            "{db:?}: pricing"
        );
        let (_, bundles) = app.get_text("/marketplace/bundles").await;
        assert!(
            bundles.contains("href=\"/signup?next=%2Fcheckout%2Freview%3Fsku%3Dbundle%3A"),
            "{db:?}: bundles"
        );

        // Sign up with next: the form carries it, and the 303 goes there.
        let (_, page) = app.get_text(&format!("/signup?{next}")).await;
        assert!(
            page.contains("name=\"next\" value=\"/marketplace/postgres-failover-runbook#access\""),
            "{db:?}: {page}"
        );
        assert!(
            page.contains(&format!("href=\"/login?{next}\"")),
            "the other form keeps it"
        );
        let (csrf, cookie) = common::form_csrf(&app, &format!("/signup?{next}"), None).await;
        let r = app
            .client
            .post(app.url("/signup"))
            .header("cookie", cookie.unwrap())
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "nora@example.com"),
                ("password", "correct horse battery"),
                ("next", "/marketplace/postgres-failover-runbook#access"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{db:?}");
        assert_eq!(r.headers()["location"], "/marketplace/postgres-failover-runbook#access");

        // Sign in: a hostile or looping next falls back to the account page.
        for (next, want) in [
            (
                "/checkout/review?sku=plan:scale:monthly",
                "/checkout/review?sku=plan:scale:monthly",
            ),
            ("https://evil.example/", "/account"),
            ("//evil.example/x", "/account"),
            ("/\\evil.example", "/account"),
            ("/login?next=/x", "/account"),
            ("/api/v1/me/entitlements", "/account"),
            ("", "/account"),
        ] {
            let (csrf, cookie) = common::form_csrf(&app, "/login", None).await;
            let r = app
                .client
                .post(app.url("/login"))
                .header("cookie", cookie.unwrap())
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "nora@example.com"),
                    ("password", "correct horse battery"),
                    ("next", next),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "{db:?}: {next}");
            assert_eq!(r.headers()["location"], want, "{db:?}: next={next:?}");
        }
        // A page behind sign-in sends an anonymous visitor to sign in and back.
        let r = app.get("/account/billing?org=3").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/login?next=%2Faccount%2Fbilling%3Forg%3D3");
        let r = app
            .get("/checkout/review?sku=bundle:incident-response-essentials")
            .await;
        assert_eq!(
            r.headers()["location"],
            "/login?next=%2Fcheckout%2Freview%3Fsku%3Dbundle%3Aincident-response-essentials"
        );
        app.stop().await.unwrap();
    }
}

/// HTML pages forgive bad query values (the JSON API keeps its 400s): unknown filters are left
/// out with a notice, page numbers are clamped, a page past the end shows the last one; a
/// typed query sorts by relevance unless a sort was chosen; a misspelt word is corrected and
/// the page says so.
#[tokio::test]
async fn marketplace_pages_forgive_bad_values_and_find_what_was_meant() {
    let db = test_support::sqlite_database();
    let app = app_on(&db).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "/marketplace?kind=video&role=wizard",
            &[
                "Kind “video” is not one of the choices",
                "Role “wizard” is not one of the choices",
            ],
        ),
        ("/marketplace?page=0", &["Page “0” was changed to 1."]),
        ("/marketplace?page=abc", &["Page “abc” was changed to the default."]),
        (
            "/marketplace?per_page=1000",
            &["Items per page “1000” was changed to 100."],
        ),
        ("/marketplace?page=99", &["so this is the last one", "Page 2 of 2"]),
        ("/marketplace?sort=price", &["Sort “price” is not one of the choices"]),
    ];
    for (path, needles) in cases {
        let (status, html) = app.get_text(path).await;
        assert_eq!(status, 200, "{path}");
        for n in *needles {
            assert!(html.contains(n), "{path} lacks {n:?}");
        }
        assert!(!html.contains("invalid digit"), "{path}: parser message shown");
    }
    // "postgres": relevance by default — the runbook named after it comes first.
    let (_, html) = app.get_text("/marketplace?q=postgres").await;
    let first = html.split("data-slug=\"").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(first, "postgres-failover-runbook", "best match first");
    assert!(
        html.contains("<option value=\"\" selected>Best match</option>"),
        "the form keeps Best match"
    );
    // An explicit sort is kept.
    let (_, html) = app.get_text("/marketplace?q=postgres&sort=name").await;
    assert!(html.contains("<option value=\"name\" selected>Name (A–Z)</option>"));
    // A typo of five letters or more is corrected.
    let (_, html) = app.get_text("/marketplace?q=kubernets").await;
    assert!(
        html.contains("Showing results for <strong>kubernetes</strong>"),
        "{html}"
    );
    assert!(!html.contains("0 KEYS found"));
    let (_, api) = app.get_json("/api/v1/keys?q=kubernets").await;
    assert_eq!(api["corrected_query"], "kubernetes", "{api}");
    assert!(api["total"].as_u64().unwrap() > 0);
    let (_, api) = app.get_json("/api/v1/keys?q=kubernetes").await;
    assert!(api.get("corrected_query").is_none(), "{api}");
    let (status, body) = app.get_json("/api/v1/keys?tier=gold").await;
    assert_eq!(status, 400, "the API still refuses: {body}");
    app.stop().await.unwrap();
}

/// The checkout return page: thanks and a download button once paid; a buyer who left the
/// payment page is told nothing was charged and can start again, which closes the old checkout
/// (it can never be paid later) and leads to the review page. Someone else's order is not found.
#[tokio::test]
async fn the_return_page_thanks_downloads_or_offers_to_start_again() {
    for db in test_support::databases().await {
        let app = app_on(&db).await;
        let inbox = inbox(&db).await;
        let ada = sign_up(&app, "ada@example.com").await;
        let eve = sign_up(&app, "eve@example.com").await;
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "key:disk-full-recovery"})),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        let order = r["order_id"].as_i64().unwrap();
        let session = r["session_id"].as_str().unwrap().to_owned();

        // Cancelled on the (local) payment page: back to the order, which says so.
        let (_, pay) = app.get_text_with_cookie(&format!("/pay/local/{session}"), &ada).await;
        let r = app
            .client
            .post(app.url(&format!("/pay/local/{session}")))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&pay)), ("action", "cancel".into())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let back = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(back, format!("/checkout/return?order={order}&cancelled=1"));
        let (status, html) = app.get_text_with_cookie(&back, &ada).await;
        assert_eq!(status, 200);
        assert!(
            html.contains("You left the payment page, so nothing was charged."),
            "{db:?}: {html}"
        );
        assert!(html.contains("Disk Full Recovery Runbook"), "product name: {html}");
        assert!(!html.contains("key:disk-full-recovery"), "no SKU codes on pages");
        assert!(!html.contains("http-equiv=\"refresh\""), "no endless refresh");
        // Resume payment: back to the same (still open) payment page, asked of the provider.
        assert!(html.contains("id=\"resume-payment\""), "{db:?}: {html}");
        let r = app
            .client
            .post(app.url("/checkout/resume"))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&html)), ("order", order.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{db:?}");
        assert_eq!(
            r.headers()["location"],
            format!("/pay/local/{session}").as_str(),
            "{db:?}"
        );

        // The local payment page's cancel expired the checkout (as Stripe's expiry does).
        drain(inbox.as_ref()).await;

        // Someone else cannot see it or restart it.
        let (status, _) = app.get_text_with_cookie(&back, &eve).await;
        assert_eq!(status, 404);
        let (_, eve_page) = app.get_text_with_cookie("/account", &eve).await;
        let r = app
            .client
            .post(app.url("/checkout/restart"))
            .header("cookie", &eve)
            .form(&[("csrf", csrf_in(&eve_page)), ("order", order.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{db:?}");
        let r = app
            .client
            .post(app.url("/checkout/resume"))
            .header("cookie", &eve)
            .form(&[("csrf", csrf_in(&eve_page)), ("order", order.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{db:?}: nobody resumes someone else's checkout");

        // Start again: to the review page of the same KEY, twice over (idempotent).
        for _ in 0..2 {
            let (_, html) = app.get_text_with_cookie(&back, &ada).await;
            let r = app
                .client
                .post(app.url("/checkout/restart"))
                .header("cookie", &ada)
                .form(&[("csrf", csrf_in(&html)), ("order", order.to_string())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "{db:?}");
            assert_eq!(r.headers()["location"], "/checkout/review?sku=key:disk-full-recovery");
        }
        let (_, orders) = send(&app, "GET", "/api/v1/me/orders", Some(&ada), None).await;
        let o = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == order)
            .cloned()
            .unwrap();
        assert_eq!(o["status"], "cancelled", "{db:?}: {o}");
        // A closed checkout is not resumed: back to the order, which offers to start again.
        let (_, html) = app.get_text_with_cookie(&back, &ada).await;
        assert!(!html.contains("id=\"resume-payment\""), "{db:?}: {html}");
        let r = app
            .client
            .post(app.url("/checkout/resume"))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&html)), ("order", order.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{db:?}");
        assert_eq!(
            r.headers()["location"],
            format!("/checkout/return?order={order}").as_str()
        );

        // A new checkout, paid: thanks and a download button that works.
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&ada),
            Some(json!({"sku": "key:disk-full-recovery"})),
        )
        .await;
        assert_eq!(s, 200, "a new checkout after starting again: {r}");
        let order = r["order_id"].as_i64().unwrap();
        let session = r["session_id"].as_str().unwrap().to_owned();
        let (_, pay) = app.get_text_with_cookie(&format!("/pay/local/{session}"), &ada).await;
        app.client
            .post(app.url(&format!("/pay/local/{session}")))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&pay)), ("action", "pay".into())])
            .send()
            .await
            .unwrap();
        drain(inbox.as_ref()).await;
        let (_, html) = app
            .get_text_with_cookie(&format!("/checkout/return?order={order}"), &ada)
            .await;
        assert!(
            html.contains("Thank you!") && html.contains("id=\"download-now\""),
            "{db:?}: {html}"
        );
        let r = app
            .client
            .post(app.url("/marketplace/disk-full-recovery/download"))
            .header("cookie", &ada)
            .form(&[
                ("csrf", csrf_in(&html)),
                (
                    "version",
                    html.split("name=\"version\" value=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap()
                        .to_owned(),
                ),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "the download button leads to a signed link");
        // Billing lists orders by product name, never by SKU code.
        let (_, billing) = app.get_text_with_cookie("/account/billing", &ada).await;
        assert!(
            billing.contains("<td>Disk Full Recovery Runbook</td>"),
            "{db:?}: {billing}"
        );
        assert!(
            !billing.contains(">key:") && !billing.contains("<code>"),
            "{db:?}: {billing}"
        );
        // Starting again on a paid order changes nothing and shows the order.
        let r = app
            .client
            .post(app.url("/checkout/restart"))
            .header("cookie", &ada)
            .form(&[("csrf", csrf_in(&html)), ("order", order.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["location"],
            format!("/checkout/return?order={order}").as_str()
        );
        app.stop().await.unwrap();
    }
}

/// A form posted with a stale token (signed in again since) gets a styled page with a way
/// back, not plain text; a lock-out says how long in words.
#[tokio::test]
async fn refusals_are_pages_in_plain_words() {
    let db = test_support::sqlite_database();
    let app = app_on(&db).await;
    let ada = sign_up(&app, "ada@example.com").await;
    let r = app
        .client
        .post(app.url("/account/password"))
        .header("cookie", &ada)
        .form(&[("csrf", "stale"), ("current_password", "x"), ("new_password", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This form has expired") && html.contains("href=\"/marketplace\""),
        "{html}"
    );

    let mut last = String::new();
    for _ in 0..12 {
        let (csrf, cookie) = common::form_csrf(&app, "/login", None).await;
        let r = app
            .client
            .post(app.url("/login"))
            .header("cookie", cookie.unwrap())
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "ada@example.com"),
                ("password", "wrong password!!"),
            ])
            .send()
            .await
            .unwrap();
        last = r.text().await.unwrap();
        if last.contains("Too many failed sign-ins") {
            break;
        }
    }
    assert!(last.contains("Too many failed sign-ins"), "{last}");
    assert!(
        last.contains("try again in ") && (last.contains(" minute") || last.contains("under a minute")),
        "a wait in words: {last}"
    );
    assert!(!last.contains("UTC"), "no timestamps: {last}");
    app.stop().await.unwrap();
}
