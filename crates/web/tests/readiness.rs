//! Degraded storage with the ports mocked (no database): `/readyz` reports 503 when the
//! database does not answer, while `/healthz` and the pages keep working from the snapshot; and
//! when a buyer's entitlements cannot be read, nothing is recommended.

use std::sync::Arc;

use catalog::StorageError;
use catalog::ports::MockCatalogRepository;
use poem::test::TestClient;
use web::{AccessPart, AppState, CatalogCache, CatalogPart, DiscoveryPart, IdentityPart, ResponseCache, ShopPart};

/// An app over a catalog mock that answers with an empty catalog (and `ping` as given), and
/// the given session, entitlement and signal ports; every other port is an unused mock.
async fn app_with(
    ping: Result<(), StorageError>,
    sessions: accounts::ports::MockSessionRepository,
    entitlements: entitlements::ports::MockEntitlementRepository,
    signals: discovery::ports::MockSignalRepository,
) -> TestClient<impl poem::Endpoint> {
    let accounts = accounts::AccountService::new(
        Arc::new(accounts::ports::MockAccountRepository::new()),
        Arc::new(sessions),
        Arc::new(accounts::ports::MockThrottleRepository::new()),
        Arc::new(accounts::InlineHasher),
        accounts::AccountPolicy::default(),
    )
    .unwrap();
    app_from(ping, accounts, entitlements, signals).await
}

/// [`app_with`] over a ready-made account service.
async fn app_from(
    ping: Result<(), StorageError>,
    accounts: accounts::AccountService,
    entitlements: entitlements::ports::MockEntitlementRepository,
    signals: discovery::ports::MockSignalRepository,
) -> TestClient<impl poem::Endpoint> {
    let mut repo = MockCatalogRepository::new();
    repo.expect_revision().returning(|| Ok(1));
    repo.expect_list_keys().returning(|| Ok(Vec::new()));
    repo.expect_documents().returning(|| Ok(Vec::new()));
    repo.expect_ping().returning(move || ping.clone());
    let repo: Arc<dyn catalog::CatalogRepository> = Arc::new(repo);
    let catalog = Arc::new(CatalogCache::load(repo.clone()).await.unwrap());
    let commerce = upgrades::service::Commerce::new(
        Arc::new(upgrades::ports::MockOrderRepository::new()),
        Arc::new(entitlements::ports::MockEntitlementRepository::new()),
    );
    TestClient::new(web::app(AppState {
        catalog: CatalogPart {
            repo,
            cache: catalog,
            responses: Arc::new(ResponseCache::new(16)),
        },
        identity: IdentityPart {
            accounts,
            tokens: Arc::new(accounts::ports::MockTokenRepository::new()),
            orgs: accounts::OrgService::new(Arc::new(accounts::ports::MockOrgRepository::new())),
        },
        access: AccessPart {
            entitlements: Arc::new(entitlements),
            archives: Arc::new(catalog::ports::MockArchiveStore::new()),
            downloads: Arc::new(entitlements::ports::MockDownloadLog::new()),
            links: entitlements::DownloadLinks::new(b"test".to_vec(), std::time::Duration::from_secs(300)),
            cache: Arc::new(web::AccessCache::new(16)),
            sync: None,
        },
        shop: ShopPart {
            commerce: commerce.clone(),
            checkout: payments::checkout::CheckoutService::new(
                commerce,
                Arc::new(upgrades::ports::MockOrderRepository::new()),
                Arc::new(payments::ports::MockPaymentGateway::new()),
                "https://shop.example",
            ),
            local: None,
            inbox: Arc::new(payments::ports::MockInboxRepository::new()),
            webhook_secrets: Arc::new(vec!["whsec_test".into()]),
        },
        discovery: DiscoveryPart {
            signals: Arc::new(signals),
            retention_days: 180,
        },
        clock: Arc::new(catalog::FixedClock(chrono::Utc::now())),
        http: web::HttpPolicy::new("http://127.0.0.1", false, Vec::new(), &[]),
        site: web::SiteInfo::new("Test Shop", "help@shop.example", 7),
    }))
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_down() {
    let client = app_with(
        Err(StorageError("connection refused".into())),
        accounts::ports::MockSessionRepository::new(),
        entitlements::ports::MockEntitlementRepository::new(),
        discovery::ports::MockSignalRepository::new(),
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
/// something they own): the API answers 503, and `/discover` keeps them signed in instead of
/// turning them into an anonymous visitor (and, being a `GET`, saves nothing).
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
    let mut signals = discovery::ports::MockSignalRepository::new();
    // `GET /discover` only reads: nothing is saved or recorded (an unexpected call fails).
    signals.expect_save_profile().times(0);
    signals.expect_record().times(0);
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

/// When every password-check slot is taken the server answers at once — 503 with
/// `Retry-After` — instead of queueing work on its runtime; the attempt does not count against
/// the throttle.
#[tokio::test]
async fn a_busy_hasher_answers_503_with_retry_after() {
    let mut hasher = accounts::ports::MockPasswordHashing::new();
    hasher.expect_verify().returning(|_, _| Err(accounts::HashError::Busy));
    hasher.expect_hash().returning(|_| Err(accounts::HashError::Busy));
    let mut throttle = accounts::ports::MockThrottleRepository::new();
    throttle
        .expect_begin_attempt()
        .returning(|_, _| Ok(accounts::Attempt::Allowed(accounts::AttemptTicket { ids: vec![1] })));
    throttle.expect_attempt_abandoned().times(2).returning(|_| Ok(()));
    let mut store = accounts::ports::MockAccountRepository::new();
    store.expect_find_by_email().returning(|_| Ok(None));
    let accounts = accounts::AccountService::new(
        Arc::new(store),
        Arc::new(accounts::ports::MockSessionRepository::new()),
        Arc::new(throttle),
        Arc::new(hasher),
        accounts::AccountPolicy::default(),
    )
    .unwrap();
    let client = app_from(
        Ok(()),
        accounts,
        entitlements::ports::MockEntitlementRepository::new(),
        discovery::ports::MockSignalRepository::new(),
    )
    .await;
    for path in ["/api/v1/auth/login", "/api/v1/auth/signup"] {
        let r = client
            .post(path)
            .body_json(&serde_json::json!({"email": "ada@example.com", "password": "correct horse battery"}))
            .send()
            .await;
        r.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.0.headers()["retry-after"], "2", "{path}");
    }
}
