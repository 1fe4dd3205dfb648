//! Mail, end to end against a real SMTP server on loopback (Python's aiosmtpd, installed by
//! `.ci/services.sh`): receipts, "access ended", payment failures and password resets leave
//! through the outbox once each, with product names, amounts and working links; without
//! `email.smtp_url` the embedded default writes `.eml` files.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestApp, send, sign_up};
use serde_json::{Value, json};

const SECRET: &str = "whsec_mail_test";

/// Receives mail like a real relay and writes each message, decoded by Python's `email`
/// package, as one JSON file: envelope recipients, subject, plain text and HTML.
const SINK: &str = r#"
import sys, os, json, time, itertools, email, email.policy
from aiosmtpd.controller import Controller
port, out = int(sys.argv[1]), sys.argv[2]
seq = itertools.count()
class Handler:
    async def handle_DATA(self, server, session, envelope):
        m = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text, html = m.get_body(("plain",)), m.get_body(("html",))
        rec = {"to": envelope.rcpt_tos, "from": envelope.mail_from, "subject": str(m["subject"]),
               "text": text.get_content() if text else "", "html": html.get_content() if html else ""}
        i = next(seq)
        tmp = os.path.join(out, ".%05d.tmp" % i)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(out, "%05d.json" % i))
        return "250 OK"
Controller(Handler(), hostname="127.0.0.1", port=port).start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    subject: String,
    text: String,
    html: String,
}

impl SmtpSink {
    fn start() -> Option<Self> {
        let python = std::env::var("KEYS_TEST_SMTP_PYTHON").ok().filter(|p| !p.is_empty());
        let Some(python) = python else {
            assert!(
                !test_support::require_services(),
                "KEYS_TEST_SMTP_PYTHON (a Python with aiosmtpd) is not set but KEYS_TEST_REQUIRE_SERVICES=1"
            );
            eprintln!("note: no SMTP server (KEYS_TEST_SMTP_PYTHON unset); mail test skipped");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python)
            .arg("-c")
            .arg(SINK)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        Some(Self { child, port, dir })
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn received(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                Mail {
                    to: v["to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_owned())
                        .collect(),
                    subject: v["subject"].as_str().unwrap().to_owned(),
                    text: v["text"].as_str().unwrap().to_owned(),
                    html: v["html"].as_str().unwrap().to_owned(),
                }
            })
            .collect()
    }

    /// Waits (up to 15 s) for a message to `to` whose subject contains `subject`.
    async fn wait_for(&self, to: &str, subject: &str) -> Mail {
        for _ in 0..150 {
            if let Some(m) = self
                .received()
                .into_iter()
                .find(|m| m.to.iter().any(|t| t == to) && m.subject.contains(subject))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no mail “{subject}” to {to}; received: {:#?}", self.received());
    }

    fn count(&self, to: &str, subject: &str) -> usize {
        self.received()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to) && m.subject.contains(subject))
            .count()
    }
}

async fn app_with_mail(db: &test_support::TestDatabase, smtp: &SmtpSink) -> TestApp {
    common::spawn_app_with(
        db,
        &test_support::repo_assets_dir(),
        &[
            ("email.smtp_url", smtp.url()),
            ("email.from", "Acme Tools <shop@acme.example>".into()),
            ("site.company_name", "Acme Tools Ltd".into()),
            ("site.support_email", "help@acme.example".into()),
            ("stripe.webhook_secrets", SECRET.into()),
            ("worker.poll_ms", "50".into()),
        ],
    )
    .await
}

