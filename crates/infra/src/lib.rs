//! # infra — wiring shared by the apps
//!
//! * [`Settings`]: layered configuration — built-in defaults, then an optional TOML file, then
//!   `KEYS__SECTION__KEY` environment variables, then command-line overrides — validated at
//!   start with an error that names the bad setting ([`SettingsError`]).
//! * [`Infra::connect`]: opens the database (running migrations) and the object store.
//! * [`Services::build`]: the composition root — every port and application service, from the
//!   settings (the payment provider included); [`housekeeping`] and [`shutdown_signal`].
//! * [`init_tracing`]: structured logs (text or JSON).
//! * [`metrics`]: the Prometheus endpoint every process can serve on `metrics.bind`.

mod hasher;
pub mod housekeeping;
pub mod mailer;
pub mod metrics;
pub mod services;
mod settings;
pub mod signals;
pub mod worker;

use std::sync::Arc;

use blob_store::{BlobConfig, BlobConfigError, ObjectArchiveStore};
use catalog::Clock;
use ingest::Ingestor;
use sea_orm::DatabaseConnection;
use storage_sql::{ConnectError, SqlCatalogRepository};

pub use entitlements::ports::AccessSync;
pub use hasher::BlockingHasher;
pub use services::{PaymentParts, Services, ServicesError, shutdown_signal};
pub use settings::{
    AuthSettings, CatalogSettings, DatabaseSettings, EmailSettings, IngestSettings, LogFormat, LogSettings,
    MetricsSettings, PaymentsMode, PaymentsSettings, S3Settings, ServerSettings, Settings, SettingsError,
    StorageBackend, StorageSettings, StripeSettings, WorkerSettings,
};
pub use storage_sql::AccessFeed;

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// Why the adapters could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// Database.
    #[error(transparent)]
    Database(#[from] ConnectError),
    /// Object storage.
    #[error(transparent)]
    Storage(#[from] BlobConfigError),
    /// The data directory cannot be created.
    #[error("cannot create the data directory {path}: {source}; pass a writable --data-dir")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// The adapters every app needs, built from [`Settings`].
#[derive(Clone)]
pub struct Infra {
    /// Raw connection (for health checks and later adapters).
    pub db: DatabaseConnection,
    /// Catalog storage.
    pub catalog: Arc<SqlCatalogRepository>,
    /// Archive storage.
    pub archives: Arc<ObjectArchiveStore>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Infra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Infra")
    }
}

impl Infra {
    /// Starts telling `sink` about every committed access change (sessions, memberships,
    /// entitlements) and proving with heartbeats that it hears them: Postgres `LISTEN/NOTIFY`
    /// (migration 19). `None` on SQLite, which has no notifications — `sink` then never hears
    /// it is alive and must not trust a cache. Stops when the returned feed is dropped.
    #[must_use]
    pub fn watch_access(&self, sink: Arc<dyn entitlements::ports::AccessChanges>) -> Option<storage_sql::AccessFeed> {
        storage_sql::AccessFeed::start(&self.db, sink)
    }

    /// Opens the database (applying migrations) and the object store.
    ///
    /// # Errors
    /// [`InfraError`] naming what could not be opened.
    pub async fn connect(settings: &Settings) -> Result<Self, InfraError> {
        let url = settings.database_url();
        if url.starts_with("sqlite:") {
            std::fs::create_dir_all(&settings.data_dir).map_err(|source| InfraError::DataDir {
                path: settings.data_dir.clone(),
                source,
            })?;
        }
        tracing::info!(database = %storage_sql::redact_url(&url), "opening database");
        let db = storage_sql::connect_with(
            &url,
            settings.database.max_connections,
            std::time::Duration::from_millis(settings.database.acquire_timeout_ms),
            (settings.database.statement_timeout_ms > 0)
                .then(|| std::time::Duration::from_millis(settings.database.statement_timeout_ms)),
        )
        .await?;
        let archives = Arc::new(ObjectArchiveStore::new(&blob_config(settings))?);
        Ok(Self {
            catalog: Arc::new(SqlCatalogRepository::new(db.clone())),
            db,
            archives,
            clock: Arc::new(SystemClock),
        })
    }

    /// For `keys-ingest --dry-run`: reads the existing catalog when there is one, and writes
    /// nothing — an embedded SQLite database that does not exist yet is replaced by an empty
    /// in-memory one (no data dir is created), and archives go to an in-memory store.
    ///
    /// # Errors
    /// [`InfraError`] naming what could not be opened.
    pub async fn connect_for_dry_run(settings: &Settings) -> Result<Self, InfraError> {
        let configured = settings.database_url();
        let embedded = settings.data_dir.join("keys.sqlite");
        let url = if configured.starts_with("sqlite:") && settings.database.url.is_none() && !embedded.exists() {
            "sqlite::memory:".to_owned()
        } else {
            configured
        };
        let db = storage_sql::connect(&url, settings.database.max_connections).await?;
        let archives = Arc::new(ObjectArchiveStore::new(&BlobConfig::Memory)?);
        Ok(Self {
            catalog: Arc::new(SqlCatalogRepository::new(db.clone())),
            db,
            archives,
            clock: Arc::new(SystemClock),
        })
    }

    /// The ingestion service over these adapters.
    #[must_use]
    pub fn ingestor(&self) -> Ingestor {
        Ingestor::new(self.catalog.clone(), self.archives.clone(), self.clock.clone())
    }
}

fn blob_config(settings: &Settings) -> BlobConfig {
    match (&settings.storage.backend, &settings.storage.s3) {
        (StorageBackend::S3, Some(s3)) => BlobConfig::S3 {
            bucket: s3.bucket.clone(),
            region: s3.region.clone(),
            endpoint: s3.endpoint.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.clone(),
            allow_http: s3.allow_http,
        },
        _ => BlobConfig::Local {
            root: settings.local_objects_dir(),
        },
    }
}

/// Installs the global tracing subscriber (`RUST_LOG` overrides the configured filter).
pub fn init_tracing(log: &LogSettings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
