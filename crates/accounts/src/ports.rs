//! Ports: account, session and throttle storage. With the `mock` feature mockall generates
//! `MockAccountRepository`, `MockSessionRepository` and `MockThrottleRepository`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Email;

/// An account id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub i64);

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Normalised email.
    pub email: Email,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

/// An account with its password hash (only storage and the service see this).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredAccount {
    /// The account.
    pub account: Account,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl std::fmt::Debug for StoredAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAccount")
            .field("account", &self.account)
            .field("password_hash", &"***")
            .finish()
    }
}

/// A storage backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account storage failed: {0}")]
pub struct AccountStoreError(pub String);

/// Why an account could not be created. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateAccountError {
    /// An account with this email exists (a unique constraint, not a prior read).
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The backend failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// A server-side session. The cookie holds the token; storage holds its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// sha256 of the session token.
    pub token_digest: String,
    /// Whose session.
    pub account: AccountId,
    /// Token that state-changing form posts must echo (synchroniser token).
    pub csrf_token: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
}

/// Accounts.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Creates an account.
    ///
    /// # Errors
    /// [`CreateAccountError::EmailTaken`] or [`CreateAccountError::Store`].
    async fn create(
        &self,
        email: &Email,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Account, CreateAccountError>;

    /// Finds an account by normalised email.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn find_by_email(&self, email: &Email) -> Result<Option<StoredAccount>, AccountStoreError>;

    /// Finds an account by id.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn find_by_id(&self, id: AccountId) -> Result<Option<Account>, AccountStoreError>;
}

/// Sessions, shared by every server instance.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores a new session.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn create(&self, session: &Session) -> Result<(), AccountStoreError>;

    /// The live (not expired, not revoked) session with this token digest.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn find(&self, token_digest: &str, now: DateTime<Utc>) -> Result<Option<Session>, AccountStoreError>;

    /// Ends a session (no-op when unknown).
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn revoke(&self, token_digest: &str, at: DateTime<Utc>) -> Result<(), AccountStoreError>;
}

/// Failed sign-in attempts, shared by every server instance.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ThrottleRepository: Send + Sync {
    /// Records a failure for a key (`account:<email>`, `address:<ip>`).
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn record_failure(&self, key: &str, at: DateTime<Utc>) -> Result<(), AccountStoreError>;

    /// Failures of a key since an instant.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn failures_since(&self, key: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, AccountStoreError>;

    /// Forgets a key's failures (after a successful sign-in).
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn clear(&self, key: &str) -> Result<(), AccountStoreError>;
}

/// A personal API token as listed to its owner (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Id.
    pub id: i64,
    /// Owner.
    pub account: AccountId,
    /// The owner's label.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Personal API tokens, stored by digest.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Stores a new token's digest.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn create(
        &self,
        account: AccountId,
        name: &str,
        digest: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, AccountStoreError>;

    /// The owner's live tokens.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn list(&self, account: AccountId) -> Result<Vec<ApiToken>, AccountStoreError>;

    /// Revokes one of the owner's tokens; `false` when there is no such live token of theirs.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn revoke(&self, account: AccountId, id: i64, at: DateTime<Utc>) -> Result<bool, AccountStoreError>;

    /// The owner of a live token with this digest.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn owner(&self, digest: &str) -> Result<Option<AccountId>, AccountStoreError>;
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Id.
    pub id: crate::OrgId,
    /// Name.
    pub name: String,
}

/// Organisations, memberships and invites.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait OrgRepository: Send + Sync {
    /// Creates an organisation with `owner` as its owner, atomically.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn create(&self, name: &str, owner: AccountId, at: DateTime<Utc>) -> Result<Organisation, AccountStoreError>;

    /// The organisations an account belongs to *now*, with its role.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn memberships_of(
        &self,
        account: AccountId,
    ) -> Result<Vec<(Organisation, crate::OrgRole)>, AccountStoreError>;

    /// The members of an organisation.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn members(&self, org: crate::OrgId) -> Result<Vec<crate::Membership>, AccountStoreError>;

    /// Removes a membership; `false` when there was none.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn remove(&self, org: crate::OrgId, account: AccountId) -> Result<bool, AccountStoreError>;

    /// Stores an invite (by token digest).
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn create_invite(
        &self,
        digest: &str,
        org: crate::OrgId,
        role: crate::OrgRole,
        by: AccountId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError>;

    /// Uses an invite once: when it exists, is unused and unexpired, marks it used and adds
    /// `account` with its role, atomically. Returns the membership, or `None`.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn accept_invite(
        &self,
        digest: &str,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::Membership>, AccountStoreError>;
}