/// A purchase mails one receipt — product name, amount, the download and order links, the
/// seller and contact — however often its events are delivered; a refund mails "access ended".
#[tokio::test]
async fn a_purchase_mails_one_receipt_and_a_refund_says_access_ended() {
    let Some(smtp) = SmtpSink::start() else { return };
    for (i, db) in test_support::databases().await.into_iter().enumerate() {
        let app = app_with_mail(&db, &smtp).await;
        let email = format!("ada-{i}@example.com");
        let ada = sign_up(&app, &email).await;
        let order = common::buy_locally(&app, &ada, "key:disk-full-recovery").await;
        let m = smtp.wait_for(&email, "Your KEYS receipt").await;
        assert_eq!(m.subject, "Your KEYS receipt: Disk Full Recovery Runbook", "{db:?}");
        for needle in [
            format!("order #{order}"),
            "$19.00".to_owned(),
            format!("{}/marketplace/disk-full-recovery#access", app.base),
            format!("{}/checkout/return?order={order}", app.base),
            "Acme Tools Ltd".to_owned(),
            "help@acme.example".to_owned(),
        ] {
            assert!(
                m.text.contains(&needle),
                "{db:?}: receipt text lacks {needle}: {}",
                m.text
            );
        }
        assert!(
            m.html
                .contains(&format!("href=\"{}/marketplace/disk-full-recovery#access\"", app.base))
        );
        assert!(!m.text.contains("key:disk-full-recovery"), "no SKU codes in mail");

        // The admin refunds it: "access ended", once.
        let admin = common::sign_up_admin(&app, &format!("admin-{email}")).await;
        let (s, r) = send(
            &app,
            "POST",
            &format!("/api/v1/admin/orders/{order}/refund"),
            Some(&admin),
            Some(json!({"reason": "asked for"})),
        )
        .await;
        assert_eq!(s, 202, "{r}");
        let m = smtp.wait_for(&email, "has ended").await;
        assert_eq!(m.subject, "Your access to Disk Full Recovery Runbook has ended");
        assert!(m.text.contains("the payment was refunded"), "{}", m.text);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(smtp.count(&email, "Your KEYS receipt"), 1, "{db:?}: one receipt");
        assert_eq!(smtp.count(&email, "has ended"), 1, "{db:?}: one access-ended mail");
        app.stop().await.unwrap();
    }
}

