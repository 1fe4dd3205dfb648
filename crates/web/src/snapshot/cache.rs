//! The searchable catalog snapshot a server answers from.
//!
//! This is the one piece of in-process state, and it is safe with many instances: it is only
//! a copy of the database, reloaded whenever the catalog's revision (bumped by every write)
//! changes. Each instance polls the revision every `catalog.refresh_interval_ms`, so a new
//! ingest is visible everywhere within that interval.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use catalog::{CatalogIndex, CatalogRepository, Key, StorageError};
use pricing::Offers;

/// Everything the recommendation rules read from the catalog, built once per revision so one
/// request sees one revision: the snapshot's KEYS in slug order and where each sits (a request
/// ranks without copying them, and ties are broken by position instead of by comparing slugs),
/// the weights and the bundles.
#[derive(Debug, Default)]
pub struct Ranking {
    /// The KEYS, in slug order.
    pub keys: Vec<Arc<Key>>,
    /// Slug → position, and each KEY's vocabulary bit sets, kind and tier.
    pub positions: discovery::Positions,
    /// `discovery.toml`, else the defaults.
    pub weights: discovery::Weights,
    /// Each bundle's title and members.
    pub bundles: Vec<(String, Vec<catalog::Slug>)>,
}

impl Ranking {
    /// Indexes a snapshot's KEYS in slug order, with the weights and bundles of its revision.
    #[must_use]
    pub fn new(index: &CatalogIndex, offers: Option<&Offers>, weights: discovery::Weights) -> Self {
        let mut keys: Vec<Arc<Key>> = index.iter().cloned().collect();
        keys.sort_by(|a, b| a.meta.slug.cmp(&b.meta.slug));
        let positions = discovery::Positions::new(&keys);
        let bundles = offers
            .map(|o| o.bundles().iter().map(|b| (b.title.clone(), b.keys.clone())).collect())
            .unwrap_or_default();
        Self {
            keys,
            positions,
            weights,
            bundles,
        }
    }
}

/// A reloadable [`CatalogIndex`] and the [`Offers`] (prices and bundles) that go with it.
pub struct CatalogCache {
    repo: Arc<dyn CatalogRepository>,
    current: RwLock<(Arc<CatalogIndex>, Arc<Option<Offers>>, Arc<Ranking>)>,
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
        let built = Self::build(repo.as_ref()).await?;
        Ok(Self {
            repo,
            current: RwLock::new(built),
        })
    }

    #[allow(clippy::type_complexity)]
    async fn build(
        repo: &dyn CatalogRepository,
    ) -> Result<(Arc<CatalogIndex>, Arc<Option<Offers>>, Arc<Ranking>), StorageError> {
        // Read the revision first: a write landing in between only causes one extra reload.
        let revision = repo.revision().await?;
        let keys = repo.list_keys().await?;
        let documents = repo.documents().await?;
        let tiers = keys.iter().map(|k| (k.meta.slug.clone(), k.meta.tier)).collect();
        let (offers, problems) = pricing::offers_from(&documents, tiers);
        for p in problems {
            tracing::warn!(problem = %p, "stored pricing document skipped");
        }
        if offers.is_none() {
            tracing::warn!("no valid pricing file is stored: nothing is for sale until `keys-ingest` stores one");
        }
        let weights = documents
            .iter()
            .find(|d| d.name == discovery::DISCOVERY_FILE)
            .and_then(|d| match discovery::Weights::parse(&d.body, &d.name) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(problem = %e, "stored discovery weights skipped; using the defaults");
                    None
                }
            })
            .unwrap_or_default();
        let index = Arc::new(CatalogIndex::new(keys, revision));
        let ranking = Arc::new(Ranking::new(&index, offers.as_ref(), weights));
        Ok((index, Arc::new(offers), ranking))
    }

    /// The current snapshot.
    #[must_use]
    pub fn snapshot(&self) -> Arc<CatalogIndex> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).0)
    }

    /// The catalog as the recommendation rules rank it, at the snapshot's revision.
    #[must_use]
    pub fn ranking(&self) -> Arc<Ranking> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).2)
    }

    /// What is for sale, at the snapshot's revision (`None`: no valid pricing file stored).
    #[must_use]
    pub fn offers(&self) -> Arc<Option<Offers>> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).1)
    }

    /// Reloads when the revision moved. Returns whether it reloaded.
    ///
    /// # Errors
    /// [`StorageError`] when the catalog cannot be read (the old snapshot stays).
    pub async fn refresh(&self) -> Result<bool, StorageError> {
        if self.repo.revision().await? == self.snapshot().revision() {
            return Ok(false);
        }
        let built = Self::build(self.repo.as_ref()).await?;
        tracing::info!(
            keys = built.0.len(),
            revision = built.0.revision(),
            bundles = built.1.as_ref().as_ref().map_or(0, |o| o.bundles().len()),
            "catalog snapshot reloaded"
        );
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = built;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranking_is_in_slug_order_whatever_the_names() {
        let key = |slug: &str, name: &str| Key {
            meta: catalog::KeyMetadata {
                slug: slug.parse().unwrap(),
                name: name.into(),
                kind: catalog::Kind::Runbook,
                tier: catalog::Tier::Starter,
                summary: String::new(),
                description: String::new(),
                roles: Vec::new(),
                intents: Vec::new(),
                categories: Vec::new(),
                tags: Vec::new(),
            },
            versions: Vec::new(),
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        // Name order ("kit 12" < "kit 5") differs from slug order.
        let index = CatalogIndex::new(
            vec![key("kit-05", "Kit 5"), key("kit-12", "Kit 12"), key("kit-01", "Zed")],
            1,
        );
        let ranking = Ranking::new(&index, None, discovery::Weights::default());
        let slugs: Vec<&str> = ranking.keys.iter().map(|k| k.meta.slug.as_str()).collect();
        assert_eq!(slugs, ["kit-01", "kit-05", "kit-12"]);
        assert!(ranking.positions.is_slug_ordered());
    }
}
