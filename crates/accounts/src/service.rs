//! Sign up, sign in, sign out, authenticate, change a password; the operator's admin role.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::ports::{
    Account, AccountId, AccountRepository, AccountStoreError, AdminChange, CreateAccountError, Session,
    SessionRepository, ThrottleRepository,
};
use crate::{
    Attempt, Email, EmailError, HashError, NewPassword, PasswordError, PasswordHashing, SecretToken, ThrottleCheck,
    ThrottlePolicy, hash_password,
};

/// A session just opened: hand `token` to the client (cookie) and `csrf_token` to forms.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session token (only its digest is stored).
    pub token: SecretToken,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Whose.
    pub account: AccountId,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Why sign-up failed. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUpError {
    /// Bad email.
    #[error(transparent)]
    Email(#[from] EmailError),
    /// Password outside the policy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Email in use.
    #[error("an account with this email already exists; sign in instead")]
    EmailTaken,
    /// Too many sign-ups from this address.
    #[error("too many sign-ups from your address; try again after {until}")]
    Throttled {
        /// When attempts are allowed again.
        until: DateTime<Utc>,
    },
    /// Hashing failed or is saturated ([`HashError::Busy`]).
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// Why sign-in failed. The message never says whether the email or the password was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// Unknown email or wrong password.
    #[error("email or password is wrong")]
    InvalidCredentials,
    /// Guessing is being slowed down for this account or address.
    #[error("too many failed sign-ins; try again after {until}")]
    Throttled {
        /// When attempts are allowed again.
        until: DateTime<Utc>,
    },
    /// Every password check slot is taken; try again in a moment.
    #[error(transparent)]
    Busy(HashError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// Why a password change failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangePasswordError {
    /// The current password is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    /// The new password is outside the policy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Too many wrong current passwords.
    #[error("too many wrong passwords; try again after {until}")]
    Throttled {
        /// When attempts are allowed again.
        until: DateTime<Utc>,
    },
    /// Hashing failed or is saturated.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// The account does not exist any more.
    #[error("no such account")]
    UnknownAccount,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// Why an operator's admin command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminRoleError {
    /// Not an email address.
    #[error(transparent)]
    Email(#[from] EmailError),
    /// No account has this email.
    #[error("no account has the email {0}; the person must sign up first")]
    NoSuchAccount(Email),
    /// The account's email is not confirmed: admin roles need a confirmed address.
    #[error(
        "{0} has not confirmed the email address yet; ask them to open the link mailed at sign-up (or resend it from /account), or confirm it with `keys-server admin verify {0}`"
    )]
    Unconfirmed(Email),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// Session lifetime and throttling policies.
#[derive(Debug, Clone, Copy)]
pub struct AccountPolicy {
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Failed sign-ins of one account from one address: slowed quickly.
    pub per_pair: ThrottlePolicy,
    /// Failed sign-ins of one account from any address: slowed late and capped low, so the
    /// owner is never locked out by someone else's guesses.
    pub per_account: ThrottlePolicy,
    /// Failed sign-ins from one address for any account (credential stuffing).
    pub per_address: ThrottlePolicy,
    /// Sign-ups from one address (every attempt counts).
    pub signups_per_address: ThrottlePolicy,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        Self {
            session_ttl: Duration::days(30),
            per_pair: ThrottlePolicy::default(),
            per_account: ThrottlePolicy {
                free: 10,
                window: Duration::minutes(15),
                base_delay: Duration::seconds(1),
                max_delay: Duration::seconds(30),
            },
            per_address: ThrottlePolicy {
                free: 20,
                window: Duration::minutes(15),
                base_delay: Duration::seconds(1),
                max_delay: Duration::minutes(15),
            },
            signups_per_address: ThrottlePolicy {
                free: 10,
                window: Duration::hours(1),
                base_delay: Duration::minutes(1),
                max_delay: Duration::hours(1),
            },
        }
    }
}

impl AccountPolicy {
    /// How long throttling records matter: the longest window.
    #[must_use]
    pub fn throttle_memory(&self) -> Duration {
        [
            self.per_pair,
            self.per_account,
            self.per_address,
            self.signups_per_address,
        ]
        .iter()
        .map(|p| p.window)
        .max()
        .unwrap_or_else(|| Duration::hours(1))
    }
}

/// The account use cases over their ports.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountRepository>,
    sessions: Arc<dyn SessionRepository>,
    throttle: Arc<dyn ThrottleRepository>,
    hasher: Arc<dyn PasswordHashing>,
    policy: AccountPolicy,
    /// A real hash of a random password, verified against when the email is unknown so that
    /// both failures cost the same time.
    decoy_hash: String,
    /// Password reset links (set with [`AccountService::with_password_resets`]).
    resets: Option<Arc<dyn crate::ports::PasswordResetRepository>>,
    /// Email confirmation (set with [`AccountService::with_email_verification`]).
    verifications: Option<Arc<dyn crate::ports::EmailVerificationRepository>>,
}

