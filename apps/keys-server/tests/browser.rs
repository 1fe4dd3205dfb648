//! A person's visit in real headless Chromium (driven through chromedriver): open the
//! marketplace, search, filter, open a KEY page, and check what is on screen.
//!
//! Needs `chromedriver` and `chromium` on PATH (Debian packages `chromium-driver`, `chromium`);
//! skipped when missing unless `KEYS_TEST_REQUIRE_SERVICES=1` (CI).

mod common;

#[path = "../../../crates/stripe-gateway/tests/fake_stripe/mod.rs"]
#[allow(dead_code)]
mod fake_stripe;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Option<Driver> {
    let exists = Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        assert!(
            !test_support::require_services(),
            "chromedriver is not installed but KEYS_TEST_REQUIRE_SERVICES=1"
        );
        eprintln!("note: chromedriver not found; browser test skipped");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    Some(Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
        downloads: tempfile::tempdir().unwrap(),
    })
}

async fn connect(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1280,900",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
            "prefs": {
                "download.default_directory": driver.downloads.path().display().to_string(),
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false
            }
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return c,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("chromedriver did not accept a session at {url}");
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Clicks an element that navigates, and waits until the new page has loaded (the old page's
/// elements would otherwise go stale under our feet).
async fn click_and_wait(c: &Client, css: &str) {
    let before = c.current_url().await.unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
    for _ in 0..100 {
        if c.current_url().await.unwrap() != before {
            let ready: serde_json::Value = c.execute("return document.readyState", vec![]).await.unwrap();
            if ready == "complete" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clicking {css} did not navigate away from {before}");
}

async fn slugs(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for card in c.find_all(Locator::Css("li.card")).await.unwrap() {
        out.push(card.attr("data-slug").await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn browse_search_filter_and_open_a_key() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let c = connect(&driver).await;

    c.goto(&app.url("/marketplace")).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Marketplace · KEYS marketplace");
    let count = text(&c, "#result-count").await;
    let total: usize = count.split_whitespace().next().unwrap().parse().unwrap();
    assert!(total >= 24, "a visitor sees at least 24 KEYS: {count}");
    let first_page = slugs(&c).await;
    assert_eq!(first_page.len(), 24, "24 cards on the first page");
    let kinds: Vec<String> = {
        let mut v = Vec::new();
        for b in c.find_all(Locator::Css("li.card .badge.kind")).await.unwrap() {
            v.push(b.text().await.unwrap());
        }
        v
    };
    for k in ["NODE/NEXT STARTER KIT", "OPERATIONS RUNBOOK"] {
        assert!(kinds.iter().any(|x| x.eq_ignore_ascii_case(k)), "{k} in {kinds:?}");
    }

    // Search: type and submit the form (no JavaScript on the page).
    let q = c.find(Locator::Id("q")).await.unwrap();
    q.send_keys("postgres").await.unwrap();
    click_and_wait(&c, "form.search button[type=submit]").await;
    let found = slugs(&c).await;
    assert!(found.contains(&"postgres-failover-runbook".to_string()), "{found:?}");
    assert!(c.current_url().await.unwrap().as_str().contains("q=postgres"));

    // Filter by kind, keeping the text.
    c.find(Locator::Css("#f-kind option[value=runbook]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_and_wait(&c, "form.search button[type=submit]").await;
    let filtered = slugs(&c).await;
    assert!(!filtered.is_empty());
    for b in c.find_all(Locator::Css("li.card .badge.kind")).await.unwrap() {
        assert!(b.text().await.unwrap().eq_ignore_ascii_case("operations runbook"));
    }
    assert_eq!(
        c.find(Locator::Id("q"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("postgres")
    );

    // Open the KEY page.
    click_and_wait(&c, "li.card[data-slug=postgres-failover-runbook] a").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/marketplace/postgres-failover-runbook")
    );
    assert_eq!(text(&c, "article.key h1").await, "PostgreSQL Failover Runbook");
    let current = text(&c, "#current-version").await;
    let versions = c.find_all(Locator::Css("#versions .version")).await.unwrap();
    assert!(versions.len() >= 2, "both versions listed");
    assert!(text(&c, "#versions .version.current h3").await.starts_with(&current));
    let outline = c.find_all(Locator::Css(".outline li")).await.unwrap();
    assert!(outline.len() >= 5, "runbook outline visible");
    assert!(text(&c, "#preview").await.contains("Files in"));

    // A notebook pack shows notebook cells.
    c.goto(&app.url("/marketplace?kind=jupyter")).await.unwrap();
    click_and_wait(&c, "li.card a").await;
    assert!(
        !c.find_all(Locator::Css(".cell")).await.unwrap().is_empty(),
        "notebook cells in the preview"
    );

    c.close().await.unwrap();
}

/// Sign up, get a grant from support, see the KEY unlocked, download it, sign out.
#[tokio::test]
async fn sign_up_get_a_grant_download_and_sign_out() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let c = connect(&driver).await;

    c.goto(&app.url("/signup")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("ada@example.com")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    click_and_wait(&c, "section.auth button[type=submit]").await;
    assert_eq!(text(&c, "#account-email").await, "ada@example.com");

    // Support grants the KEY (admin API, outside the browser).
    let admin = app
        .client
        .post(app.url("/api/v1/auth/signup"))
        .json(&serde_json::json!({"email": "admin@keys.test", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let admin_cookie = admin.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    common::make_admin(&app, "admin@keys.test").await;
    let r = app
        .client
        .post(app.url("/api/v1/admin/entitlements"))
        .header("cookie", admin_cookie)
        .json(&serde_json::json!({"email": "ada@example.com", "key": "postgres-failover-runbook", "reason": "beta tester"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    c.goto(&app.url("/marketplace/postgres-failover-runbook"))
        .await
        .unwrap();
    assert!(text(&c, "#access h2").await.eq_ignore_ascii_case("You own this KEY"));
    assert_eq!(text(&c, ".owned-how").await, "granted by support");
    c.find(Locator::Css("#access button.download"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut downloaded = None;
    for _ in 0..100 {
        downloaded = std::fs::read_dir(driver.downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "gz"));
        if downloaded.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let file = downloaded.expect("the archive was downloaded");
    assert!(
        file.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("postgres-failover-runbook-")
    );
    let (_, detail) = app.get_json("/api/v1/keys/postgres-failover-runbook").await;
    let bytes = std::fs::read(&file).unwrap();
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        detail["versions"][0]["sha256"].as_str().unwrap()
    );

    c.goto(&app.url("/account")).await.unwrap();
    click_and_wait(&c, "form[action='/logout'] button").await;
    c.goto(&app.url("/account")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/login"), "signed out");
    c.goto(&app.url("/marketplace/postgres-failover-runbook"))
        .await
        .unwrap();
    assert!(
        text(&c, "#access h2").await.eq_ignore_ascii_case("Get this KEY"),
        "locked again after sign-out"
    );
    c.close().await.unwrap();
}

/// The bundles page: anonymous visitors see list total, discount and price; a signed-in buyer
/// who owns two members sees "you own 2 of 4 — upgrade for $30.28" (credited what they paid),
/// and the billing page offers the same upgrade with every line of its quote.
#[tokio::test]
async fn bundles_page_shows_the_personal_upgrade_price() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let c = connect(&driver).await;

    c.goto(&app.url("/marketplace/bundles")).await.unwrap();
    let card = "#bundle-incident-response-essentials";
    assert_eq!(text(&c, &format!("{card} .list-total")).await, "$126.00");
    assert_eq!(text(&c, &format!("{card} .bundle-price")).await, "$98.28");
    assert!(c.find(Locator::Css(&format!("{card} .upgrade-price"))).await.is_err());

    // Ada signs up in the browser; support records two purchases she paid by invoice.
    c.goto(&app.url("/signup")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("ada@example.com")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    click_and_wait(&c, "section.auth button[type=submit]").await;
    let admin = common::sign_up_admin(&app, "admin@keys.test").await;
    for sku in ["key:deploy-rollback-runbook", "key:disk-full-recovery"] {
        let (s, body) = common::send(
            &app,
            "POST",
            "/api/v1/admin/orders",
            Some(&admin),
            Some(serde_json::json!({"email": "ada@example.com", "sku": sku, "reason": "invoice 77"})),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }

    c.goto(&app.url("/marketplace/bundles")).await.unwrap();
    assert_eq!(
        text(&c, &format!("{card} .offer")).await,
        "You own 2 of 4 — upgrade for $30.28"
    );
    assert_eq!(
        c.find_all(Locator::Css(&format!("{card} tr.owned")))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        text(&c, &format!("{card} .explanation"))
            .await
            .contains("Credit $68.00")
    );

    c.goto(&app.url("/account/billing")).await.unwrap();
    let offer = "li.offer[data-sku='bundle:incident-response-essentials']";
    assert_eq!(
        text(&c, &format!("{offer} tr.line-amount_due td:last-child")).await,
        "$30.28"
    );
    assert_eq!(
        c.find_all(Locator::Css(&format!("{offer} tr.line-credit")))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(c.find_all(Locator::Css("#orders tbody tr")).await.unwrap().len(), 2);
    c.close().await.unwrap();
}

/// Waits until `css` on the current page (reloaded each time) has text containing `want`.
async fn wait_for_text(c: &Client, url: &str, css: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..60 {
        c.goto(url).await.unwrap();
        if let Ok(el) = c.find(Locator::Css(css)).await {
            last = el.text().await.unwrap_or_default();
            if last.to_lowercase().contains(&want.to_lowercase()) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{url} {css}: wanted “{want}”, last saw “{last}”");
}

async fn downloaded_archives(driver: &Driver) -> usize {
    std::fs::read_dir(driver.downloads.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "gz"))
        .count()
}

/// Local payment mode, end to end in a browser: buy a KEY, pay on the test checkout, see the
/// return page confirm it, download it; an admin refund (a signed `charge.refunded` through
/// the inbox) locks it again; then upgrade to a bundle with credit for another member and pay
/// exactly the credited amount.
#[tokio::test]
async fn buy_pay_download_refund_and_upgrade_with_credit() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("worker.poll_ms", "50".into())],
    )
    .await;
    let c = connect(&driver).await;

    c.goto(&app.url("/signup")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("ada@example.com")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    click_and_wait(&c, "section.auth button[type=submit]").await;
    common::confirm_email(&app, "ada@example.com").await;

    // Buy the Redis runbook ($49.00) on the local test checkout.
    let key_url = app.url("/marketplace/redis-memory-pressure");
    c.goto(&key_url).await.unwrap();
    assert_eq!(text(&c, "#buy-key").await, "Buy for $49.00");
    click_and_wait(&c, "#buy-key").await;
    // The review step: what is bought and the amount now, then confirm.
    assert_eq!(text(&c, "#amount-now").await, "$49.00");
    assert!(text(&c, "#review-terms").await.contains("nothing recurring"));
    click_and_wait(&c, "#confirm-purchase").await;
    assert!(text(&c, ".test-mode").await.contains("TEST MODE"));
    assert_eq!(text(&c, "#amount-due").await, "$49.00");
    click_and_wait(&c, "#pay").await;
    assert!(c.current_url().await.unwrap().path().starts_with("/checkout/return"));
    let return_url = c.current_url().await.unwrap().to_string();
    wait_for_text(&c, &return_url, "#order-state", "Paid").await;

    // Unlocked: download it.
    c.goto(&key_url).await.unwrap();
    assert!(text(&c, "#access h2").await.eq_ignore_ascii_case("You own this KEY"));
    assert!(text(&c, ".owned-how").await.starts_with("bought on"));
    c.find(Locator::Css("#access button.download"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    for _ in 0..100 {
        if downloaded_archives(&driver).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(downloaded_archives(&driver).await, 1, "the archive was downloaded");

    // Support refunds it: the refund goes through the payment provider's event and locks it.
    let admin = common::sign_up_admin(&app, "admin@keys.test").await;
    let (_, orders) = common::send(
        &app,
        "GET",
        "/api/v1/admin/customers?email=ada@example.com",
        Some(&admin),
        None,
    )
    .await;
    assert!(
        orders["entitlements"].as_array().is_some_and(|a| a.len() == 1),
        "{orders}"
    );
    let order_id: i64 = return_url.rsplit('=').next().unwrap().parse().unwrap();
    let (s, r) = common::send(
        &app,
        "POST",
        &format!("/api/v1/admin/orders/{order_id}/refund"),
        Some(&admin),
        Some(serde_json::json!({"reason": "bought by mistake"})),
    )
    .await;
    assert_eq!(s, 202, "{r}");
    wait_for_text(&c, &key_url, "#access h2", "Get this KEY").await;

    // Buy another member ($19.00), then upgrade to the bundle: $98.28 − $19.00 = $79.28.
    c.goto(&app.url("/marketplace/disk-full-recovery")).await.unwrap();
    let r = app
        .client
        .get(app.url("/marketplace/disk-full-recovery"))
        .send()
        .await
        .unwrap();
    eprintln!("CSP {:?}", r.headers().get("content-security-policy"));
    click_and_wait(&c, "#buy-key").await;
    click_and_wait(&c, "#confirm-purchase").await;
    click_and_wait(&c, "#pay").await;
    let paid_url = c.current_url().await.unwrap().to_string();
    wait_for_text(&c, &paid_url, "#order-state", "Paid").await;
    let bundles = app.url("/marketplace/bundles");
    wait_for_text(
        &c,
        &bundles,
        "#bundle-incident-response-essentials .offer",
        "You own 1 of 4 — upgrade for $79.28",
    )
    .await;
    click_and_wait(&c, "#bundle-incident-response-essentials .buy-bundle").await;
    assert_eq!(
        text(&c, "#amount-now").await,
        "$79.28",
        "the review shows the credited amount"
    );
    click_and_wait(&c, "#confirm-purchase").await;
    assert_eq!(
        text(&c, "#amount-due").await,
        "$79.28",
        "the checkout charges the credited amount"
    );
    click_and_wait(&c, "#pay").await;
    let upgraded = c.current_url().await.unwrap().to_string();
    wait_for_text(&c, &upgraded, "#order-state", "Paid").await;
    c.goto(&key_url).await.unwrap();
    assert!(
        text(&c, "#access h2").await.eq_ignore_ascii_case("You own this KEY"),
        "the bundle covers the refunded KEY again"
    );
    assert!(text(&c, ".owned-how").await.contains("incident-response-essentials"));
    c.close().await.unwrap();
}

/// `/discover` without JavaScript: answer the three questions, get recommendations with their
/// reasons; a KEY page then shows "Pairs well with"; signing up keeps the answers.
#[tokio::test]
async fn discover_answers_give_recommendations_with_reasons() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let c = connect(&driver).await;
    c.goto(&app.url("/discover")).await.unwrap();
    answer_discover_as_an_sre(&c).await;
    let items = c.find_all(Locator::Css("#recommendations > li")).await.unwrap();
    assert!(items.len() >= 3, "recommendations shown");
    for item in &items {
        let reasons = item.find_all(Locator::Css(".reasons li")).await.unwrap();
        assert!(!reasons.is_empty(), "every item has a reason");
    }
    let first = text(&c, "#recommendations > li:first-child .reasons").await;
    assert!(first.contains("Matches your role: SRE"), "{first}");
    assert!(first.contains("Solves: incident response"), "{first}");

    // The answers stay (a visitor cookie): the marketplace recommends, KEY pages pair.
    c.goto(&app.url("/marketplace")).await.unwrap();
    assert!(text(&c, "#recommended").await.contains("Matches your role: SRE"));
    c.goto(&app.url("/marketplace/on-call-handbook")).await.unwrap();
    assert!(text(&c, "#pairs").await.to_lowercase().contains("pairs well with"));

    // Signing up keeps them.
    c.goto(&app.url("/signup")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("sre@example.com")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    click_and_wait(&c, "section.auth button[type=submit]").await;
    c.goto(&app.url("/discover")).await.unwrap();
    assert!(
        text(&c, "#recommendations").await.contains("Matches your role: SRE"),
        "merged at sign-up"
    );
    c.find(Locator::Css("#forget-me")).await.unwrap().click().await.unwrap();
    let mut forgotten = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if c.find(Locator::Css("#recommendations")).await.is_err()
            && c.find(Locator::Css("#discover-form")).await.is_ok()
        {
            forgotten = true;
            break;
        }
    }
    assert!(forgotten, "answers and history forgotten");
    c.close().await.unwrap();
}

/// On `/discover` (already open): an SRE who responds to incidents, then submit.
async fn answer_discover_as_an_sre(c: &Client) {
    for (id, value) in [
        ("d-role", "sre"),
        ("d-intent", "respond-to-incidents"),
        ("d-category", "incident-response"),
    ] {
        c.find(Locator::Css(&format!("#{id} option[value='{value}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    click_and_wait(c, "#discover-submit").await;
}

/// Signs up through the page form.
async fn sign_up_in_browser(c: &Client, app: &common::TestApp, email: &str) {
    c.goto(&app.url("/signup")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    click_and_wait(c, "section.auth button[type=submit]").await;
    assert_eq!(text(c, "#account-email").await, email);
    common::confirm_email(app, email).await;
}

/// In Stripe mode the Buy button's form post is redirected to Stripe's hosted Checkout on
/// another origin: the page CSP's `form-action` must allow it (Chromium applies it to the
/// redirect too). Here the fake Stripe serves its checkout page on another loopback port.
#[tokio::test]
async fn the_buy_button_reaches_the_providers_checkout_page() {
    let Some(driver) = start_driver() else { return };
    let fake = fake_stripe::FakeStripe::start().await;
    let (offers, names) = ingest::documents::offers_from_assets(&test_support::repo_assets_dir()).unwrap();
    let gateway = stripe_gateway::StripeGateway::new("sk_test_fake", Some(&fake.base)).unwrap();
    payments::ports::PaymentGateway::sync_catalog(&gateway, &payments::ports::catalog_items(&offers, &names))
        .await
        .unwrap();
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[
            ("stripe.secret_key", "sk_test_fake".into()),
            ("stripe.api_base", fake.base.clone()),
            ("stripe.webhook_secrets", "whsec_browser".into()),
            ("stripe.redirect_origins", fake.base.trim_end_matches('/').to_owned()),
        ],
    )
    .await;
    let c = connect(&driver).await;
    sign_up_in_browser(&c, &app, "ada@example.com").await;
    c.goto(&app.url("/marketplace/disk-full-recovery")).await.unwrap();
    let r = app
        .client
        .get(app.url("/marketplace/disk-full-recovery"))
        .send()
        .await
        .unwrap();
    eprintln!("CSP {:?}", r.headers().get("content-security-policy"));
    click_and_wait(&c, "#buy-key").await;
    c.find(Locator::Css("#confirm-purchase"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let url = c.current_url().await.unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}c/pay/cs_test_", fake.base)),
        "landed on {url}"
    );
    assert_eq!(text(&c, "#fake-stripe-checkout").await, "Pay with the fake Stripe");
}

/// Issue 12 in a browser (local payment mode): subscribe on `/pricing` through the review step,
/// upgrade from `/account/billing` (a change of the same subscription, paid on the test page),
/// then cancel at the end of the period in the portal and resume.
#[tokio::test]
async fn subscribe_upgrade_cancel_at_period_end_and_resume() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("worker.poll_ms", "50".into())],
    )
    .await;
    let c = connect(&driver).await;
    sign_up_in_browser(&c, &app, "ada@example.com").await;

    c.goto(&app.url("/pricing")).await.unwrap();
    click_and_wait(&c, "li.plan.tier-starter .subscribe-monthly").await;
    assert_eq!(text(&c, "#review-what").await, "Starter plan, billed monthly");
    assert_eq!(text(&c, "#amount-now").await, "$12.00");
    assert!(text(&c, "#review-terms").await.contains("then $12.00 every month from"));
    click_and_wait(&c, "#confirm-purchase").await;
    click_and_wait(&c, "#pay").await;
    let paid = c.current_url().await.unwrap().to_string();
    wait_for_text(&c, &paid, "#order-state", "Paid").await;
    let billing = app.url("/account/billing");
    wait_for_text(&c, &billing, "#subscription", "Starter plan, billed monthly").await;
    assert!(text(&c, "#subscription").await.contains("renews on"));

    // Upgrade from the billing page: the review says it changes the current plan.
    click_and_wait(&c, "li.offer[data-sku='plan:operator:monthly'] .take-offer").await;
    assert!(
        text(&c, "#review-terms")
            .await
            .contains("changes your current Starter plan"),
        "{}",
        text(&c, "#review-terms").await
    );
    let due = text(&c, "#amount-now").await;
    assert_ne!(due, "$29.00", "unused Starter time is credited");
    click_and_wait(&c, "#confirm-purchase").await;
    assert_eq!(
        text(&c, "#amount-due").await,
        due,
        "the test checkout charges the reviewed amount"
    );
    click_and_wait(&c, "#pay").await;
    wait_for_text(&c, &billing, "#subscription", "Operator plan, billed monthly").await;

    // Cancel at the end of the period in the portal, then resume.
    c.goto(&billing).await.unwrap();
    click_and_wait(&c, "#billing-portal").await;
    click_and_wait(&c, "#cancel-subscription").await;
    wait_for_text(&c, &billing, "#subscription", "Cancelled: access until").await;
    c.goto(&app.url("/pay/local/portal")).await.unwrap();
    click_and_wait(&c, "#resume-subscription").await;
    wait_for_text(&c, &billing, "#subscription", "renews on").await;
    c.close().await.unwrap();
}

async fn switch_to(c: &Client, app: &common::TestApp, email: &str) {
    c.delete_all_cookies().await.unwrap();
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    click_and_wait(c, "section.auth button[type=submit]").await;
}

/// Issue 12 in a browser: an owner creates an organisation on `/account/orgs`, invites a second
/// user with a link, buys a bundle "for" the organisation (through the review step and the test
/// checkout); the member can then download its KEYS — until the owner removes them.
#[tokio::test]
async fn an_organisation_buys_a_bundle_its_member_downloads_until_removed() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("worker.poll_ms", "50".into())],
    )
    .await;
    let c = connect(&driver).await;
    sign_up_in_browser(&c, &app, "ada@example.com").await;

    c.goto(&app.url("/account/orgs")).await.unwrap();
    c.find(Locator::Id("org-name"))
        .await
        .unwrap()
        .send_keys("Acme Ops")
        .await
        .unwrap();
    click_and_wait(&c, "#create-org").await;
    assert_eq!(text(&c, "#my-role").await, "owner");
    let org_url = c.current_url().await.unwrap().to_string();
    click_and_wait(&c, "#create-invite").await;
    let link = text(&c, "#invite-link").await;
    assert!(link.starts_with("/join/"), "{link}");

    c.delete_all_cookies().await.unwrap();
    sign_up_in_browser(&c, &app, "bob@example.com").await;
    c.goto(&app.url(&link)).await.unwrap();
    click_and_wait(&c, "#join-org").await;
    assert_eq!(text(&c, "#my-role").await, "member");

    // The owner buys the bundle for the organisation, from the bundles page.
    switch_to(&c, &app, "ada@example.com").await;
    c.goto(&app.url("/marketplace/bundles")).await.unwrap();
    click_and_wait(&c, "#bundle-incident-response-essentials .buy-for-org").await;
    assert!(text(&c, "#review .what").await.contains("for organisation"));
    click_and_wait(&c, "#confirm-purchase").await;
    click_and_wait(&c, "#pay").await;
    let paid = c.current_url().await.unwrap().to_string();
    wait_for_text(&c, &paid, "#order-state", "Paid").await;
    wait_for_text(&c, &org_url, "#org-keys", "Disk").await;

    // The member downloads a KEY of the bundle.
    let key = app.url("/marketplace/disk-full-recovery");
    switch_to(&c, &app, "bob@example.com").await;
    c.goto(&key).await.unwrap();
    assert!(
        c.find(Locator::Css("form button.download")).await.is_ok(),
        "the member has access through the organisation"
    );

    // Removed: access ends at once.
    switch_to(&c, &app, "ada@example.com").await;
    c.goto(&org_url).await.unwrap();
    click_and_wait(&c, "#members button.remove-member").await;
    switch_to(&c, &app, "bob@example.com").await;
    c.goto(&key).await.unwrap();
    assert!(
        c.find(Locator::Css("#buy-key")).await.is_ok(),
        "removed: the KEY is locked again"
    );
    c.close().await.unwrap();
}

/// Whether the page is wider than the window (horizontal scrolling), and by how much.
async fn overflow(c: &Client) -> (i64, i64) {
    let v: serde_json::Value = c
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
            vec![],
        )
        .await
        .unwrap();
    (v[0].as_i64().unwrap(), v[1].as_i64().unwrap())
}

/// Amounts on the page that are broken over more than one line (a sign or currency parted
/// from its digits), as their text.
async fn wrapped_money(c: &Client) -> Vec<String> {
    let v: serde_json::Value = c
        .execute(
            "return Array.from(document.querySelectorAll('.money, .price strong'))\
               .filter(e => e.offsetParent !== null && e.getClientRects().length > 0)\
               .filter(e => { const r = document.createRange(); r.selectNodeContents(e);\
                  const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));\
                  return tops.size > 1; })\
               .map(e => e.textContent.trim())",
            vec![],
        )
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn assert_fits(c: &Client, url: &str) {
    c.goto(url).await.unwrap();
    let (scroll, client) = overflow(c).await;
    assert!(
        scroll <= client,
        "{url} scrolls sideways at 390 px: {scroll} px wide in a {client} px window"
    );
    let wrapped = wrapped_money(c).await;
    assert!(wrapped.is_empty(), "{url}: amounts broken over two lines: {wrapped:?}");
}

/// A new buyer on a phone (390 px): no page scrolls sideways; on a KEY page the price and Buy
/// are in the first screenful; Buy → create an account → straight back to the KEY → review →
/// pay → "Thank you" with a download button, whose archive unpacks into one folder named after
/// the KEY and version, with the release date on its files.
#[tokio::test]
async fn a_phone_buyer_signs_up_from_the_key_page_buys_and_downloads() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("worker.poll_ms", "50".into())],
    )
    .await;
    let c = connect(&driver).await;
    c.set_window_size(390, 844).await.unwrap();

    let mut anonymous: Vec<String> = [
        "/marketplace",
        "/marketplace?q=postgres",
        "/marketplace/bundles",
        "/pricing",
        "/discover",
        "/login",
        "/signup",
        "/terms",
        "/privacy",
        "/refunds",
        "/license",
        "/support",
        "/marketplace/no-such-key",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    let (_, keys) = common::TestApp::get_json(&app, "/api/v1/keys?per_page=100").await;
    for k in keys["items"].as_array().unwrap() {
        anonymous.push(format!("/marketplace/{}", k["slug"].as_str().unwrap()));
    }
    assert!(anonymous.len() > 30, "every KEY page is measured");
    for path in &anonymous {
        assert_fits(&c, &app.url(path)).await;
    }

    // The KEY page: price and Buy within the first screenful.
    let key_url = app.url("/marketplace/disk-full-recovery");
    c.goto(&key_url).await.unwrap();
    let place: serde_json::Value = c
        .execute(
            "const b = document.getElementById('buybar-buy').getBoundingClientRect(); \
             return [b.top, b.bottom, window.innerHeight, b.width > 0]",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        place[3] == true && place[1].as_f64().unwrap() <= place[2].as_f64().unwrap(),
        "Buy is not in the first screenful: {place}"
    );
    assert!(text(&c, "#buybar .price").await.starts_with('$'));

    // Buy → sign up → back here.
    click_and_wait(&c, "#buybar-buy").await;
    assert!(c.current_url().await.unwrap().path().starts_with("/signup"));
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("pia@example.com")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    click_and_wait(&c, "section.auth button[type=submit]").await;
    let here = c.current_url().await.unwrap();
    assert_eq!(
        here.path(),
        "/marketplace/disk-full-recovery",
        "back on the KEY: {here}"
    );
    assert_eq!(here.fragment(), Some("access"));
    // Buying needs a confirmed email: the review says so until the mailed link is opened.
    click_and_wait(&c, "#buy-key").await;
    assert!(text(&c, "h1").await.contains("Confirm your email first"));
    let mail = wait_for_mail(&app, "Subject: Confirm your email for KEYS").await;
    assert!(mail.contains("To: pia@example.com"), "{mail}");
    let start = mail
        .find(&format!("{}/verify/", app.base))
        .expect("a confirmation link");
    let link: String = mail[start..]
        .chars()
        .take_while(|ch| !ch.is_whitespace() && *ch != '"' && *ch != '<')
        .collect();
    c.goto(&link).await.unwrap();
    assert!(text(&c, "h1").await.contains("Your email is confirmed"));
    c.goto(&app.url("/marketplace/disk-full-recovery")).await.unwrap();
    click_and_wait(&c, "#buy-key").await;
    assert_fits(&c, c.current_url().await.unwrap().as_ref()).await;
    click_and_wait(&c, "#confirm-purchase").await;
    click_and_wait(&c, "#pay").await;
    let paid = c.current_url().await.unwrap().to_string();
    wait_for_text(&c, &paid, "h1", "Thank you").await;
    assert_fits(&c, &paid).await;
    c.find(Locator::Id("download-now"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut archive = None;
    for _ in 0..100 {
        archive = std::fs::read_dir(driver.downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "gz"));
        if archive.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let archive = archive.expect("the archive was downloaded");
    let bytes = std::fs::read(&archive).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let (_, meta) = common::TestApp::get_json(&app, "/api/v1/keys/disk-full-recovery").await;
    let version = meta["latest_version"].as_str().unwrap().to_owned();
    let root = format!("disk-full-recovery-{version}/");
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        assert!(path.starts_with(&root), "{path} is outside {root}");
        assert!(entry.header().mtime().unwrap() > 1_700_000_000, "{path} is dated 1970");
    }

    // Signed-in pages fit too.
    for path in [
        "/account",
        "/account/keys",
        "/account/billing",
        "/account/orgs",
        "/marketplace/bundles",
        "/pricing",
    ] {
        assert_fits(&c, &app.url(path)).await;
    }
    c.close().await.unwrap();
}

/// The `.eml` files the embedded default wrote (`<data_dir>/mail/`), decoded enough to read:
/// quoted-printable soft line breaks joined and `=XX` escapes of ASCII undone.
fn mails(app: &common::TestApp) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(app.data_dir.join("mail")) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .map(|raw| {
            let joined = raw.replace("=\r\n", "").replace("=\n", "");
            let mut out = String::with_capacity(joined.len());
            let mut rest = joined.as_str();
            while let Some(i) = rest.find('=') {
                out.push_str(&rest[..i]);
                let hex = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) if b.is_ascii() => {
                        out.push(char::from(b));
                        rest = &rest[i + 3..];
                    }
                    _ => {
                        out.push('=');
                        rest = &rest[i + 1..];
                    }
                }
            }
            out.push_str(rest);
            out
        })
        .collect()
}

async fn wait_for_mail(app: &common::TestApp, needle: &str) -> String {
    for _ in 0..100 {
        if let Some(m) = mails(app).into_iter().find(|m| m.contains(needle)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail with “{needle}”");
}

/// A buyer who forgot the password: "Forgot your password?" on the sign-in page, the mailed
/// link (read from the `.eml` the embedded default wrote), a new password, signed in with it;
/// the link then no longer works. A purchase's receipt is mailed too.
#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_mailed_link() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("worker.poll_ms", "50".into())],
    )
    .await;
    let c = connect(&driver).await;
    sign_up_in_browser(&c, &app, "rosa@example.com").await;
    c.goto(&app.url("/marketplace/redis-memory-pressure")).await.unwrap();
    click_and_wait(&c, "#buy-key").await;
    click_and_wait(&c, "#confirm-purchase").await;
    click_and_wait(&c, "#pay").await;
    let receipt = wait_for_mail(&app, "Subject: Your KEYS receipt").await;
    assert!(receipt.contains("To: rosa@example.com"), "{receipt}");
    assert!(receipt.contains("Redis"), "{receipt}");
    c.goto(&app.url("/account")).await.unwrap();
    click_and_wait(&c, "form[action='/logout'] button").await;

    c.goto(&app.url("/login")).await.unwrap();
    click_and_wait(&c, "#forgot-link").await;
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("rosa@example.com")
        .await
        .unwrap();
    click_and_wait(&c, "#send-link").await;
    assert!(
        text(&c, "#form-notice")
            .await
            .contains("If an account uses this address")
    );
    let mail = wait_for_mail(&app, "Subject: Reset your KEYS password").await;
    let start = mail.find(&format!("{}/reset/", app.base)).expect("a reset link");
    let link: String = mail[start..]
        .chars()
        .take_while(|ch| !ch.is_whitespace() && *ch != '"' && *ch != '<')
        .collect();
    c.goto(&link).await.unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a brand new passphrase")
        .await
        .unwrap();
    click_and_wait(&c, "#set-password").await;
    assert!(text(&c, "#form-notice").await.contains("Your password is changed"));
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("rosa@example.com")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a brand new passphrase")
        .await
        .unwrap();
    click_and_wait(&c, "section.auth button[type=submit]").await;
    assert_eq!(text(&c, "#account-email").await, "rosa@example.com");
    c.goto(&link).await.unwrap();
    assert!(text(&c, "h1").await.contains("This link no longer works"));
    c.close().await.unwrap();
}

/// The enablement guide's screenshots, taken from the real pages of a running server at
/// 1100 × 760: search, a KEY page, recommendations with reasons, the review of an upgrade with
/// its credit, "Thank you" with the download, the buyer's library. Always taken and checked
/// (each a PNG of the window's size); written to `KEYS_SCREENSHOTS=docs/sales/img` when set:
/// `KEYS_SCREENSHOTS=$PWD/docs/sales/img cargo test -p keys-server --test browser enablement_screenshots`.
#[tokio::test]
async fn enablement_screenshots_of_the_real_pages() {
    let Some(driver) = start_driver() else { return };
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("worker.poll_ms", "50".into())],
    )
    .await;
    let c = connect(&driver).await;
    c.set_window_size(1100, 760).await.unwrap();
    let out = std::env::var_os("KEYS_SCREENSHOTS").map(std::path::PathBuf::from);
    let mut taken = Vec::new();
    let mut shot = |name: &'static str, png: Vec<u8>| {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
        assert!(png.len() > 10_000, "{name} shows a page ({} bytes)", png.len());
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(name), &png).unwrap();
        }
        taken.push(name);
    };

    c.goto(&app.url("/marketplace?q=postgres")).await.unwrap();
    assert!(text(&c, "main").await.contains("PostgreSQL Failover Runbook"));
    shot("01-search.png", c.screenshot().await.unwrap());

    c.goto(&app.url("/marketplace/postgres-failover-runbook"))
        .await
        .unwrap();
    shot("02-key-page.png", c.screenshot().await.unwrap());

    c.goto(&app.url("/discover")).await.unwrap();
    answer_discover_as_an_sre(&c).await;
    assert!(text(&c, "#recommendations").await.contains("Matches your role: SRE"));
    c.execute("document.getElementById('recommendations').scrollIntoView()", vec![])
        .await
        .unwrap();
    shot("03-recommendations.png", c.screenshot().await.unwrap());

    // A buyer who owns Disk Full Recovery reviews a bundle that contains it: the credit shows.
    sign_up_in_browser(&c, &app, "sam@example.com").await;
    c.goto(&app.url("/marketplace/disk-full-recovery")).await.unwrap();
    click_and_wait(&c, "#buy-key").await;
    click_and_wait(&c, "#confirm-purchase").await;
    click_and_wait(&c, "#pay").await;
    let paid = c.current_url().await.unwrap().to_string();
    wait_for_text(&c, &paid, "h1", "Thank you").await;
    shot("05-thank-you.png", c.screenshot().await.unwrap());
    c.goto(&app.url("/checkout/review?sku=bundle:incident-response-essentials"))
        .await
        .unwrap();
    let review = text(&c, "main").await;
    assert!(review.to_lowercase().contains("credit"), "{review}");
    assert!(
        review.contains("Disk Full Recovery Runbook") && !review.contains("key:") && !review.contains("bundle:"),
        "quote lines name products, never SKU codes: {review}"
    );
    shot("04-upgrade-review.png", c.screenshot().await.unwrap());

    c.goto(&app.url("/account/keys")).await.unwrap();
    assert!(text(&c, "main").await.contains("Disk Full Recovery"));
    shot("06-library.png", c.screenshot().await.unwrap());
    assert_eq!(taken.len(), 6);
    c.close().await.unwrap();
}
