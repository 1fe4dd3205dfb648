//! Ports: what the catalog needs from the outside world. Adapters implement them
//! (`storage-sql` for [`CatalogRepository`], `blob-store` for [`ArchiveStore`]).
//!
//! With the `mock` feature, mockall generates `MockCatalogRepository`, `MockArchiveStore` and
//! `MockClock`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Key, KeyMetadata, KeyVersion, Kind, Slug, Version};

/// A storage backend failed (connection lost, constraint, I/O). Retrying may help; the message
/// says what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StorageError(pub String);

/// Why [`CatalogRepository::save_key`] refused a change. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaveKeyError {
    /// The version is already released with other content; released versions are immutable.
    #[error(
        "version {version} of `{slug}` is already released with different content (stored sha256 {stored_sha256}, new {new_sha256}); publish it under a new version number"
    )]
    VersionConflict {
        /// The KEY.
        slug: Slug,
        /// The conflicting version.
        version: Version,
        /// Archive hash in the catalog.
        stored_sha256: String,
        /// Archive hash offered.
        new_sha256: String,
    },
    /// The slug already belongs to a KEY of another kind.
    #[error("slug `{slug}` already belongs to a {stored} KEY and cannot become a {new} KEY; pick another slug")]
    KindChanged {
        /// The KEY.
        slug: Slug,
        /// Kind in the catalog.
        stored: Kind,
        /// Kind offered.
        new: Kind,
    },
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A change to one KEY, applied atomically by [`CatalogRepository::save_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// New metadata (replaces the stored one).
    pub meta: KeyMetadata,
    /// Versions to add; versions already stored with the same archive are left alone.
    pub versions: Vec<KeyVersion>,
    /// When the change happens (from the [`Clock`]).
    pub at: DateTime<Utc>,
}

/// What [`CatalogRepository::save_key`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaveOutcome {
    /// The KEY did not exist before.
    pub created: bool,
    /// Stored metadata differed and was replaced.
    pub metadata_changed: bool,
    /// Versions that were inserted.
    pub versions_added: Vec<Version>,
}

impl SaveOutcome {
    /// Whether anything was written.
    #[must_use]
    pub fn changed(&self) -> bool {
        self.created || self.metadata_changed || !self.versions_added.is_empty()
    }
}

/// A text document ingested from `keys-assets/` beside the KEYS, checked before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Path relative to the assets directory (`pricing.toml`, `bundles/saas-launch-kit.toml`).
    pub name: String,
    /// Its text.
    pub body: String,
}

/// Durable catalog storage.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CatalogRepository: Send + Sync {
    /// One KEY with all its versions.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    async fn find_key(&self, slug: &Slug) -> Result<Option<Key>, StorageError>;

    /// Every KEY with all its versions, ordered by slug.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    async fn list_keys(&self) -> Result<Vec<Key>, StorageError>;

    /// A number that changes whenever the catalog changes; readers compare it to decide whether
    /// to reload.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    async fn revision(&self) -> Result<i64, StorageError>;

    /// Applies a [`KeyChange`] in one transaction: upserts the metadata, inserts new versions,
    /// and moves the current version forward only (never to an older one). Safe when several
    /// processes save the same KEY at once.
    ///
    /// # Errors
    /// [`SaveKeyError::VersionConflict`] when a version exists with other content,
    /// [`SaveKeyError::KindChanged`] when the slug belongs to another kind,
    /// [`SaveKeyError::Storage`] when the backend fails. Nothing is written on error.
    async fn save_key(&self, change: &KeyChange) -> Result<SaveOutcome, SaveKeyError>;

    /// Every document ingested beside the KEYS (the pricing file, bundle definitions), ordered
    /// by name.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails.
    async fn documents(&self) -> Result<Vec<Document>, StorageError>;

    /// Makes `documents` the complete set, in one transaction, and bumps the revision when
    /// anything changed (so every server reloads). Returns whether anything changed.
    ///
    /// # Errors
    /// [`StorageError`] when the backend fails; nothing is written then.
    async fn replace_documents(&self, documents: &[Document]) -> Result<bool, StorageError>;

    /// Checks that the backend answers.
    ///
    /// # Errors
    /// [`StorageError`] when it does not.
    async fn ping(&self) -> Result<(), StorageError>;
}

/// Why an archive operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// No object under that key.
    #[error("archive `{0}` does not exist in object storage")]
    NotFound(String),
    /// The object store failed.
    #[error("object storage failed for `{key}`: {message}")]
    Backend {
        /// The object key.
        key: String,
        /// What the store said.
        message: String,
    },
}

/// Object storage for version archives.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Stores bytes under a key (overwriting is harmless: keys are content-addressed).
    ///
    /// # Errors
    /// [`ArchiveError::Backend`] when the store fails.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ArchiveError>;

    /// Reads an object whole.
    ///
    /// # Errors
    /// [`ArchiveError::NotFound`] or [`ArchiveError::Backend`].
    async fn get(&self, key: &str) -> Result<Vec<u8>, ArchiveError>;

    /// Whether an object exists.
    ///
    /// # Errors
    /// [`ArchiveError::Backend`] when the store fails.
    async fn exists(&self, key: &str) -> Result<bool, ArchiveError>;

    /// A URL that lets anyone holding it `GET` the object for `ttl`, when the backend can sign
    /// URLs itself (S3); `None` when it cannot (local files), and the server must serve the
    /// bytes through its own signed link.
    ///
    /// # Errors
    /// [`ArchiveError::Backend`] when signing fails.
    async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<String>, ArchiveError>;
}

/// Where time comes from. Production uses the system clock; tests use a fixed or mocked one.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A clock stuck at one instant, for tests and examples.
///
/// ```
/// use catalog::{Clock, FixedClock};
/// let t = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().to_utc();
/// assert_eq!(FixedClock(t).now(), t);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
