//! Shared server secrets and the download record.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

/// Returns the secret called `name`, creating it with `fresh` when no instance has yet. All
/// instances on one database get the same value (insert-if-absent, then read).
///
/// # Errors
/// The database error.
pub async fn shared_secret(db: &DatabaseConnection, name: &str, fresh: &str) -> Result<String, DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
            }
            _ => "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        },
        [name.into(), fresh.into()],
    ))
    .await?;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => "SELECT value FROM server_secrets WHERE name = $1",
                _ => "SELECT value FROM server_secrets WHERE name = ?",
            },
            [name.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("server secret {name}")))?;
    row.try_get("", "value")
}

/// Records one download.
///
/// # Errors
/// The database error.
pub async fn record_download(
    db: &DatabaseConnection,
    account: i64,
    slug: &str,
    version: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "INSERT INTO downloads (account_id, slug, version, at) VALUES ($1, $2, $3, $4)"
            }
            _ => "INSERT INTO downloads (account_id, slug, version, at) VALUES (?, ?, ?, ?)",
        },
        [account.into(), slug.into(), version.into(), at.into()],
    ))
    .await
    .map(|_| ())
}

/// How many downloads an account made of a KEY.
///
/// # Errors
/// The database error.
pub async fn download_count(db: &DatabaseConnection, account: i64, slug: &str) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT COUNT(*) AS n FROM downloads WHERE account_id = $1 AND slug = $2"
                }
                _ => "SELECT COUNT(*) AS n FROM downloads WHERE account_id = ? AND slug = ?",
            },
            [account.into(), slug.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("count".into()))?;
    row.try_get("", "n")
}

/// [`entitlements::ports::DownloadLog`] on the `downloads` table.
#[derive(Debug, Clone)]
pub struct SqlDownloadLog {
    db: DatabaseConnection,
}

impl SqlDownloadLog {
    /// Wraps a connection returned by [`crate::connect`].
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl entitlements::ports::DownloadLog for SqlDownloadLog {
    async fn record(
        &self,
        user: entitlements::UserId,
        slug: &str,
        version: &str,
        at: DateTime<Utc>,
    ) -> Result<(), entitlements::ports::EntitlementStoreError> {
        record_download(&self.db, user.0, slug, version, at)
            .await
            .map_err(|e| entitlements::ports::EntitlementStoreError(e.to_string()))
    }
}
