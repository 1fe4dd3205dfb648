//! Discovery over HTTP (SQLite and Postgres): validation, reasons, ownership exclusion, signals,
//! the anonymous → signed-in merge, and the persona check — written buyer personas, each with
//! the KEYS a domain expert would pick, and the top-3 hit rate of the live API.

mod common;

use common::{send, sign_up};
use serde_json::{Value, json};

async fn recs(app: &common::TestApp, query: &str, cookie: Option<&str>) -> (u16, Value) {
    send(app, "GET", &format!("/api/v1/recommendations?{query}"), cookie, None).await
}

fn slugs(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["slug"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn recommendations_explain_themselves_and_exclude_what_you_own() {
    for (db, app) in common::spawn_apps().await {
        let (s, r) = recs(&app, "role=wizard", None).await;
        assert_eq!(s, 400, "{db:?}");
        let m = r["message"].as_str().unwrap();
        assert!(m.contains("`role`") && m.contains("wizard") && m.contains("sre"), "{m}");
        let (s, r) = recs(&app, "intent=respond-to-incidents,fly", None).await;
        assert_eq!(s, 400, "{r}");

        let (s, r) = recs(
            &app,
            "role=sre&intent=respond-to-incidents&category=incident-response&limit=5",
            None,
        )
        .await;
        assert_eq!(s, 200);
        let items = r["items"].as_array().unwrap();
        assert_eq!(items.len(), 5);
        let scores: Vec<i64> = items.iter().map(|i| i["score"].as_i64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
        for i in items {
            let reasons = i["reasons"].as_array().unwrap();
            assert!(!reasons.is_empty(), "{i}");
        }
        assert!(
            items[0]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "Matches your role: SRE")
        );
        // The ranking's own time, for load tests and browser dev tools.
        let timed = app.get("/api/v1/recommendations?role=sre").await;
        let timing = timed.headers()["server-timing"].to_str().unwrap().to_owned();
        let ms = timing.strip_prefix("rank;dur=").expect(&timing);
        let (whole, frac) = ms.split_once('.').expect(ms);
        assert!(
            whole.parse::<u64>().is_ok() && frac.len() == 3 && frac.parse::<u64>().is_ok(),
            "{timing}"
        );

        // What the buyer owns is never recommended.
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let top = slugs(&r)[0].clone();
        common::grant_key(&app, &admin, "ada@example.com", &top).await;
        let (_, mine) = recs(
            &app,
            "role=sre&intent=respond-to-incidents&category=incident-response&limit=50",
            Some(&ada),
        )
        .await;
        assert!(!slugs(&mine).contains(&top), "{db:?}: owned {top} excluded");

        // Signals: recorded for a signed-in buyer, refused without a subject, cleared on request.
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/signals",
            Some(&ada),
            Some(json!({"kind": "view", "value": "churn-model-notebooks"})),
        )
        .await;
        assert_eq!(s, 204);
        let (_, r) = recs(&app, "", Some(&ada)).await;
        let churn = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["slug"] == "churn-model-notebooks")
            .cloned()
            .unwrap();
        assert!(
            churn["reasons"][0].as_str().unwrap().starts_with("You looked at it on"),
            "{churn}"
        );
        let (s, r) = send(
            &app,
            "POST",
            "/api/v1/signals",
            Some(&ada),
            Some(json!({"kind": "smell", "value": "x"})),
        )
        .await;
        assert_eq!(s, 400, "{r}");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/signals",
            Some(&ada),
            Some(json!({"kind": "view", "value": "no-such-key"})),
        )
        .await;
        assert_eq!(s, 404, "no such KEY");
        let (s, _) = send(
            &app,
            "POST",
            "/api/v1/signals",
            None,
            Some(json!({"kind": "role", "value": "sre"})),
        )
        .await;
        assert_eq!(s, 401);
        let (s, _) = send(&app, "DELETE", "/api/v1/signals", Some(&ada), None).await;
        assert_eq!(s, 204);
        let (_, r) = recs(&app, "", Some(&ada)).await;
        assert!(
            r["items"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|i| i["reasons"].as_array().unwrap())
                .all(|why| !why.as_str().unwrap().starts_with("You looked")),
            "views cleared (what she owns still counts): {r}"
        );
        app.stop().await.unwrap();
    }
}

