//! Ports: account, session and throttle storage. With the `mock` feature mockall generates
//! `MockAccountRepository`, `MockSessionRepository` and `MockThrottleRepository`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Email;

// The password-hashing port lives beside the credential rules; it is a port all the same.
#[cfg(any(test, feature = "mock"))]
pub use crate::credentials::MockPasswordHashing;
pub use crate::credentials::PasswordHashing;

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
    /// Holds the admin role. Granted and revoked only by an operator
    /// (`keys-server admin grant|revoke EMAIL`), never by anything an account can do.
    pub admin: bool,
}

/// What an operator's admin grant or revoke did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    /// No account has that email.
    NoSuchAccount,
    /// The account already had (or already lacked) the role.
    Unchanged(Account),
    /// The role was granted or revoked, and the audit line written.
    Changed(Account),
}

/// One line of the operators' audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAudit {
    /// `admin_grant`, `admin_revoke`.
    pub action: String,
    /// The account it concerns (email).
    pub subject: String,
    /// Who ran it (the operator's OS user, or `system`).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
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
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
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

    /// Grants (`admin = true`) or revokes the admin role of the account with this email, and
    /// writes the operator audit line, in one transaction.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails; nothing changes then.
    async fn set_admin(
        &self,
        email: &Email,
        admin: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<AdminChange, AccountStoreError>;

    /// Every account holding the admin role, by email.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn admins(&self) -> Result<Vec<Account>, AccountStoreError>;

    /// The operator audit trail, oldest first.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn operator_audit(&self) -> Result<Vec<OperatorAudit>, AccountStoreError>;

    /// Replaces an account's password hash.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn set_password(&self, id: AccountId, password_hash: &str) -> Result<(), AccountStoreError>;
}

/// Sessions, shared by every server instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
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

    /// Ends every live session of an account except `keep` (a token digest); returns how many
    /// ended.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn revoke_all(
        &self,
        account: AccountId,
        keep: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError>;

    /// Deletes sessions that expired or were revoked before `before`; returns how many.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, AccountStoreError>;
}

/// Attempts that count against throttling keys, shared by every server instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ThrottleRepository: Send + Sync {
    /// Atomically — under a lock per key, so concurrent attempts on several instances are
    /// counted one after the other — reads each key's recent attempts, decides with
    /// [`crate::decide_all`] and, when allowed, records this attempt against every key. A
    /// recorded attempt counts as a failure until [`ThrottleRepository::attempt_succeeded`]
    /// or [`ThrottleRepository::attempt_abandoned`] says otherwise.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails; nothing is recorded then.
    async fn begin_attempt(
        &self,
        checks: &[crate::ThrottleCheck],
        now: DateTime<Utc>,
    ) -> Result<crate::Attempt, AccountStoreError>;

    /// The attempt succeeded: deletes its records and forgets every earlier failure of the
    /// `forget` keys.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn attempt_succeeded(
        &self,
        ticket: &crate::AttemptTicket,
        forget: &[String],
    ) -> Result<(), AccountStoreError>;

    /// The attempt could not be judged (e.g. the hasher was busy): deletes its records.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn attempt_abandoned(&self, ticket: &crate::AttemptTicket) -> Result<(), AccountStoreError>;

    /// Deletes attempts older than `before`; returns how many.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, AccountStoreError>;
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
    /// What it may do.
    pub scope: crate::TokenScope,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// When it stops working (`None`: tokens made before expiry existed).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who a live token speaks for, and what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    /// The account.
    pub account: AccountId,
    /// The token's scope.
    pub scope: crate::TokenScope,
}

/// Personal API tokens, stored by digest.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
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
        scope: crate::TokenScope,
        expires_at: DateTime<Utc>,
        digest: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, AccountStoreError>;

    /// The owner's live (unrevoked, unexpired) tokens.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn list(&self, account: AccountId, now: DateTime<Utc>) -> Result<Vec<ApiToken>, AccountStoreError>;

    /// Revokes one of the owner's tokens; `false` when there is no such live token of theirs.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn revoke(&self, account: AccountId, id: i64, at: DateTime<Utc>) -> Result<bool, AccountStoreError>;

    /// The owner and scope of a live (unrevoked, unexpired) token with this digest.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn owner(&self, digest: &str, now: DateTime<Utc>) -> Result<Option<TokenOwner>, AccountStoreError>;
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Id.
    pub id: crate::OrgId,
    /// Name.
    pub name: String,
}

