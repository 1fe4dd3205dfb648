//! The searchable catalog snapshot a server answers from.
//!
//! This is the one piece of in-process state, and it is safe with many instances: it is only
//! a copy of the database, reloaded whenever the catalog's revision (bumped by every write)
//! changes. Each instance polls the revision every `catalog.refresh_interval_ms`, so a new
//! ingest is visible everywhere within that interval.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use catalog::{CatalogIndex, CatalogRepository, StorageError};

/// A reloadable [`CatalogIndex`].
pub struct CatalogCache {
    repo: Arc<dyn CatalogRepository>,
    current: RwLock<Arc<CatalogIndex>>,
}

impl std::fmt::Debug for CatalogCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogCache").field("index", &self.snapshot()).finish()
    }
}

impl CatalogCache {
    /// Loads the first snapshot.
    ///
    /// # Errors
    /// [`StorageError`] when the catalog cannot be read.
    pub async fn load(repo: Arc<dyn CatalogRepository>) -> Result<Self, StorageError> {
        let index = Self::build(repo.as_ref()).await?;
        Ok(Self {
            repo,
            current: RwLock::new(Arc::new(index)),
        })
    }

    async fn build(repo: &dyn CatalogRepository) -> Result<CatalogIndex, StorageError> {
        // Read the revision first: a write landing in between only causes one extra reload.
        let revision = repo.revision().await?;
        let keys = repo.list_keys().await?;
        Ok(CatalogIndex::new(keys, revision))
    }

    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Arc<CatalogIndex> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Reloads when the revision moved. Returns whether it reloaded.
    ///
    /// # Errors
    /// [`StorageError`] when the catalog cannot be read (the old snapshot stays).
    pub async fn refresh(&self) -> Result<bool, StorageError> {
        if self.repo.revision().await? == self.snapshot().revision() {
            return Ok(false);
        }
        let index = Arc::new(Self::build(self.repo.as_ref()).await?);
        tracing::info!(
            keys = index.len(),
            revision = index.revision(),
            "catalog snapshot reloaded"
        );
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = index;
        Ok(true)
    }

    /// Polls for changes every `every` until the returned task is aborted.
    pub fn spawn_refresher(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "catalog refresh failed; serving the previous snapshot");
                }
            }
        })
    }
}
