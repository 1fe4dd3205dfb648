//! Ports: what the entitlements domain needs from outside. With the `mock` feature mockall
//! generates `MockEntitlementRepository`.

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use crate::{Actor, AuditEntry, Entitlement, Holder, Principal, Scope, Source, Term};

/// A grant to be recorded: everything but the id, which storage assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// Holder.
    pub holder: Holder,
    /// What it covers.
    pub scope: Scope,
    /// Why.
    pub source: Source,
    /// How long.
    pub term: Term,
    /// Who grants it.
    pub actor: Actor,
    /// Cause for the audit trail (an admin's reason, a Stripe event type).
    pub cause: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A caller's credential, by the digest of its secret (secrets themselves are never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A browser session cookie.
    Session(&'a str),
    /// A live personal API token (`Authorization: Bearer …`) of any scope.
    Token(&'a str),
    /// A live personal API token whose scope allows downloads (`download` or `admin`): a
    /// `read` token never gets a download link.
    DownloadToken(&'a str),
}

/// A storage backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entitlement storage failed: {0}")]
pub struct EntitlementStoreError(pub String);

/// Durable entitlements and their audit trail.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EntitlementRepository: Send + Sync {
    /// Every entitlement the principal holds itself or through a current organisation.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn for_principal(&self, principal: &Principal) -> Result<Vec<Entitlement>, EntitlementStoreError>;

    /// The account behind a credential (a live session or a non-revoked API token, by the
    /// digest of its secret) and every entitlement it holds itself or through a *current*
    /// organisation, read together in one round trip — the hot path of gated downloads.
    /// `None` when the credential is unknown, expired or revoked. The principal's
    /// `organisations` lists the memberships that hold at least one entitlement.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn for_credential<'a>(
        &self,
        credential: Credential<'a>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Principal, Vec<Entitlement>)>, EntitlementStoreError>;

    /// One entitlement by id.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn find(&self, id: crate::EntitlementId) -> Result<Option<Entitlement>, EntitlementStoreError>;

    /// Every entitlement of one holder (admin views).
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn for_holder(&self, holder: Holder) -> Result<Vec<Entitlement>, EntitlementStoreError>;

    /// Records a new active entitlement and its `Grant` audit line, atomically, and returns it
    /// with its id.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails; nothing is written then.
    async fn grant(&self, grant: &NewGrant) -> Result<Entitlement, EntitlementStoreError>;

    /// Stores a changed entitlement (revoked, past due, renewed) together with its audit line,
    /// atomically.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails or the entitlement does not exist;
    /// nothing is written then.
    async fn update(&self, entitlement: &Entitlement, audit: &AuditEntry) -> Result<(), EntitlementStoreError>;

    /// The audit trail of one holder, oldest first.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn audit_trail(&self, holder: Holder) -> Result<Vec<AuditEntry>, EntitlementStoreError>;
}

/// The record of downloads (who, what, when).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait DownloadLog: Send + Sync {
    /// Records that `user` downloaded `version` of `slug`.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn record(
        &self,
        user: crate::UserId,
        slug: &str,
        version: &str,
        at: DateTime<Utc>,
    ) -> Result<(), EntitlementStoreError>;
}

/// Told when what an account may access may have changed — one of its sessions, its
/// memberships, its own or one of its organisations' entitlements — by whichever process made
/// the change. Per-instance caches of sessions and holdings implement it; a storage adapter
/// that can push committed changes (Postgres `LISTEN/NOTIFY`) calls it.
///
/// The contract that makes a cache safe: a change committed before a heartbeat was *sent* is
/// told before that heartbeat arrives ([`alive`](AccessChanges::alive)), so a cache may trust
/// its entries for a short, fixed time after the send time of the last heartbeat it received,
/// and must trust nothing after [`lost`](AccessChanges::lost) until the next one.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait AccessChanges: Send + Sync {
    /// A session of `account`, a membership of it, or an entitlement it holds itself or
    /// through an organisation changed (was granted, updated, revoked, deleted).
    fn changed(&self, account: crate::UserId);
    /// A heartbeat sent at `sent` (on this process's monotonic clock) came back: every change
    /// committed before `sent` has been told.
    fn alive(&self, sent: std::time::Instant);
    /// Changes may have been missed (the connection that carries them was lost or stalled).
    fn lost(&self);
}

/// Asks the access feed for a heartbeat now, so a caller can wait until every change it
/// committed has been told to this process's [`AccessChanges`] (read-your-writes on the
/// instance that made the change).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AccessSync: Send + Sync {
    /// Sends a heartbeat and returns its send time: once [`AccessChanges::alive`] is told a
    /// time at or after it, every change committed before this call has been told.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the heartbeat could not be sent.
    async fn sync(&self) -> Result<std::time::Instant, EntitlementStoreError>;
}