/// A live invite as its organisation's owners and admins see it (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Public id (`inv_` and 16 hex characters, derived from the token's digest).
    pub id: String,
    /// Organisation.
    pub org: crate::OrgId,
    /// Role it gives.
    pub role: crate::OrgRole,
    /// Who created it.
    pub created_by: AccountId,
    /// When (unknown for invites made before this was recorded).
    pub created_at: Option<DateTime<Utc>>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A member with their email, for the organisation's member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Account.
    pub account: AccountId,
    /// Email.
    pub email: Email,
    /// Role.
    pub role: crate::OrgRole,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}

/// Organisations, memberships and invites.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
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

    /// The members of an organisation with their emails, owners first.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn member_list(&self, org: crate::OrgId) -> Result<Vec<MemberInfo>, AccountStoreError>;

    /// Removes a membership and, in the same transaction, revokes every unused invite the
    /// member created for that organisation; `false` when there was no membership.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn remove(&self, org: crate::OrgId, account: AccountId, at: DateTime<Utc>)
    -> Result<bool, AccountStoreError>;

    /// Stores an invite (by token digest) and, in the same transaction, queues `mail` (the
    /// invitation mailed to the invitee), when given.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    #[allow(clippy::too_many_arguments)]
    async fn create_invite(
        &self,
        digest: &str,
        org: crate::OrgId,
        role: crate::OrgRole,
        by: AccountId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        mail: Option<mail::Notice>,
    ) -> Result<Invite, AccountStoreError>;

    /// The organisation's live invites (unused, unrevoked, unexpired), oldest first.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn invites(&self, org: crate::OrgId, now: DateTime<Utc>) -> Result<Vec<Invite>, AccountStoreError>;

    /// The live invite with this token digest, if any.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn find_invite(&self, digest: &str, now: DateTime<Utc>) -> Result<Option<Invite>, AccountStoreError>;

    /// Revokes a live invite of the organisation by its public id; `false` when there is none.
    ///
    /// # Errors
    /// [`AccountStoreError`] when the backend fails.
    async fn revoke_invite(&self, org: crate::OrgId, id: &str, at: DateTime<Utc>) -> Result<bool, AccountStoreError>;

    /// Uses an invite once: when it exists, is unused, unrevoked and unexpired, and its creator
    /// is still a member of the organisation, marks it used and adds `account` with its role,
    /// atomically. Returns the membership, or `None`. (Whether the creator's role may still
    /// invite that role is the service's rule, checked before.)
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

/// Single-use password reset links, shared by every instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PasswordResetRepository: Send + Sync {
    /// For the account with `email` (normalised): stores the sha256 `digest` of a new reset
    /// token valid until `expires_at` and — in the same transaction — queues `notice` (the mail
    /// with the link) addressed to the account. `None` (nothing stored) when no account has this
    /// email, or when a link was sent to it less than a minute ago.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails; nothing is stored then.
    async fn begin(
        &self,
        email: &str,
        digest: &str,
        expires_at: DateTime<Utc>,
        notice: &mail::Notice,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountId>, AccountStoreError>;

    /// Whether `digest` is a token that can still be used.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    async fn usable(&self, digest: &str, now: DateTime<Utc>) -> Result<bool, AccountStoreError>;

    /// Uses token `digest`: when it is unused and unexpired, in one transaction marks it (and
    /// every other link of the account) used, sets `password_hash` and ends every session of
    /// the account. `None` when the token cannot be used (unknown, used, expired) — nothing
    /// changes then, also when two requests race with the same token.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails; nothing changes then.
    async fn finish(
        &self,
        digest: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountId>, AccountStoreError>;
}

/// Email confirmation: single-use links and the confirmed state, shared by every instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EmailVerificationRepository: Send + Sync {
    /// Stores the sha256 `digest` of a new confirmation token for `account`, valid until
    /// `expires_at`, and — in the same transaction — queues `notice` (the mail with the link).
    /// `false` (nothing stored) when the account is already confirmed, is unknown, or was sent
    /// a link less than a minute ago.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails; nothing is stored then.
    async fn begin(
        &self,
        account: AccountId,
        digest: &str,
        expires_at: DateTime<Utc>,
        notice: &mail::Notice,
        now: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError>;

    /// Uses token `digest`: when it is unused and unexpired, marks it used and the account's
    /// email confirmed, in one transaction. `None` when the token cannot be used.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails; nothing changes then.
    async fn confirm(&self, digest: &str, now: DateTime<Utc>) -> Result<Option<AccountId>, AccountStoreError>;

    /// Whether the account's email is confirmed.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    async fn is_confirmed(&self, account: AccountId) -> Result<bool, AccountStoreError>;

    /// Marks the account's email confirmed without a link (the operator's
    /// `keys-server admin verify EMAIL`, for a buyer whose mail does not arrive). `false` when
    /// it already was.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    async fn mark_confirmed(&self, account: AccountId, now: DateTime<Utc>) -> Result<bool, AccountStoreError>;
}