/// A renewal that fails mails "payment failed" with the last day of access and where to fix
/// the card; the same failure delivered again mails nothing more.
#[tokio::test]
async fn a_failed_renewal_mails_how_long_access_lasts() {
    let Some(smtp) = SmtpSink::start() else { return };
    let db = test_support::sqlite_database();
    let app = app_with_mail(&db, &smtp).await;
    let ada = sign_up(&app, "dunning@example.com").await;
    common::buy_locally(&app, &ada, "plan:operator:monthly").await;
    smtp.wait_for("dunning@example.com", "Your KEYS receipt").await;
    let (_, subs) = send(&app, "GET", "/api/v1/me/subscriptions", Some(&ada), None).await;
    let sub = subs["items"][0].clone();
    let id = sub["id"].as_str().unwrap_or_else(|| panic!("{subs}")).to_owned();
    let end = chrono::DateTime::parse_from_rfc3339(sub["current_period_end"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let failure = common::event(
        "evt_mail_failed",
        "invoice.payment_failed",
        json!({"id": "in_mail", "object": "invoice", "subscription": id,
               "lines": {"object": "list", "data": [{"period": {"start": end, "end": end + 31 * 86_400}}]}}),
    );
    for _ in 0..3 {
        let (s, r) = common::deliver(&app, &failure, common::signed(&failure, SECRET)).await;
        assert_eq!(s, 200, "{r}");
    }
    let m = smtp.wait_for("dunning@example.com", "Payment failed").await;
    assert_eq!(
        m.subject,
        "Payment failed: your Operator plan, billed monthly needs a new card"
    );
    assert!(m.text.contains("you keep access until"), "{}", m.text);
    assert!(m.text.contains(&format!("{}/account/billing", app.base)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(smtp.count("dunning@example.com", "Payment failed"), 1);
    app.stop().await.unwrap();
}

/// Every fulfilment mails a receipt — a renewal too, once however often its invoice is
/// delivered — and the end of a subscription mails "access ended" with why.
#[tokio::test]
async fn a_renewal_mails_a_receipt_and_the_end_of_the_plan_says_access_ended() {
    let Some(smtp) = SmtpSink::start() else { return };
    for (i, db) in test_support::databases().await.into_iter().enumerate() {
        let app = app_with_mail(&db, &smtp).await;
        let email = format!("renew-{i}@example.com");
        let ada = sign_up(&app, &email).await;
        common::buy_locally(&app, &ada, "plan:operator:monthly").await;
        smtp.wait_for(&email, "Your KEYS receipt").await;
        let (_, subs) = send(&app, "GET", "/api/v1/me/subscriptions", Some(&ada), None).await;
        let sub = subs["items"][0].clone();
        let id = sub["id"].as_str().unwrap_or_else(|| panic!("{subs}")).to_owned();
        let end = chrono::DateTime::parse_from_rfc3339(sub["current_period_end"].as_str().unwrap())
            .unwrap()
            .timestamp();
        let renewal = common::event(
            &format!("evt_mail_renewal_{i}"),
            "invoice.paid",
            json!({"id": format!("in_mail_renewal_{i}"), "object": "invoice", "subscription": id, "amount_paid": 2_900,
                   "billing_reason": "subscription_cycle",
                   "lines": {"object": "list", "data": [{"period": {"start": end, "end": end + 31 * 86_400}}]}}),
        );
        for _ in 0..2 {
            let (s, r) = common::deliver(&app, &renewal, common::signed(&renewal, SECRET)).await;
            assert_eq!(s, 200, "{r}");
        }
        let mut receipts = 0;
        for _ in 0..100 {
            receipts = smtp.count(&email, "Your KEYS receipt");
            if receipts >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(receipts, 2, "{db:?}: the first payment and the renewal");
        let ended = common::event(
            &format!("evt_mail_sub_deleted_{i}"),
            "customer.subscription.deleted",
            json!({"id": id, "object": "subscription", "status": "canceled"}),
        );
        let (s, r) = common::deliver(&app, &ended, common::signed(&ended, SECRET)).await;
        assert_eq!(s, 200, "{r}");
        let m = smtp.wait_for(&email, "has ended").await;
        assert!(m.subject.contains("Operator plan"), "{db:?}: {}", m.subject);
        assert!(m.text.contains("the subscription ended"), "{}", m.text);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            smtp.count(&email, "Your KEYS receipt"),
            2,
            "{db:?}: one receipt per payment"
        );
        assert_eq!(smtp.count(&email, "has ended"), 1);
        app.stop().await.unwrap();
    }
}

/// Forgotten password: the answer never says whether an address has an account; the mailed
/// link works once, within the hour; using it ends every session; a second request within a
/// minute mails nothing.
#[tokio::test]
async fn a_password_reset_by_mail_works_once_and_signs_out_everywhere() {
    let Some(smtp) = SmtpSink::start() else { return };
    for (i, db) in test_support::databases().await.into_iter().enumerate() {
        let app = app_with_mail(&db, &smtp).await;
        let email = format!("reset-{i}@example.com");
        let old_session = sign_up(&app, &email).await;
        for who in [email.as_str(), "nobody@example.com"] {
            let (s, r) = send(
                &app,
                "POST",
                "/api/v1/auth/password-reset",
                None,
                Some(json!({"email": who})),
            )
            .await;
            assert_eq!(s, 202, "{r}");
            assert!(
                r["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("If an account uses this address")
            );
        }
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/auth/password-reset",
            None,
            Some(json!({"email": "not an address"})),
        )
        .await;
        assert_eq!((s, r["field"].as_str()), (400, Some("email")), "{r}");
        let m = smtp.wait_for(&email, "Reset your KEYS password").await;
        let link = m
            .text
            .lines()
            .find(|l| l.contains("/reset/"))
            .unwrap_or_else(|| panic!("{}", m.text))
            .trim()
            .to_owned();
        assert!(link.starts_with(&format!("{}/reset/rst_", app.base)), "{link}");
        assert!(m.text.contains("60 minutes"));
        let path = link.trim_start_matches(&app.base).to_owned();
        let token = path.trim_start_matches("/reset/").to_owned();

        // The page offers the form; a weak password is refused and changes nothing.
        let (status, page) = app.get_text(&path).await;
        assert_eq!(status, 200);
        assert!(page.contains("Choose a new password"));
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "short"})),
        )
        .await;
        assert_eq!((s, r["field"].as_str()), (400, Some("password")), "{r}");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "a brand new passphrase"})),
        )
        .await;
        assert_eq!(s, 204, "{db:?}");
        // Signed out everywhere; the new password works, the old one does not.
        let (s, _) = send(&app, "GET", "/api/v1/me/entitlements", Some(&old_session), None).await;
        assert_eq!(s, 401, "{db:?}: the old session ended");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": "a brand new passphrase"})),
        )
        .await;
        assert_eq!(s, 200);
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": "correct horse battery"})),
        )
        .await;
        assert_eq!(s, 401);
        // Once only.
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "password": "yet another passphrase"})),
        )
        .await;
        assert_eq!((s, r["error"].as_str()), (404, Some("invalid_link")), "{r}");
        let (status, page) = app.get_text(&path).await;
        assert_eq!(status, 410);
        assert!(page.contains("This link no longer works"));
        // A second request within the minute mails nothing more; nobody@ never got mail.
        send(
            &app,
            "POST",
            "/api/v1/auth/password-reset",
            None,
            Some(json!({"email": email})),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(smtp.count(&email, "Reset your KEYS password"), 1, "{db:?}");
        assert_eq!(smtp.count("nobody@example.com", ""), 0);
        app.stop().await.unwrap();
    }
}

