//! Ports: durable profiles and signals. With the `mock` feature mockall generates
//! `MockSignalRepository`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use catalog::Slug;
use chrono::{DateTime, Utc};

use crate::{Profile, Signal};

/// What ranking needs to know of a subject, read together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recall {
    /// The saved profile, if any.
    pub profile: Option<Profile>,
    /// The most recent views since the cut-off, newest first, as [`crate::SignalKind::View`]
    /// signals (a KEY viewed twice may appear twice; the rules count its latest view). Shared:
    /// a remembered recall is handed out without copying it.
    pub views: std::sync::Arc<[Signal]>,
}

/// Whose signals: an account, or an anonymous visitor (by the digest of their cookie).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A signed-in account.
    User(i64),
    /// An anonymous visitor.
    Visitor(String),
}

impl Subject {
    /// Stored form: `user:<id>` or `visitor:<digest>`.
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Subject::User(id) => format!("user:{id}"),
            Subject::Visitor(d) => format!("visitor:{d}"),
        }
    }
}

/// A storage backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("discovery storage failed: {0}")]
pub struct SignalStoreError(pub String);

/// Profiles, signals and purchase statistics.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SignalRepository: Send + Sync {
    /// Records a signal.
    ///
    /// # Errors
    /// [`SignalStoreError`].
    async fn record(&self, subject: &Subject, signal: &Signal) -> Result<(), SignalStoreError>;

    /// Records several signals in one write (a batch buffered off the request path). The
    /// default records them one by one.
    ///
    /// # Errors
    /// [`SignalStoreError`]; then none of the batch may have been recorded.
    async fn record_many(&self, batch: &[(Subject, Signal)]) -> Result<(), SignalStoreError> {
        for (subject, signal) in batch {
            self.record(subject, signal).await?;
        }
        Ok(())
    }

    /// A subject's saved profile and recent views ([`Recall`]) in one read: the `limit` most
    /// recent views since `views_since`, newest first.
    ///
    /// # Errors
    /// [`SignalStoreError`].
    async fn recall(
        &self,
        subject: &Subject,
        views_since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Recall, SignalStoreError>;

    /// Saves a subject's profile.
    ///
    /// # Errors
    /// [`SignalStoreError`].
    async fn save_profile(
        &self,
        subject: &Subject,
        profile: &Profile,
        at: DateTime<Utc>,
    ) -> Result<(), SignalStoreError>;

    /// Moves a visitor's signals (and profile, unless the account has one) to an account, at
    /// sign-in.
    ///
    /// # Errors
    /// [`SignalStoreError`].
    async fn merge(&self, from: &Subject, into: &Subject) -> Result<(), SignalStoreError>;

    /// Deletes every signal and the profile of a subject.
    ///
    /// # Errors
    /// [`SignalStoreError`].
    async fn clear(&self, subject: &Subject) -> Result<(), SignalStoreError>;

    /// Deletes signals older than `before` (retention). Returns how many.
    ///
    /// # Errors
    /// [`SignalStoreError`].
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, SignalStoreError>;

    /// For each KEY not in `owned`, the KEYS in `owned` that other buyers also bought with it,
    /// with how many buyers did.
    ///
    /// # Errors
    /// [`SignalStoreError`].
    async fn co_purchases(&self, owned: &[Slug]) -> Result<BTreeMap<Slug, Vec<(Slug, u32)>>, SignalStoreError>;
}