/// How long an email confirmation link works.
pub const VERIFY_LINK_HOURS: i64 = 48;

/// Why confirming an email failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificationError {
    /// This server was built without a confirmation store.
    #[error("email confirmation is not available on this server")]
    NotConfigured,
    /// The link is unknown, used or expired.
    #[error("this confirmation link is invalid, already used or expired; ask for a new one on your account page")]
    InvalidLink,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// How long a password reset link works.
pub const RESET_LINK_MINUTES: i64 = 60;

/// Why a password reset failed. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordResetError {
    /// This server was built without a reset store.
    #[error("password resets are not available on this server")]
    NotConfigured,
    /// The email is not an address.
    #[error(transparent)]
    Email(#[from] EmailError),
    /// The link is unknown, used or expired.
    #[error("this reset link is invalid, already used or expired; ask for a new one")]
    InvalidLink,
    /// The new password is outside the policy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Hashing failed or is saturated.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

impl std::fmt::Debug for AccountService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountService").field("policy", &self.policy).finish()
    }
}

fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl AccountService {
    /// Builds the service.
    ///
    /// # Errors
    /// [`HashError`] when the decoy hash cannot be made.
    pub fn new(
        accounts: Arc<dyn AccountRepository>,
        sessions: Arc<dyn SessionRepository>,
        throttle: Arc<dyn ThrottleRepository>,
        hasher: Arc<dyn PasswordHashing>,
        policy: AccountPolicy,
    ) -> Result<Self, HashError> {
        let decoy: NewPassword = SecretToken::generate("")
            .expose()
            .parse()
            .map_err(|e: PasswordError| HashError::Failed(e.to_string()))?;
        Ok(Self {
            accounts,
            sessions,
            throttle,
            hasher,
            policy,
            decoy_hash: hash_password(&decoy)?,
            resets: None,
            verifications: None,
        })
    }

    /// The same service with email confirmation stored in `verifications`: sign-up mails a
    /// confirmation link, and purchases and the admin role need a confirmed email.
    #[must_use]
    pub fn with_email_verification(
        mut self,
        verifications: Arc<dyn crate::ports::EmailVerificationRepository>,
    ) -> Self {
        self.verifications = Some(verifications);
        self
    }

    /// Mails `account` a confirmation link (valid [`VERIFY_LINK_HOURS`]). `false` when nothing
    /// was sent: already confirmed, or a link went out less than a minute ago.
    ///
    /// # Errors
    /// [`VerificationError::NotConfigured`]; storage errors.
    pub async fn send_verification(&self, account: AccountId, now: DateTime<Utc>) -> Result<bool, VerificationError> {
        let repo = self.verifications.as_ref().ok_or(VerificationError::NotConfigured)?;
        let token = SecretToken::generate("vfy_");
        let digest = token.digest();
        let notice = mail::Notice {
            kind: mail::NoticeKind::VerifyEmail,
            account: Some(account.0),
            to: None,
            order: None,
            detail: String::new(),
            secret: Some(token.expose().to_owned()),
            dedupe: format!("verify-email:{digest}"),
        };
        Ok(repo
            .begin(account, &digest, now + Duration::hours(VERIFY_LINK_HOURS), &notice, now)
            .await?)
    }

    /// Confirms the email of the account behind link `token`.
    ///
    /// # Errors
    /// [`VerificationError::InvalidLink`]; storage errors.
    pub async fn verify_email(&self, token: &str, now: DateTime<Utc>) -> Result<AccountId, VerificationError> {
        let repo = self.verifications.as_ref().ok_or(VerificationError::NotConfigured)?;
        repo.confirm(&SecretToken::from_client(token).digest(), now)
            .await?
            .ok_or(VerificationError::InvalidLink)
    }

    /// Whether `account` has confirmed its email. Without a confirmation store (a server
    /// built without mail) every account counts as confirmed.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn email_confirmed(&self, account: AccountId) -> Result<bool, AccountStoreError> {
        match &self.verifications {
            Some(repo) => repo.is_confirmed(account).await,
            None => Ok(true),
        }
    }

    /// The operator confirms the email of the account with `email` (a buyer whose mail does
    /// not arrive). Answers the account and whether it changed.
    ///
    /// # Errors
    /// [`AdminRoleError`].
    pub async fn confirm_email_by_operator(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(Account, bool), AdminRoleError> {
        let email: Email = email.parse()?;
        let stored = self
            .accounts
            .find_by_email(&email)
            .await?
            .ok_or_else(|| AdminRoleError::NoSuchAccount(email.clone()))?;
        let changed = match &self.verifications {
            Some(repo) => repo.mark_confirmed(stored.account.id, now).await?,
            None => false,
        };
        Ok((stored.account, changed))
    }

    /// The same service with password reset links stored in `resets`.
    #[must_use]
    pub fn with_password_resets(mut self, resets: Arc<dyn crate::ports::PasswordResetRepository>) -> Self {
        self.resets = Some(resets);
        self
    }

    fn resets(&self) -> Result<&Arc<dyn crate::ports::PasswordResetRepository>, PasswordResetError> {
        self.resets.as_ref().ok_or(PasswordResetError::NotConfigured)
    }

    /// Mails a single-use reset link (valid [`RESET_LINK_MINUTES`]) to the account with
    /// `email`. Says nothing about whether such an account exists: an unknown address, or a
    /// second request within a minute, succeeds without sending anything.
    ///
    /// # Errors
    /// [`PasswordResetError::Email`] when `email` is not an address; storage errors.
    pub async fn request_password_reset(&self, email: &str, now: DateTime<Utc>) -> Result<(), PasswordResetError> {
        let email: Email = email.parse()?;
        let token = SecretToken::generate("rst_");
        let digest = token.digest();
        let notice = mail::Notice {
            kind: mail::NoticeKind::PasswordReset,
            account: None,
            to: Some(email.as_str().to_owned()),
            order: None,
            detail: String::new(),
            secret: Some(token.expose().to_owned()),
            dedupe: format!("password-reset:{digest}"),
        };
        self.resets()?
            .begin(
                email.as_str(),
                &digest,
                now + chrono::Duration::minutes(RESET_LINK_MINUTES),
                &notice,
                now,
            )
            .await?;
        Ok(())
    }

    /// Whether reset link `token` can still be used (for the reset page).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn reset_link_usable(&self, token: &str, now: DateTime<Utc>) -> Result<bool, PasswordResetError> {
        Ok(self
            .resets()?
            .usable(&SecretToken::from_client(token).digest(), now)
            .await?)
    }

    /// Sets a new password with reset link `token`: the link is used up, every other link of
    /// the account dies, and every session of the account ends.
    ///
    /// # Errors
    /// [`PasswordResetError::InvalidLink`], [`PasswordResetError::Password`], hashing and
    /// storage errors; nothing changes then.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        now: DateTime<Utc>,
    ) -> Result<AccountId, PasswordResetError> {
        let new: NewPassword = new_password.parse()?;
        let resets = self.resets()?;
        let digest = SecretToken::from_client(token).digest();
        // An invalid link costs no hashing.
        if !resets.usable(&digest, now).await? {
            return Err(PasswordResetError::InvalidLink);
        }
        let hash = self.hasher.hash(new).await?;
        resets
            .finish(&digest, &hash, now)
            .await?
            .ok_or(PasswordResetError::InvalidLink)
    }

    async fn open_session(&self, account: AccountId, now: DateTime<Utc>) -> Result<NewSession, AccountStoreError> {
        let token = SecretToken::generate("");
        let csrf_token = SecretToken::generate("").expose().to_owned();
        let expires_at = now + self.policy.session_ttl;
        self.sessions
            .create(&Session {
                token_digest: token.digest(),
                account,
                csrf_token: csrf_token.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(NewSession {
            token,
            csrf_token,
            account,
            expires_at,
        })
    }

    /// Creates an account and signs it in. Sign-ups are throttled per client `address`.
    ///
    /// # Errors
    /// [`SignUpError`] naming what is wrong; nothing is written then.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(Account, NewSession), SignUpError> {
        let email: Email = email.parse()?;
        let password: NewPassword = password.parse()?;
        let check = ThrottleCheck {
            key: format!("signup:{address}"),
            policy: self.policy.signups_per_address,
        };
        let ticket = match self.throttle.begin_attempt(std::slice::from_ref(&check), now).await? {
            Attempt::Allowed(t) => t,
            Attempt::Throttled { until } => return Err(SignUpError::Throttled { until }),
        };
        let hash = match self.hasher.hash(password).await {
            Ok(h) => h,
            Err(e) => {
                // A sign-up the server could not judge does not count against the address.
                self.throttle.attempt_abandoned(&ticket).await?;
                return Err(e.into());
            }
        };
        let account = self.accounts.create(&email, &hash, now).await.map_err(|e| match e {
            CreateAccountError::EmailTaken => SignUpError::EmailTaken,
            CreateAccountError::Store(s) => SignUpError::Store(s),
        })?;
        let session = self.open_session(account.id, now).await?;
        // The confirmation link. Failing to queue it does not fail the sign-up: the account
        // page offers to send it again.
        if self.verifications.is_some() {
            let _ = self.send_verification(account.id, now).await;
        }
        Ok((account, session))
    }

    fn sign_in_checks(&self, email: &str, address: &str) -> [ThrottleCheck; 3] {
        let email = email_key(email);
        [
            ThrottleCheck {
                key: format!("pair:{email}|{address}"),
                policy: self.policy.per_pair,
            },
            ThrottleCheck {
                key: format!("account:{email}"),
                policy: self.policy.per_account,
            },
            ThrottleCheck {
                key: format!("address:{address}"),
                policy: self.policy.per_address,
            },
        ]
    }

    /// Signs in from a client `address`; a new session id every time.
    ///
    /// Guesses are slowed down (see [`crate::throttle`]): the attempt is recorded against the
    /// (account, address) pair, the account and the address *before* the password is checked,
    /// atomically with the decision, so concurrent guesses are counted one after the other.
    /// A correct password forgets the pair's and the account's failures.
    ///
    /// # Errors
    /// [`SignInError::InvalidCredentials`] for an unknown email and for a wrong password alike,
    /// [`SignInError::Throttled`] while guessing is slowed down, [`SignInError::Busy`] when
    /// every password check slot is taken.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<NewSession, SignInError> {
        let checks = self.sign_in_checks(email, address);
        let ticket = match self.throttle.begin_attempt(&checks, now).await? {
            Attempt::Allowed(t) => t,
            Attempt::Throttled { until } => return Err(SignInError::Throttled { until }),
        };
        let stored = match email.parse::<Email>() {
            Ok(e) => self.accounts.find_by_email(&e).await?,
            Err(_) => None,
        };
        let hash = stored
            .as_ref()
            .map_or_else(|| self.decoy_hash.clone(), |s| s.password_hash.clone());
        let ok = match self.hasher.verify(hash, password.to_owned()).await {
            Ok(ok) => ok && stored.is_some(),
            Err(e) => {
                self.throttle.attempt_abandoned(&ticket).await?;
                return Err(SignInError::Busy(e));
            }
        };
        let Some(stored) = stored.filter(|_| ok) else {
            return Err(SignInError::InvalidCredentials);
        };
        let forget = [checks[0].key.clone(), checks[1].key.clone()];
        self.throttle.attempt_succeeded(&ticket, &forget).await?;
        Ok(self.open_session(stored.account.id, now).await?)
    }

    /// Ends the session behind a token.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn sign_out(&self, token: &SecretToken, now: DateTime<Utc>) -> Result<(), AccountStoreError> {
        self.sessions.revoke(&token.digest(), now).await
    }

    /// Ends every session of the account except `keep` (the caller's own, when given);
    /// returns how many ended.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn sign_out_everywhere(
        &self,
        account: AccountId,
        keep: Option<&SecretToken>,
        now: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        self.sessions
            .revoke_all(account, keep.map(SecretToken::digest), now)
            .await
    }

    /// Changes the password after checking the current one (throttled like sign-in), then
    /// signs out every other session; returns how many ended.
    ///
    /// # Errors
    /// [`ChangePasswordError`]; nothing changes then.
    pub async fn change_password(
        &self,
        account: AccountId,
        current: &str,
        new: &str,
        keep: Option<&SecretToken>,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, ChangePasswordError> {
        let new: NewPassword = new.parse()?;
        let acc = self
            .accounts
            .find_by_id(account)
            .await?
            .ok_or(ChangePasswordError::UnknownAccount)?;
        let stored = self
            .accounts
            .find_by_email(&acc.email)
            .await?
            .ok_or(ChangePasswordError::UnknownAccount)?;
        let checks = self.sign_in_checks(acc.email.as_str(), address);
        let ticket = match self.throttle.begin_attempt(&checks, now).await? {
            Attempt::Allowed(t) => t,
            Attempt::Throttled { until } => return Err(ChangePasswordError::Throttled { until }),
        };
        let ok = match self.hasher.verify(stored.password_hash, current.to_owned()).await {
            Ok(ok) => ok,
            Err(e) => {
                self.throttle.attempt_abandoned(&ticket).await?;
                return Err(e.into());
            }
        };
        if !ok {
            return Err(ChangePasswordError::WrongPassword);
        }
        self.throttle
            .attempt_succeeded(&ticket, &[checks[0].key.clone()])
            .await?;
        let hash = self.hasher.hash(new).await?;
        self.accounts.set_password(account, &hash).await?;
        Ok(self
            .sessions
            .revoke_all(account, keep.map(SecretToken::digest), now)
            .await?)
    }

    /// The account with this email, if any (admin look-ups).
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, AccountStoreError> {
        Ok(self.accounts.find_by_email(email).await?.map(|s| s.account))
    }

    /// An account by id.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn account(&self, id: AccountId) -> Result<Option<Account>, AccountStoreError> {
        self.accounts.find_by_id(id).await
    }

    /// The email of an account.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn email_of(&self, id: AccountId) -> Result<Option<Email>, AccountStoreError> {
        Ok(self.accounts.find_by_id(id).await?.map(|a| a.email))
    }

    /// Whether the account holds the admin role now.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn is_admin(&self, id: AccountId) -> Result<bool, AccountStoreError> {
        Ok(self.accounts.find_by_id(id).await?.is_some_and(|a| a.admin))
    }

    /// The operator grants (`admin = true`) or revokes the admin role of an existing account;
    /// the change and its audit line are written together. `actor` names the operator.
    ///
    /// # Errors
    /// [`AdminRoleError`].
    pub async fn set_admin(
        &self,
        email: &str,
        admin: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<AdminChange, AdminRoleError> {
        let email: Email = email.parse()?;
        if admin {
            if let Some(found) = self.accounts.find_by_email(&email).await? {
                if !self.email_confirmed(found.account.id).await? {
                    return Err(AdminRoleError::Unconfirmed(email));
                }
            }
        }
        match self.accounts.set_admin(&email, admin, actor, now).await? {
            AdminChange::NoSuchAccount => Err(AdminRoleError::NoSuchAccount(email)),
            other => Ok(other),
        }
    }

    /// The accounts holding the admin role.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn admins(&self) -> Result<Vec<Account>, AccountStoreError> {
        self.accounts.admins().await
    }

    /// The live session behind a token, if any.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn authenticate(
        &self,
        token: &SecretToken,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, AccountStoreError> {
        self.sessions.find(&token.digest(), now).await
    }

    /// Housekeeping: deletes sessions that expired or were revoked, and throttling records
    /// older than every policy's window. Returns (sessions, attempts) deleted.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn purge(&self, now: DateTime<Utc>) -> Result<(u64, u64), AccountStoreError> {
        let sessions = self.sessions.purge(now).await?;
        let attempts = self.throttle.purge(now - self.policy.throttle_memory()).await?;
        Ok((sessions, attempts))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::ports::{OperatorAudit, StoredAccount};
    use crate::{AttemptTicket, InlineHasher, decide_all};

    /// In-memory stand-ins for the three ports.
    #[derive(Default)]
    struct Fake {
        accounts: Mutex<Vec<StoredAccount>>,
        sessions: Mutex<HashMap<String, (Session, bool)>>,
        attempts: Mutex<Vec<(i64, String, DateTime<Utc>)>>,
    }

    #[async_trait]
    impl AccountRepository for Fake {
        async fn create(&self, email: &Email, hash: &str, at: DateTime<Utc>) -> Result<Account, CreateAccountError> {
            let mut a = self.accounts.lock().unwrap();
            if a.iter().any(|s| s.account.email == *email) {
                return Err(CreateAccountError::EmailTaken);
            }
            let account = Account {
                id: AccountId(a.len() as i64 + 1),
                email: email.clone(),
                created_at: at,
                admin: false,
            };
            a.push(StoredAccount {
                account: account.clone(),
                password_hash: hash.to_owned(),
            });
            Ok(account)
        }
        async fn find_by_email(&self, email: &Email) -> Result<Option<StoredAccount>, AccountStoreError> {
            Ok(self
                .accounts
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.account.email == *email)
                .cloned())
        }
        async fn find_by_id(&self, id: AccountId) -> Result<Option<Account>, AccountStoreError> {
            Ok(self
                .accounts
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.account.id == id)
                .map(|s| s.account.clone()))
        }
        async fn set_admin(
            &self,
            email: &Email,
            admin: bool,
            _actor: &str,
            _at: DateTime<Utc>,
        ) -> Result<AdminChange, AccountStoreError> {
            let mut a = self.accounts.lock().unwrap();
            let Some(s) = a.iter_mut().find(|s| s.account.email == *email) else {
                return Ok(AdminChange::NoSuchAccount);
            };
            if s.account.admin == admin {
                return Ok(AdminChange::Unchanged(s.account.clone()));
            }
            s.account.admin = admin;
            Ok(AdminChange::Changed(s.account.clone()))
        }
        async fn admins(&self) -> Result<Vec<Account>, AccountStoreError> {
            Ok(self
                .accounts
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.account.admin)
                .map(|s| s.account.clone())
                .collect())
        }
        async fn operator_audit(&self) -> Result<Vec<OperatorAudit>, AccountStoreError> {
            Ok(Vec::new())
        }
        async fn set_password(&self, id: AccountId, hash: &str) -> Result<(), AccountStoreError> {
            if let Some(s) = self.accounts.lock().unwrap().iter_mut().find(|s| s.account.id == id) {
                s.password_hash = hash.to_owned();
            }
            Ok(())
        }
    }

    #[async_trait]
    impl SessionRepository for Fake {
        async fn create(&self, s: &Session) -> Result<(), AccountStoreError> {
            self.sessions
                .lock()
                .unwrap()
                .insert(s.token_digest.clone(), (s.clone(), false));
            Ok(())
        }
        async fn find(&self, d: &str, now: DateTime<Utc>) -> Result<Option<Session>, AccountStoreError> {
            Ok(self
                .sessions
                .lock()
                .unwrap()
                .get(d)
                .filter(|(s, revoked)| !revoked && s.expires_at > now)
                .map(|(s, _)| s.clone()))
        }
        async fn revoke(&self, d: &str, _: DateTime<Utc>) -> Result<(), AccountStoreError> {
            if let Some(s) = self.sessions.lock().unwrap().get_mut(d) {
                s.1 = true;
            }
            Ok(())
        }
        async fn revoke_all(
            &self,
            account: AccountId,
            keep: Option<String>,
            _: DateTime<Utc>,
        ) -> Result<u64, AccountStoreError> {
            let mut n = 0;
            for (d, (s, revoked)) in self.sessions.lock().unwrap().iter_mut() {
                if s.account == account && !*revoked && keep.as_deref() != Some(d.as_str()) {
                    *revoked = true;
                    n += 1;
                }
            }
            Ok(n)
        }
        async fn purge(&self, before: DateTime<Utc>) -> Result<u64, AccountStoreError> {
            let mut m = self.sessions.lock().unwrap();
            let n = m.len();
            m.retain(|_, (s, revoked)| !*revoked && s.expires_at > before);
            Ok((n - m.len()) as u64)
        }
    }

    #[async_trait]
    impl ThrottleRepository for Fake {
        async fn begin_attempt(
            &self,
            checks: &[ThrottleCheck],
            now: DateTime<Utc>,
        ) -> Result<Attempt, AccountStoreError> {
            let mut rows = self.attempts.lock().unwrap();
            let per_key: Vec<Vec<DateTime<Utc>>> = checks
                .iter()
                .map(|c| rows.iter().filter(|r| r.1 == c.key).map(|r| r.2).collect())
                .collect();
            let decision = decide_all(checks.iter().zip(per_key.iter().map(Vec::as_slice)), now);
            if let crate::ThrottleDecision::WaitUntil(until) = decision {
                return Ok(Attempt::Throttled { until });
            }
            let mut ids = Vec::new();
            for c in checks {
                let id = rows.len() as i64 + 1;
                rows.push((id, c.key.clone(), now));
                ids.push(id);
            }
            Ok(Attempt::Allowed(AttemptTicket { ids }))
        }
        async fn attempt_succeeded(&self, ticket: &AttemptTicket, forget: &[String]) -> Result<(), AccountStoreError> {
            self.attempts
                .lock()
                .unwrap()
                .retain(|r| !ticket.ids.contains(&r.0) && !forget.contains(&r.1));
            Ok(())
        }
        async fn attempt_abandoned(&self, ticket: &AttemptTicket) -> Result<(), AccountStoreError> {
            self.attempts.lock().unwrap().retain(|r| !ticket.ids.contains(&r.0));
            Ok(())
        }
        async fn purge(&self, before: DateTime<Utc>) -> Result<u64, AccountStoreError> {
            let mut rows = self.attempts.lock().unwrap();
            let n = rows.len();
            rows.retain(|r| r.2 >= before);
            Ok((n - rows.len()) as u64)
        }
    }

    fn t(sec: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::seconds(sec)
    }

    fn service() -> (AccountService, Arc<Fake>) {
        let fake = Arc::new(Fake::default());
        let s = AccountService::new(
            fake.clone(),
            fake.clone(),
            fake.clone(),
            Arc::new(InlineHasher),
            AccountPolicy::default(),
        )
        .unwrap();
        (s, fake)
    }

    const PW: &str = "correct horse battery";
    const IP: &str = "10.0.0.1";

    #[test]
    fn sign_up_rules() {
        futures::executor::block_on(async {
            let (s, fake) = service();
            let (account, session) = s.sign_up(" Ada@Example.com", PW, IP, t(0)).await.unwrap();
            assert_eq!(account.email.as_str(), "ada@example.com");
            assert!(!account.admin, "nobody becomes admin by signing up");
            assert_eq!(session.expires_at, t(0) + Duration::days(30));
            assert_ne!(
                fake.accounts.lock().unwrap()[0].password_hash,
                PW,
                "only the hash is stored"
            );
            assert!(fake.sessions.lock().unwrap().contains_key(&session.token.digest()));
            assert!(
                !fake.sessions.lock().unwrap().contains_key(session.token.expose()),
                "only the digest is stored"
            );
            assert_eq!(
                s.sign_up("ada@example.com", PW, IP, t(1)).await.unwrap_err(),
                SignUpError::EmailTaken
            );
            assert!(matches!(
                s.sign_up("not-an-email", PW, IP, t(1)).await,
                Err(SignUpError::Email(_))
            ));
            assert_eq!(
                s.sign_up("b@example.com", "short", IP, t(1)).await.unwrap_err(),
                SignUpError::Password(PasswordError::TooShort)
            );
            assert_eq!(fake.accounts.lock().unwrap().len(), 1, "refused sign-ups write nothing");
        });
    }

    #[test]
    fn sign_ups_are_throttled_per_address() {
        futures::executor::block_on(async {
            let (s, _) = service();
            for i in 0..10 {
                s.sign_up(&format!("u{i}@example.com"), PW, "10.6.6.6", t(0))
                    .await
                    .unwrap();
            }
            assert!(matches!(
                s.sign_up("u10@example.com", PW, "10.6.6.6", t(1)).await,
                Err(SignUpError::Throttled { .. })
            ));
            assert!(
                s.sign_up("u10@example.com", PW, "10.7.7.7", t(1)).await.is_ok(),
                "other addresses are not slowed"
            );
        });
    }

    #[test]
    fn sign_in_errors_do_not_say_which_part_was_wrong_and_sessions_rotate() {
        futures::executor::block_on(async {
            let (s, _) = service();
            s.sign_up("ada@example.com", PW, IP, t(0)).await.unwrap();
            let wrong_password = s
                .sign_in("ada@example.com", "wrong password!", IP, t(1))
                .await
                .unwrap_err();
            let unknown_email = s.sign_in("bob@example.com", PW, IP, t(1)).await.unwrap_err();
            assert_eq!(wrong_password, unknown_email);
            assert_eq!(wrong_password.to_string(), "email or password is wrong");
            let a = s.sign_in("ADA@example.com", PW, IP, t(2)).await.unwrap();
            let b = s.sign_in("ada@example.com", PW, IP, t(2)).await.unwrap();
            assert_ne!(a.token, b.token, "a new session id at every sign-in");
            assert_ne!(a.csrf_token, b.csrf_token);
            assert!(s.authenticate(&a.token, t(3)).await.unwrap().is_some());
            s.sign_out(&a.token, t(3)).await.unwrap();
            assert!(s.authenticate(&a.token, t(4)).await.unwrap().is_none(), "signed out");
            assert!(
                s.authenticate(&b.token, t(4)).await.unwrap().is_some(),
                "other sessions live on"
            );
            assert!(
                s.authenticate(&b.token, t(0) + Duration::days(31))
                    .await
                    .unwrap()
                    .is_none(),
                "expired"
            );
        });
    }

    #[test]
    fn guesses_are_slowed_but_the_owner_is_not_locked_out() {
        futures::executor::block_on(async {
            let (s, _) = service();
            s.sign_up("ada@example.com", PW, IP, t(0)).await.unwrap();
            // The attacker's address: three free guesses, then 2 s, 4 s, …
            for _ in 0..3 {
                assert_eq!(
                    s.sign_in("ada@example.com", "wrong password!", "10.6.6.6", t(10))
                        .await
                        .unwrap_err(),
                    SignInError::InvalidCredentials
                );
            }
            assert_eq!(
                s.sign_in("ada@example.com", PW, "10.6.6.6", t(10)).await.unwrap_err(),
                SignInError::Throttled { until: t(12) },
                "even the right password waits on the guessing address"
            );
            // The owner from their own address gets in at once.
            assert!(s.sign_in("ada@example.com", PW, IP, t(10)).await.is_ok());

            // Distributed guessing from many addresses slows the account, capped at 30 s.
            for i in 0..40 {
                let _ = s
                    .sign_in("ada@example.com", "wrong password!", &format!("10.1.0.{i}"), t(100))
                    .await;
            }
            match s.sign_in("ada@example.com", PW, IP, t(100)).await {
                Err(SignInError::Throttled { until }) => assert!(until <= t(130), "{until}"),
                other => panic!("expected a short wait, got {other:?}"),
            }
            assert!(
                s.sign_in("ada@example.com", PW, IP, t(131)).await.is_ok(),
                "the owner waits at most the account cap"
            );

            // One address guessing many accounts.
            for i in 0..20 {
                let _ = s
                    .sign_in(&format!("user{i}@example.com"), "wrong password!", "10.9.9.9", t(200))
                    .await;
            }
            assert!(matches!(
                s.sign_in("ada@example.com", PW, "10.9.9.9", t(200)).await,
                Err(SignInError::Throttled { .. })
            ));
        });
    }

    #[test]
    fn password_change_checks_the_current_one_and_ends_other_sessions() {
        futures::executor::block_on(async {
            let (s, _) = service();
            let (account, first) = s.sign_up("ada@example.com", PW, IP, t(0)).await.unwrap();
            let second = s.sign_in("ada@example.com", PW, IP, t(1)).await.unwrap();
            assert_eq!(
                s.change_password(
                    account.id,
                    "wrong password!",
                    "a brand new secret",
                    Some(&first.token),
                    IP,
                    t(2)
                )
                .await
                .unwrap_err(),
                ChangePasswordError::WrongPassword
            );
            assert!(matches!(
                s.change_password(account.id, PW, "short", Some(&first.token), IP, t(2))
                    .await,
                Err(ChangePasswordError::Password(PasswordError::TooShort))
            ));
            let ended = s
                .change_password(account.id, PW, "a brand new secret", Some(&first.token), IP, t(3))
                .await
                .unwrap();
            assert_eq!(ended, 1);
            assert!(
                s.authenticate(&first.token, t(4)).await.unwrap().is_some(),
                "this session stays"
            );
            assert!(
                s.authenticate(&second.token, t(4)).await.unwrap().is_none(),
                "others end"
            );
            assert_eq!(
                s.sign_in("ada@example.com", PW, IP, t(5)).await.unwrap_err(),
                SignInError::InvalidCredentials
            );
            assert!(
                s.sign_in("ada@example.com", "a brand new secret", IP, t(5))
                    .await
                    .is_ok()
            );
            assert_eq!(s.sign_out_everywhere(account.id, None, t(6)).await.unwrap(), 2);
        });
    }

    #[test]
    fn admin_is_a_role_only_the_operator_grants() {
        futures::executor::block_on(async {
            let (s, _) = service();
            let (a, _) = s.sign_up("Admin@Example.com", PW, IP, t(0)).await.unwrap();
            assert!(!s.is_admin(a.id).await.unwrap());
            assert!(matches!(
                s.set_admin("nobody@example.com", true, "op", t(1)).await,
                Err(AdminRoleError::NoSuchAccount(_))
            ));
            assert!(matches!(
                s.set_admin("ADMIN@example.com", true, "op", t(1)).await,
                Ok(AdminChange::Changed(_))
            ));
            assert!(s.is_admin(a.id).await.unwrap());
            assert!(matches!(
                s.set_admin("admin@example.com", true, "op", t(1)).await,
                Ok(AdminChange::Unchanged(_))
            ));
            assert_eq!(s.admins().await.unwrap().len(), 1);
            s.set_admin("admin@example.com", false, "op", t(2)).await.unwrap();
            assert!(!s.is_admin(a.id).await.unwrap());
        });
    }

    #[test]
    fn purge_drops_dead_sessions_and_old_attempts() {
        futures::executor::block_on(async {
            let (s, fake) = service();
            let (_, live) = s.sign_up("ada@example.com", PW, IP, t(0)).await.unwrap();
            let dead = s.sign_in("ada@example.com", PW, IP, t(1)).await.unwrap();
            s.sign_out(&dead.token, t(2)).await.unwrap();
            let _ = s.sign_in("ada@example.com", "wrong password!", IP, t(3)).await;
            let (sessions, attempts) = s.purge(t(0) + Duration::hours(2)).await.unwrap();
            assert_eq!(sessions, 1);
            assert!(attempts >= 1);
            assert!(s.authenticate(&live.token, t(4)).await.unwrap().is_some());
            assert!(fake.attempts.lock().unwrap().is_empty());
        });
    }
}
