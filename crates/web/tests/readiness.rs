//! Health and readiness with the catalog port mocked (no database): `/readyz` reports 503
//! when the database does not answer, while `/healthz` and the pages keep working from the
//! snapshot.

use std::sync::Arc;

use catalog::{MockCatalogRepository, StorageError};
use poem::test::TestClient;
use web::{AppState, CatalogCache, ResponseCache};

#[tokio::test]
async fn readyz_is_503_when_the_database_is_down() {
    let mut repo = MockCatalogRepository::new();
    repo.expect_revision().returning(|| Ok(1));
    repo.expect_list_keys().returning(|| Ok(Vec::new()));
    repo.expect_documents().returning(|| Ok(Vec::new()));
    repo.expect_ping()
        .returning(|| Err(StorageError("connection refused".into())));
    let repo: Arc<dyn catalog::CatalogRepository> = Arc::new(repo);
    let catalog = Arc::new(CatalogCache::load(repo.clone()).await.unwrap());
    let accounts = accounts::AccountService::new(
        Arc::new(accounts::ports::MockAccountRepository::new()),
        Arc::new(accounts::ports::MockSessionRepository::new()),
        Arc::new(accounts::ports::MockThrottleRepository::new()),
        accounts::AccountPolicy::default(),
    )
    .unwrap();
    let app = web::app(AppState {
        repo,
        catalog,
        responses: Arc::new(ResponseCache::new(16)),
        accounts,
        tokens: Arc::new(accounts::ports::MockTokenRepository::new()),
        orgs: Arc::new(accounts::ports::MockOrgRepository::new()),
        clock: Arc::new(catalog::FixedClock(chrono::Utc::now())),
        secure_cookies: true,
        entitlements: Arc::new(entitlements::ports::MockEntitlementRepository::new()),
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
        signals: Arc::new(discovery::MockSignalRepository::new()),
        signal_retention_days: 180,
    });
    let client = TestClient::new(app);

    let ready = client.get("/readyz").send().await;
    ready.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
    ready
        .assert_json(serde_json::json!({ "status": "unavailable", "reason": "database unreachable" }))
        .await;
    client.get("/healthz").send().await.assert_status_is_ok();
    client.get("/marketplace").send().await.assert_status_is_ok();
}