/// Without `email.smtp_url` (the README's first command) each message is an `.eml` file under
/// `<data_dir>/mail/`.
#[tokio::test]
async fn the_embedded_default_writes_eml_files() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_with(
        &db,
        &test_support::repo_assets_dir(),
        &[("worker.poll_ms", "50".into())],
    )
    .await;
    sign_up(&app, "eml@example.com").await;
    let (s, _) = send(
        &app,
        "POST",
        "/api/v1/auth/password-reset",
        None,
        Some(json!({"email": "eml@example.com"})),
    )
    .await;
    assert_eq!(s, 202);
    let dir = app.data_dir.join("mail");
    let mut found = None;
    for _ in 0..100 {
        found = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                .find(|m| m.contains("Subject: Reset your KEYS password"))
        });
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let eml = found.expect("an .eml file with the reset link");
    assert!(eml.contains("To: eml@example.com"), "{eml}");
    assert!(eml.contains("Subject: Reset your KEYS password"), "{eml}");
    app.stop().await.unwrap();
}

/// Sign-up mails a confirmation link; buying (and the admin role) waits for it; the link works
/// once; a new one can be asked for, at most one a minute.
#[tokio::test]
async fn buying_waits_for_the_mailed_confirmation_link() {
    let Some(smtp) = SmtpSink::start() else { return };
    for (i, db) in test_support::databases().await.into_iter().enumerate() {
        let app = app_with_mail(&db, &smtp).await;
        let email = format!("new-{i}@example.com");
        let r = app
            .client
            .post(app.url("/api/v1/auth/signup"))
            .json(&json!({"email": email, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let cookie = common::session_cookie_of(&r).unwrap();
        let m = smtp.wait_for(&email, "Confirm your email for KEYS").await;
        let link = m
            .text
            .lines()
            .find(|l| l.contains("/verify/"))
            .unwrap()
            .trim()
            .to_owned();
        assert!(link.starts_with(&format!("{}/verify/vfy_", app.base)), "{link}");

        // Not yet: checkout refuses and says what to do; the account page offers to resend.
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&cookie),
            Some(json!({"sku": "key:disk-full-recovery"})),
        )
        .await;
        assert_eq!(
            (s, r["error"].as_str()),
            (403, Some("email_unconfirmed")),
            "{db:?}: {r}"
        );
        assert!(r["message"].as_str().unwrap().contains("/account"));
        let (_, account) = app.get_text_with_cookie("/account", &cookie).await;
        assert!(account.contains("id=\"resend-confirmation\""), "{db:?}");
        // The operator cannot make an unconfirmed account admin.
        let err = keys_server::admin::run(
            &app.settings,
            &keys_server::admin::AdminCommand::Grant(email.clone()),
            "test-operator",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("admin verify"), "{err}");
        // A resend within the minute sends nothing more.
        let (s, r) = send(&app, "POST", "/api/v1/auth/verify-email/resend", Some(&cookie), None).await;
        assert_eq!(s, 202, "{r}");
        assert!(r["message"].as_str().unwrap().starts_with("Nothing sent"), "{r}");

        // The link confirms, once.
        let path = link.trim_start_matches(&app.base).to_owned();
        let (status, page) = app.get_text(&path).await;
        assert_eq!(status, 200, "{db:?}");
        assert!(page.contains("Your email is confirmed"));
        let (status, _) = app.get_text(&path).await;
        assert_eq!(status, 410, "{db:?}: used");
        let token = path.trim_start_matches("/verify/");
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/auth/verify-email",
            None,
            Some(json!({"token": token})),
        )
        .await;
        assert_eq!((s, r["error"].as_str()), (404, Some("invalid_link")), "{r}");
        let (_, account) = app.get_text_with_cookie("/account", &cookie).await;
        assert!(!account.contains("id=\"resend-confirmation\""), "{db:?}");
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/checkout",
            Some(&cookie),
            Some(json!({"sku": "key:disk-full-recovery"})),
        )
        .await;
        assert_eq!(s, 200, "{db:?}: {r}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(smtp.count(&email, "Confirm your email"), 1, "{db:?}");
        app.stop().await.unwrap();
    }
}

