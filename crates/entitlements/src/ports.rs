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