#[tokio::test]
async fn an_anonymous_visitors_answers_follow_them_into_their_account() {
    for (db, app) in common::spawn_apps().await {
        // Looking at recommendations for some answers changes nothing: no visitor, no profile.
        let r = app
            .client
            .get(app.url("/discover?role=data-scientist&intent=train-models"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            !r.headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|c| c.starts_with("keys_visitor=")),
            "{db:?}: GET /discover saves nothing"
        );
        // Answering is a POST (CSRF-checked: double submit before sign-in).
        let (csrf, csrf_cookie) = common::form_csrf(&app, "/discover", None).await;
        let csrf_cookie = csrf_cookie.expect("a CSRF cookie");
        let r = app
            .client
            .post(app.url("/discover"))
            .header("cookie", &csrf_cookie)
            .form(&[
                ("role", "data-scientist"),
                ("intent", "train-models"),
                ("csrf", "forged"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{db:?}: a forged answer form is refused");
        let r = app
            .client
            .post(app.url("/discover"))
            .header("cookie", &csrf_cookie)
            .form(&[
                ("role", "data-scientist"),
                ("intent", "train-models"),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{db:?}");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(location, "/discover?role=data-scientist&intent=train-models");
        let visitor = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("keys_visitor="))
            .expect("a visitor cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let (_, page) = app.get_text_with_cookie(&location, &visitor).await;
        assert!(page.contains("Matches your role: data scientist"), "{db:?}");
        // The visitor views a KEY page (recorded), then signs up with the cookie.
        let r = app
            .client
            .get(app.url("/marketplace/demand-forecasting-notebooks"))
            .header("cookie", &visitor)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = app
            .client
            .post(app.url("/api/v1/auth/signup"))
            .header("cookie", &visitor)
            .json(&json!({"email": "vi@example.com", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let session = common::session_cookie_of(&r).unwrap();
        let (_, r) = recs(&app, "", Some(&session)).await;
        let items = r["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{db:?}: the profile moved to the account");
        assert!(
            items[0]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "Matches your role: data scientist"),
            "{r}"
        );
        let viewed = items
            .iter()
            .find(|i| i["slug"] == "demand-forecasting-notebooks")
            .unwrap();
        assert!(
            viewed["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x.as_str().unwrap().starts_with("You looked at it")),
            "{viewed}"
        );
        app.stop().await.unwrap();
    }
}

/// Written personas and the KEYS a domain expert picks for each. The check passes when at
/// least 10 of the 14 (71 %) have an expert pick in their top 3. The floor is below 100 %
/// because some personas are deliberately broad (an engineering manager asking about
/// incidents) where several KEYS are defensible; it is well above chance (3 of 27 KEYS, ~11 %
/// per slot) so a broken rule or weight fails it.
#[tokio::test]
async fn persona_check_top3_hit_rate() {
    let db = test_support::sqlite_database();
    let app = common::spawn_app_on(&db, &test_support::repo_assets_dir()).await;
    let personas: [(&str, &str, &[&str]); 14] = [
        (
            "on-call SRE",
            "role=sre&intent=respond-to-incidents&category=incident-response",
            &[
                "kubernetes-incident-response",
                "on-call-handbook",
                "disk-full-recovery",
                "postgres-failover-runbook",
            ],
        ),
        (
            "solo founder",
            "role=founder&intent=bootstrap-project&category=saas-foundations",
            &["next-saas-starter", "next-stripe-checkout", "next-blog-mdx"],
        ),
        (
            "full-stack adding payments",
            "role=fullstack-developer&intent=add-payments&category=payments",
            &["next-stripe-checkout", "next-saas-starter"],
        ),
        (
            "security engineer",
            "role=security-engineer&intent=harden-security&category=security",
            &["tls-certificate-rotation", "next-authjs-starter"],
        ),
        (
            "ML data scientist",
            "role=data-scientist&intent=train-models&category=machine-learning",
            &["churn-model-notebooks", "llm-eval-embeddings-notebooks"],
        ),
        (
            "product analyst",
            "role=analyst&intent=analyze-data&category=experimentation",
            &["ab-test-analysis-notebooks", "cohort-retention-notebooks"],
        ),
        (
            "platform engineer cutting cloud cost",
            "role=platform-engineer&intent=reduce-costs&category=cost-optimization",
            &["aws-cost-spike-triage", "cloud-cost-analysis-notebooks"],
        ),
        (
            "data engineer migrating",
            "role=data-engineer&intent=migrate-data&category=data-quality",
            &["data-quality-checks-notebooks", "sql-to-pandas-eda-notebooks"],
        ),
        (
            "backend developer starting an API",
            "role=backend-developer&intent=bootstrap-project&category=api-design",
            &["fastify-api-starter", "node-cli-starter"],
        ),
        (
            "SRE watching systems",
            "role=sre&intent=monitor-systems&category=observability",
            &[
                "node-otel-observability",
                "metric-anomaly-detection-notebooks",
                "kubernetes-incident-response",
            ],
        ),
        (
            "DevOps shipping safely",
            "role=devops-engineer&intent=ship-to-production&category=deployment",
            &["deploy-rollback-runbook", "node-cli-starter", "node-worker-queue"],
        ),
        (
            "forecasting data scientist",
            "role=data-scientist&intent=forecast&category=forecasting",
            &["demand-forecasting-notebooks", "cloud-cost-analysis-notebooks"],
        ),
        (
            "SRE proving backups",
            "role=sre&intent=automate-operations&category=backup-recovery",
            &["s3-backup-restore-drill"],
        ),
        (
            "engineering manager and incidents",
            "role=engineering-manager&intent=respond-to-incidents&category=incident-response",
            &["on-call-handbook", "kubernetes-incident-response"],
        ),
    ];
    let mut hits = 0;
    let mut report = Vec::new();
    for (name, query, expert) in personas {
        let (s, r) = recs(&app, &format!("{query}&limit=3"), None).await;
        assert_eq!(s, 200);
        let top = slugs(&r);
        let hit = top.iter().any(|s| expert.contains(&s.as_str()));
        hits += usize::from(hit);
        report.push(format!("{} {name}: {top:?}", if hit { "HIT " } else { "MISS" }));
    }
    let rate = hits as f64 / 14.0;
    #[allow(clippy::print_stdout)] // the report is the point of this check
    {
        println!(
            "persona top-3 hit rate: {hits}/14 = {:.0}%\n{}",
            rate * 100.0,
            report.join("\n")
        );
    }
    assert!(
        hits >= 10,
        "top-3 hit rate {hits}/14 below the floor of 10:\n{}",
        report.join("\n")
    );
    app.stop().await.unwrap();
}

/// The recommendation list inside the HTML section with `id`: each item's slug and whether it
/// has at least one reason. `None` when the section is absent.
fn section_items(html: &str, id: &str) -> Option<Vec<(String, bool)>> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let section = &html[start..start + html[start..].find("</section>").unwrap()];
    Some(
        section
            .split("<li class=\"recommendation\" data-slug=\"")
            .skip(1)
            .map(|item| {
                let slug = item[..item.find('"').unwrap()].to_owned();
                (slug, item.contains("<ul class=\"reasons\"><li>"))
            })
            .collect(),
    )
}

/// Every page surface — "Recommended for you" on `/marketplace`, "Pairs well with" on a KEY
/// page, "Next steps" on `/account/keys` — lists explained KEYS and never one the buyer owns.
#[tokio::test]
async fn every_page_surface_explains_and_excludes_what_you_own() {
    for (db, app) in common::spawn_apps().await {
        let admin = common::sign_up_admin(&app, "admin@keys.test").await;
        let ada = sign_up(&app, "ada@example.com").await;
        let owned = "on-call-handbook";
        common::grant_key(&app, &admin, "ada@example.com", owned).await;
        let (csrf, _) = common::form_csrf(&app, "/discover", Some(&ada)).await;
        let r = app
            .client
            .post(app.url("/discover"))
            .header("cookie", &ada)
            .form(&[
                ("role", "sre"),
                ("intent", "respond-to-incidents"),
                ("category", "incident-response"),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{db:?}");
        for (path, id, anchor) in [
            ("/marketplace", "recommended", None),
            ("/marketplace/disk-full-recovery", "pairs", Some("disk-full-recovery")),
            ("/account/keys", "next-steps", None),
        ] {
            let (s, html) = app.get_text_with_cookie(path, &ada).await;
            assert_eq!(s, 200, "{db:?}: {path}");
            let items = section_items(&html, id).unwrap_or_else(|| panic!("{db:?}: {path} has no #{id}"));
            assert!(!items.is_empty(), "{db:?}: {path}: #{id} lists KEYS");
            for (slug, explained) in &items {
                assert!(*explained, "{db:?}: {path}: {slug} has a reason");
                assert_ne!(slug, owned, "{db:?}: {path}: owned KEY recommended");
                assert_ne!(Some(slug.as_str()), anchor, "{db:?}: {path}: a KEY paired with itself");
            }
        }
    }
}