/// An invitation can be mailed: the invitee gets the organisation's name, who invited and the
/// single-use link, which joins them.
#[tokio::test]
async fn an_invitation_is_mailed_to_the_invitee() {
    let Some(smtp) = SmtpSink::start() else { return };
    let db = test_support::sqlite_database();
    let app = app_with_mail(&db, &smtp).await;
    let owner = sign_up(&app, "owner@acme.example").await;
    let (s, org) = send(
        &app,
        "POST",
        "/api/v1/orgs",
        Some(&owner),
        Some(json!({"name": "Acme Ops"})),
    )
    .await;
    assert_eq!(s, 201, "{org}");
    let id = org["id"].as_i64().unwrap();
    let (s, r) = send(
        &app,
        "POST",
        &format!("/api/v1/orgs/{id}/invites"),
        Some(&owner),
        Some(json!({"role": "member", "email": "not an address"})),
    )
    .await;
    assert_eq!(s, 400, "{r}");
    let (s, invite) = send(
        &app,
        "POST",
        &format!("/api/v1/orgs/{id}/invites"),
        Some(&owner),
        Some(json!({"role": "member", "email": "bo@example.com"})),
    )
    .await;
    assert_eq!(s, 201, "{invite}");
    let m = smtp.wait_for("bo@example.com", "invited you").await;
    assert_eq!(m.subject, "owner@acme.example invited you to Acme Ops on KEYS");
    let token = invite["token"].as_str().unwrap();
    assert!(m.text.contains(&format!("{}/join/{token}", app.base)), "{}", m.text);
    let bo = sign_up(&app, "bo@example.com").await;
    let (s, r) = send(
        &app,
        "POST",
        &format!("/api/v1/invites/{token}/accept"),
        Some(&bo),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    app.stop().await.unwrap();
}
