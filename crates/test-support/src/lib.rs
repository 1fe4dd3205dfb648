//! Helpers for tests that need real services.
//!
//! * [`databases`]: a fresh SQLite file always, plus a fresh Postgres database when
//!   `KEYS_TEST_DATABASE_URL` points at a server (CI always sets it).
//! * [`s3_endpoint`]: the s3s-fs server CI starts (`KEYS_TEST_S3_*`).
//! * [`require_services`]: with `KEYS_TEST_REQUIRE_SERVICES=1` (set by CI) a missing service is
//!   a failure instead of a skipped backend, so a green CI run proves every backend was tested.

use std::path::PathBuf;

use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

/// Whether missing services must fail the test run.
#[must_use]
pub fn require_services() -> bool {
    std::env::var("KEYS_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A fresh database for one test. Keep it alive for the test's duration.
pub struct TestDatabase {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Connection URL.
    pub url: String,
    _dir: Option<TempDir>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} database {}", self.backend, self.url)
    }
}

/// Runs `sql` on the database at `url`: a test's direct set-up, such as a row as an older
/// version of the shop wrote it.
///
/// # Panics
/// When the database cannot be reached or the statement fails (a mistake in the test).
pub async fn execute(url: &str, sql: &str) {
    use sea_orm::ConnectionTrait as _;
    let db = sea_orm::Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = db.close().await;
}

/// A fresh SQLite database file in a temporary directory.
///
/// # Panics
/// When no temporary directory can be made.
#[must_use]
pub fn sqlite_database() -> TestDatabase {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("keys.sqlite").display());
    TestDatabase {
        backend: "sqlite",
        url,
        _dir: Some(dir),
    }
}

/// A fresh Postgres database, when `KEYS_TEST_DATABASE_URL` is set (an admin URL such as
/// `postgres://postgres@127.0.0.1:5432/postgres`).
///
/// # Panics
/// When the variable is missing but [`require_services`] is on, or the server refuses.
pub async fn postgres_database() -> Option<TestDatabase> {
    let Ok(admin) = std::env::var("KEYS_TEST_DATABASE_URL") else {
        assert!(
            !require_services(),
            "KEYS_TEST_DATABASE_URL is not set but KEYS_TEST_REQUIRE_SERVICES=1"
        );
        eprintln!("note: KEYS_TEST_DATABASE_URL not set; Postgres backend skipped");
        return None;
    };
    let prefix = std::env::var("KEYS_TEST_DB_PREFIX").unwrap_or_else(|_| "keys_test_".into());
    let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
    let conn = Database::connect(admin.as_str())
        .await
        .unwrap_or_else(|e| panic!("connect {admin}: {e}"));
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(TestDatabase {
        backend: "postgres",
        url: format!("{base}/{name}"),
        _dir: None,
    })
}

/// SQLite always, Postgres when configured.
pub async fn databases() -> Vec<TestDatabase> {
    let mut out = vec![sqlite_database()];
    out.extend(postgres_database().await);
    out
}

/// Connection details of the S3-compatible test server.
#[derive(Debug, Clone)]
pub struct S3Endpoint {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// A bucket that exists.
    pub bucket: String,
}

/// The s3s-fs server from `KEYS_TEST_S3_ENDPOINT`, `KEYS_TEST_S3_ACCESS_KEY`,
/// `KEYS_TEST_S3_SECRET_KEY` and `KEYS_TEST_S3_BUCKET`.
///
/// # Panics
/// When missing but [`require_services`] is on.
#[must_use]
pub fn s3_endpoint() -> Option<S3Endpoint> {
    let get = |k: &str| std::env::var(k).ok();
    let found = (|| {
        Some(S3Endpoint {
            endpoint: get("KEYS_TEST_S3_ENDPOINT")?,
            access_key: get("KEYS_TEST_S3_ACCESS_KEY")?,
            secret_key: get("KEYS_TEST_S3_SECRET_KEY")?,
            bucket: get("KEYS_TEST_S3_BUCKET")?,
        })
    })();
    if found.is_none() {
        assert!(
            !require_services(),
            "KEYS_TEST_S3_* are not set but KEYS_TEST_REQUIRE_SERVICES=1"
        );
        eprintln!("note: KEYS_TEST_S3_ENDPOINT not set; S3 tests skipped");
    }
    found
}

/// The repository's `keys-assets/` directory.
#[must_use]
pub fn repo_assets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../keys-assets")
}
