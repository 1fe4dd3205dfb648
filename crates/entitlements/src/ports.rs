//! Ports: what the entitlements domain needs from outside. With the `mock` feature mockall
//! generates `MockEntitlementRepository`.

use async_trait::async_trait;

use crate::{AuditEntry, Entitlement, Holder, Principal};

/// A storage backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entitlement storage failed: {0}")]
pub struct EntitlementStoreError(pub String);

/// Durable entitlements and their audit trail.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EntitlementRepository: Send + Sync {
    /// Every entitlement the principal holds itself or through a current organisation.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn for_principal(&self, principal: &Principal) -> Result<Vec<Entitlement>, EntitlementStoreError>;

    /// Every entitlement of one holder (admin views).
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn for_holder(&self, holder: Holder) -> Result<Vec<Entitlement>, EntitlementStoreError>;

    /// Stores a new or changed entitlement together with its audit line, atomically.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails; nothing is written then.
    async fn save(&self, entitlement: &Entitlement, audit: &AuditEntry) -> Result<(), EntitlementStoreError>;

    /// The audit trail of one holder, oldest first.
    ///
    /// # Errors
    /// [`EntitlementStoreError`] when the backend fails.
    async fn audit_trail(&self, holder: Holder) -> Result<Vec<AuditEntry>, EntitlementStoreError>;
}
