//! # storage-sql — SQL persistence adapter
//!
//! Implements the domain's storage ports with sea-orm. The backend is picked at runtime from
//! the database URL: `sqlite://…` (the embedded default) or `postgres://…` (production).
//! [`connect`] opens a pool and applies every migration from the `migrations` crate.
//!
//! Concurrency: every catalog write runs in one transaction that first claims the KEY's row
//! (`INSERT … ON CONFLICT DO NOTHING`, then `SELECT … FOR UPDATE` on Postgres; SQLite
//! serialises writers), so overlapping ingest runs and several server processes stay correct.

pub mod access_feed;
mod account_repo;
mod catalog_repo;
mod discovery_repo;
pub mod downloads;
mod entities;
mod entitlement_repo;
pub mod mail_outbox;
pub mod ops;
mod order_repo;
pub mod payments;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, TransactionTrait};
use sea_orm_migration::MigratorTrait;

pub use access_feed::AccessFeed;
pub use account_repo::SqlAccountStore;
pub use catalog_repo::SqlCatalogRepository;
pub use discovery_repo::SqlSignalRepository;
pub use entitlement_repo::SqlEntitlementRepository;
pub use mail_outbox::{SqlEmailVerifications, SqlOutbox, SqlPasswordResets};
pub use order_repo::SqlOrderRepository;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL's scheme is neither `sqlite` nor `postgres`.
    #[error("database url must start with sqlite:// or postgres:// (got `{0}`)")]
    UnsupportedUrl(String),
    /// The server or file could not be reached.
    #[error("cannot connect to the database at {url}: {source}; check that it is running and the url is right")]
    Connect {
        /// The URL without password.
        url: String,
        /// The driver's error.
        source: sea_orm::DbErr,
    },
    /// Migrations failed.
    #[error("database migrations failed: {0}")]
    Migrate(sea_orm::DbErr),
}

/// Hides the password of a URL for logs and errors.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Opens a pool for `url` and applies every pending migration.
///
/// SQLite files are created when missing and run in WAL mode with a busy timeout, so a server
/// and an ingest run can share one file.
///
/// # Errors
/// [`ConnectError`] naming what failed.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, ConnectError> {
    connect_with(url, max_connections, Duration::from_secs(10), None).await
}

/// [`connect`], with how long a caller waits for a pooled connection before the operation
/// fails (the server's `database.acquire_timeout_ms`: while the database is unreachable,
/// requests fail within this bound instead of hanging), and on Postgres how long one statement
/// may run before the server cancels it (`database.statement_timeout_ms`; `None`: no limit).
/// Migrations run first on a connection of their own without that limit, so a long index
/// build at start-up is not cancelled.
///
/// # Errors
/// [`ConnectError`] naming what failed.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, ConnectError> {
    let is_sqlite = url.starts_with("sqlite:");
    if !is_sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(ConnectError::UnsupportedUrl(redact_url(url)));
    }
    let in_memory = is_sqlite && url.contains(":memory:");
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(if in_memory { 1 } else { max_connections.max(1) })
        .min_connections(if in_memory { 1 } else { 0 })
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false);
    if is_sqlite {
        opts.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(15))
                .foreign_keys(true)
        });
    }
    // Two processes opening a brand-new SQLite file at once can both try to switch it to WAL;
    // the loser gets "database is locked" before any busy timeout applies. Retry briefly.
    let mut attempt = 0;
    let db = loop {
        match Database::connect(opts.clone()).await {
            Ok(db) => break db,
            Err(e) if is_sqlite && attempt < 50 && e.to_string().contains("database is locked") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(source) => {
                return Err(ConnectError::Connect {
                    url: redact_url(url),
                    source,
                });
            }
        }
    };
    let Some(limit) = statement_timeout.filter(|_| !is_sqlite) else {
        migrate(&db).await?;
        tracing::debug!(backend = ?db.get_database_backend(), "database ready");
        return Ok(db);
    };
    migrate(&db).await?;
    let _ = db.close().await;
    let ms = limit.as_millis().to_string();
    opts.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", ms.as_str())]));
    let db = Database::connect(opts).await.map_err(|source| ConnectError::Connect {
        url: redact_url(url),
        source,
    })?;
    tracing::debug!(backend = ?db.get_database_backend(), statement_timeout_ms = %limit.as_millis(), "database ready");
    Ok(db)
}

/// Applies pending migrations in one transaction that first takes a lock, so several
/// processes starting at once against a fresh database do not collide: the others wait, then
/// find nothing to do. Postgres: an advisory lock. SQLite: a write to a lock table, which holds
/// the database's write lock until commit (DDL is transactional on both).
async fn migrate(db: &DatabaseConnection) -> Result<(), ConnectError> {
    let m = ConnectError::Migrate;
    if !is_postgres(db) {
        db.execute_unprepared("CREATE TABLE IF NOT EXISTS keys_migration_lock (holder INTEGER)")
            .await
            .map_err(m)?;
    }
    let txn = db.begin().await.map_err(m)?;
    if is_postgres(db) {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7260301001)")
            .await
            .map_err(m)?;
    } else {
        txn.execute_unprepared("INSERT INTO keys_migration_lock (holder) VALUES (1)")
            .await
            .map_err(m)?;
        txn.execute_unprepared("DELETE FROM keys_migration_lock")
            .await
            .map_err(m)?;
    }
    migrations::Migrator::up(&txn, None).await.map_err(m)?;
    txn.commit().await.map_err(m)
}

/// SQLite: takes the database write lock now, at the start of a transaction that reads before
/// it writes (a deferred transaction that read first would fail with "database is locked" if
/// another connection wrote in between, whatever the busy timeout). Postgres: nothing.
pub(crate) async fn write_first<C: ConnectionTrait>(txn: &C) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        // The lock table `connect` creates; deleting nothing still takes the write lock.
        txn.execute_unprepared("DELETE FROM keys_migration_lock").await?;
    }
    Ok(())
}

/// Whether the connection is to Postgres (row locks are used only there).
pub(crate) fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}
