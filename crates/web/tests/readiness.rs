//! Degraded storage with the ports mocked (no database): `/readyz` reports 503 when the
//! database does not answer, while `/healthz` and the pages keep working from the snapshot; and
//! when a buyer's entitlements cannot be read, nothing is recommended.

use std::sync::Arc;

use catalog::{MockCatalogRepository, StorageError};
use poem::test::TestClient;
use web::{AppState, CatalogCache, ResponseCache};

/// An app over a catalog mock that answers with an empty catalog (and `ping` as given), and
/// the given session, entitlement and signal ports; every other port is an unused mock.
async fn app_with(
    ping: Result<(), StorageError>,
    sessions: accounts::ports::MockSessionRepository,
    entitlements: entitlements::ports::MockEntitlementRepository,
    signals: discovery::MockSignalRepository,
) -> TestClient<impl poem::Endpoint> {
    let mut repo = MockCatalogRepository::new();
    repo.expect_revision().returning(|| Ok(1));
    repo.expect_list_keys().returning(|| Ok(Vec::new()));
    repo.expect_documents().returning(|| Ok(Vec::new()));
    repo.expect_ping().returning(move || ping.clone());
    let repo: Arc<dyn catalog::CatalogRepository> = Arc::new(repo);
    let catalog = Arc::new(CatalogCache::load(repo.clone()).await.unwrap());
    let accounts = accounts::AccountService::new(
        Arc::new(accounts::ports::MockAccountRepository::new()),
        Arc::new(sessions),
        Arc::new(accounts::ports::MockThrottleRepository::new()),
        accounts::AccountPolicy::default(),
    )
    .unwrap();
    TestClient::new(web::app(AppState {
        repo,
        catalog,
        responses: Arc::new(ResponseCache::new(16)),
        accounts,
        tokens: Arc::new(accounts::ports::MockTokenRepository::new()),
        orgs: Arc::new(accounts::ports::MockOrgRepository::new()),
        clock: Arc::new(catalog::FixedClock(chrono::Utc::now())),
        secure_cookies: true,
        entitlements: Arc::new(entitlements),
        admin_emails: Arc::new(Vec::new()),
        archives: Arc::new(catalog::MockArchiveStore::new()),
        downloads: Arc::new(entitlements::ports::MockDownloadLog::new()),
        link_key: Arc::new(b"test".to_vec()),
        link_ttl: std::time::Duration::from_secs(300),
        commerce: upgrades::service::Commerce::new(
            Arc::new(upgrades::ports::MockOrderRepository::new()),
            Arc::new(entitlements::ports::MockEntitlementRepository::new()),
        ),
        gateway: Arc::new(payments::ports::MockPaymentGateway::new()),
        local: None,
        inbox: Arc::new(payments::ports::MockInboxRepository::new()),
        webhook_secrets: Arc::new(vec!["whsec_test".into()]),
        public_url: Arc::new("http://127.0.0.1".into()),
        signals: Arc::new(signals),
        signal_retention_days: 180,
    }))
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_down() {
    let client = app_with(
        Err(StorageError("connection refused".into())),
        accounts::ports::MockSessionRepository::new(),
        entitlements::ports::MockEntitlementRepository::new(),
        discovery::MockSignalRepository::new(),
    )
    .await;

    let ready = client.get("/readyz").send().await;
    ready.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
    ready
        .assert_json(serde_json::json!({ "status": "unavailable", "reason": "database unreachable" }))
        .await;
    client.get("/healthz").send().await.assert_status_is_ok();
    client.get("/marketplace").send().await.assert_status_is_ok();
}

/// When a signed-in buyer's entitlements cannot be read, nothing is recommended (it could be
/// something they own): the API answers 503, and `/discover` still saves their answers under
/// their account instead of turning them into an anonymous visitor.
#[tokio::test]
async fn unknown_ownership_recommends_nothing_and_keeps_the_buyer_signed_in() {
    let mut sessions = accounts::ports::MockSessionRepository::new();
    sessions.expect_find().returning(|digest, now| {
        Ok(Some(accounts::ports::Session {
            token_digest: digest.to_owned(),
            account: accounts::ports::AccountId(7),
            csrf_token: "csrf".into(),
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
        }))
    });
    let mut ents = entitlements::ports::MockEntitlementRepository::new();
    ents.expect_for_credential()
        .returning(|_, _| Err(entitlements::ports::EntitlementStoreError("decode failed".into())));
    let mut signals = discovery::MockSignalRepository::new();
    let user = discovery::Subject::User(7);
    let expected = user.clone();
    signals
        .expect_save_profile()
        .withf(move |s, _, _| *s == expected)
        .times(1)
        .returning(|_, _, _| Ok(()));
    let expected = user.clone();
    signals
        .expect_record()
        .withf(move |s, _| *s == expected)
        .returning(|_, _| Ok(()));
    signals
        .expect_recall()
        .returning(|_, _, _| Ok(discovery::Recall::default()));
    let client = app_with(Ok(()), sessions, ents, signals).await;

    let api = client
        .get("/api/v1/recommendations?role=sre")
        .header("cookie", "keys_session=abc")
        .send()
        .await;
    api.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);

    let page = client
        .get("/discover?role=sre")
        .header("cookie", "keys_session=abc")
        .send()
        .await;
    page.assert_status_is_ok();
    assert!(
        page.0
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().contains("keys_visitor")),
        "no visitor cookie for a signed-in buyer"
    );
}
