//! Sign up, sign in, sign out, authenticate.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::ports::{
    Account, AccountId, AccountRepository, AccountStoreError, CreateAccountError, Session, SessionRepository,
    ThrottleRepository,
};
use crate::{
    Email, EmailError, HashError, NewPassword, PasswordError, SecretToken, ThrottleDecision, ThrottlePolicy,
    hash_password, verify_password,
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
    /// Hashing failed.
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
    /// Too many failures for this account or address.
    #[error("too many failed sign-ins; try again after {until}")]
    Throttled {
        /// When attempts are allowed again.
        until: DateTime<Utc>,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// Session lifetime and throttling policies.
#[derive(Debug, Clone, Copy)]
pub struct AccountPolicy {
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Failures per account.
    pub per_account: ThrottlePolicy,
    /// Failures per client address.
    pub per_address: ThrottlePolicy,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        Self {
            session_ttl: Duration::days(30),
            per_account: ThrottlePolicy::default(),
            per_address: ThrottlePolicy {
                max_failures: 20,
                window: Duration::minutes(15),
                lockout: Duration::minutes(15),
            },
        }
    }
}

/// The account use cases over their ports.
#[derive(Clone)]
pub struct AccountService {
    accounts: Arc<dyn AccountRepository>,
    sessions: Arc<dyn SessionRepository>,
    throttle: Arc<dyn ThrottleRepository>,
    policy: AccountPolicy,
    /// A real hash of a random password, verified against when the email is unknown so that
    /// both failures cost the same time.
    decoy_hash: String,
}

impl std::fmt::Debug for AccountService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountService").field("policy", &self.policy).finish()
    }
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
        policy: AccountPolicy,
    ) -> Result<Self, HashError> {
        let decoy: NewPassword = SecretToken::generate("")
            .expose()
            .parse()
            .map_err(|e: PasswordError| HashError(e.to_string()))?;
        Ok(Self {
            accounts,
            sessions,
            throttle,
            policy,
            decoy_hash: hash_password(&decoy)?,
        })
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

    /// Creates an account and signs it in.
    ///
    /// # Errors
    /// [`SignUpError`] naming what is wrong; nothing is written then.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<(Account, NewSession), SignUpError> {
        let email: Email = email.parse()?;
        let password: NewPassword = password.parse()?;
        let hash = hash_password(&password)?;
        let account = self.accounts.create(&email, &hash, now).await.map_err(|e| match e {
            CreateAccountError::EmailTaken => SignUpError::EmailTaken,
            CreateAccountError::Store(s) => SignUpError::Store(s),
        })?;
        let session = self.open_session(account.id, now).await?;
        Ok((account, session))
    }

    /// Signs in from a client `address`; a new session id every time.
    ///
    /// # Errors
    /// [`SignInError::InvalidCredentials`] for an unknown email and for a wrong password alike,
    /// [`SignInError::Throttled`] after too many failures for the account or the address.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<NewSession, SignInError> {
        let email_key = format!("account:{}", email.trim().to_lowercase());
        let address_key = format!("address:{address}");
        for (key, policy) in [
            (&email_key, self.policy.per_account),
            (&address_key, self.policy.per_address),
        ] {
            let failures = self.throttle.failures_since(key, now - policy.window).await?;
            if let ThrottleDecision::LockedUntil(until) = policy.decide(&failures, now) {
                return Err(SignInError::Throttled { until });
            }
        }
        let stored = match email.parse::<Email>() {
            Ok(e) => self.accounts.find_by_email(&e).await?,
            Err(_) => None,
        };
        let ok = match &stored {
            Some(s) => verify_password(&s.password_hash, password),
            None => {
                let _ = verify_password(&self.decoy_hash, password);
                false
            }
        };
        let Some(stored) = stored.filter(|_| ok) else {
            self.throttle.record_failure(&email_key, now).await?;
            self.throttle.record_failure(&address_key, now).await?;
            return Err(SignInError::InvalidCredentials);
        };
        self.throttle.clear(&email_key).await?;
        Ok(self.open_session(stored.account.id, now).await?)
    }

    /// Ends the session behind a token.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn sign_out(&self, token: &SecretToken, now: DateTime<Utc>) -> Result<(), AccountStoreError> {
        self.sessions.revoke(&token.digest(), now).await
    }

    /// The account with this email, if any (admin look-ups).
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, AccountStoreError> {
        Ok(self.accounts.find_by_email(email).await?.map(|s| s.account))
    }

    /// The email of an account.
    ///
    /// # Errors
    /// [`AccountStoreError`] when storage fails.
    pub async fn email_of(&self, id: AccountId) -> Result<Option<Email>, AccountStoreError> {
        Ok(self.accounts.find_by_id(id).await?.map(|a| a.email))
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
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::ports::StoredAccount;

    /// In-memory stand-ins for the three ports.
    #[derive(Default)]
    struct Fake {
        accounts: Mutex<Vec<StoredAccount>>,
        sessions: Mutex<HashMap<String, (Session, bool)>>,
        failures: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
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
    }

    #[async_trait]
    impl ThrottleRepository for Fake {
        async fn record_failure(&self, key: &str, at: DateTime<Utc>) -> Result<(), AccountStoreError> {
            self.failures
                .lock()
                .unwrap()
                .entry(key.to_owned())
                .or_default()
                .push(at);
            Ok(())
        }
        async fn failures_since(
            &self,
            key: &str,
            since: DateTime<Utc>,
        ) -> Result<Vec<DateTime<Utc>>, AccountStoreError> {
            Ok(self
                .failures
                .lock()
                .unwrap()
                .get(key)
                .map(|v| v.iter().copied().filter(|t| *t >= since).collect())
                .unwrap_or_default())
        }
        async fn clear(&self, key: &str) -> Result<(), AccountStoreError> {
            self.failures.lock().unwrap().remove(key);
            Ok(())
        }
    }

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn service() -> (AccountService, Arc<Fake>) {
        let fake = Arc::new(Fake::default());
        let s = AccountService::new(fake.clone(), fake.clone(), fake.clone(), AccountPolicy::default()).unwrap();
        (s, fake)
    }

    const PW: &str = "correct horse battery";

    #[test]
    fn sign_up_rules() {
        futures::executor::block_on(async {
            let (s, fake) = service();
            let (account, session) = s.sign_up(" Ada@Example.com", PW, t(0)).await.unwrap();
            assert_eq!(account.email.as_str(), "ada@example.com");
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
                s.sign_up("ada@example.com", PW, t(1)).await.unwrap_err(),
                SignUpError::EmailTaken
            );
            assert!(matches!(
                s.sign_up("not-an-email", PW, t(1)).await,
                Err(SignUpError::Email(_))
            ));
            assert_eq!(
                s.sign_up("b@example.com", "short", t(1)).await.unwrap_err(),
                SignUpError::Password(PasswordError::TooShort)
            );
            assert_eq!(fake.accounts.lock().unwrap().len(), 1, "refused sign-ups write nothing");
        });
    }

    #[test]
    fn sign_in_errors_do_not_say_which_part_was_wrong_and_sessions_rotate() {
        futures::executor::block_on(async {
            let (s, _) = service();
            s.sign_up("ada@example.com", PW, t(0)).await.unwrap();
            let wrong_password = s
                .sign_in("ada@example.com", "wrong password!", "10.0.0.1", t(1))
                .await
                .unwrap_err();
            let unknown_email = s.sign_in("bob@example.com", PW, "10.0.0.1", t(1)).await.unwrap_err();
            assert_eq!(wrong_password, unknown_email);
            assert_eq!(wrong_password.to_string(), "email or password is wrong");
            let a = s.sign_in("ADA@example.com", PW, "10.0.0.1", t(2)).await.unwrap();
            let b = s.sign_in("ada@example.com", PW, "10.0.0.1", t(2)).await.unwrap();
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
    fn throttled_per_account_and_per_address() {
        futures::executor::block_on(async {
            let (s, _) = service();
            s.sign_up("ada@example.com", PW, t(0)).await.unwrap();
            for i in 0..5 {
                let e = s
                    .sign_in("ada@example.com", "wrong password!", &format!("10.0.0.{i}"), t(1))
                    .await
                    .unwrap_err();
                assert_eq!(e, SignInError::InvalidCredentials);
            }
            // Locked even with the right password, from any address.
            assert_eq!(
                s.sign_in("ada@example.com", PW, "10.9.9.9", t(2)).await.unwrap_err(),
                SignInError::Throttled { until: t(16) }
            );
            assert!(
                s.sign_in("ada@example.com", PW, "10.9.9.9", t(16)).await.is_ok(),
                "lock over"
            );

            // One address guessing many accounts.
            for i in 0..20 {
                let _ = s
                    .sign_in(&format!("user{i}@example.com"), "wrong password!", "10.6.6.6", t(20))
                    .await;
            }
            assert!(matches!(
                s.sign_in("ada@example.com", PW, "10.6.6.6", t(21)).await,
                Err(SignInError::Throttled { .. })
            ));
            assert!(
                s.sign_in("ada@example.com", PW, "10.7.7.7", t(21)).await.is_ok(),
                "other addresses unaffected"
            );
        });
    }
}
