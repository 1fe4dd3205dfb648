//! Emails, passwords and secret tokens.

use std::fmt;
use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Minimum password length (characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Maximum password length (characters), to bound hashing work.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Why an email was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an email address like name@example.com")]
pub struct EmailError(pub String);

/// A normalised (trimmed, lowercased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// The address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let e = s.trim().to_lowercase();
        // The error echoes at most 100 characters of what was sent.
        let err = || {
            let t = s.trim();
            let mut shown: String = t.chars().take(100).collect();
            if t.chars().nth(100).is_some() {
                shown.push('…');
            }
            EmailError(shown)
        };
        let (local, domain) = e.split_once('@').ok_or_else(err)?;
        let ok = !local.is_empty()
            && local.len() <= 64
            && e.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@')
            && e.chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != ',' && c != '<' && c != '>');
        if ok { Ok(Email(e)) } else { Err(err()) }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short.
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    /// Too long.
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters long")]
    TooLong,
}

/// A password chosen at sign-up, checked against the policy. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

impl FromStr for NewPassword {
    type Err = PasswordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = s.chars().count();
        if n < MIN_PASSWORD_CHARS {
            Err(PasswordError::TooShort)
        } else if n > MAX_PASSWORD_CHARS {
            Err(PasswordError::TooLong)
        } else {
            Ok(NewPassword(s.to_owned()))
        }
    }
}

/// Hashing failed, or the hasher is saturated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The system's random source or the hasher failed.
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// Every hashing slot is taken and the queue is full: try again in a moment.
    #[error("too many sign-ins are being checked right now; try again in a few seconds")]
    Busy,
}

/// argon2id hash in PHC string format, with a random salt.
///
/// # Errors
/// [`HashError`] when hashing fails.
pub fn hash_password(password: &NewPassword) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.0.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Whether `candidate` matches a hash from [`hash_password`]. A malformed hash never matches.
#[must_use]
pub fn verify_password(hash: &str, candidate: &str) -> bool {
    if candidate.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok())
}

/// Hashes and verifies passwords. argon2id is deliberately slow (tens of milliseconds of CPU),
/// so a server runs it off its request threads, a bounded number at a time
/// (`infra::BlockingHasher`); [`InlineHasher`] runs it in place (tools and tests).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait::async_trait]
pub trait PasswordHashing: Send + Sync {
    /// argon2id hash of a new password.
    ///
    /// # Errors
    /// [`HashError::Busy`] when saturated, [`HashError::Failed`] when hashing fails.
    async fn hash(&self, password: NewPassword) -> Result<String, HashError>;

    /// Whether `candidate` matches `hash` (a malformed hash never matches).
    ///
    /// # Errors
    /// [`HashError::Busy`] when saturated.
    async fn verify(&self, hash: String, candidate: String) -> Result<bool, HashError>;
}

/// [`PasswordHashing`] on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct InlineHasher;

#[async_trait::async_trait]
impl PasswordHashing for InlineHasher {
    async fn hash(&self, password: NewPassword) -> Result<String, HashError> {
        hash_password(&password)
    }

    async fn verify(&self, hash: String, candidate: String) -> Result<bool, HashError> {
        Ok(verify_password(&hash, &candidate))
    }
}

/// A random secret (session id, API token): 32 random bytes as 64 hex characters.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

impl SecretToken {
    /// A fresh random token (with an optional readable prefix such as `keys_pat_`).
    #[must_use]
    pub fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        SecretToken(format!("{prefix}{}", hex::encode(bytes)))
    }

    /// Wraps a token received from a client (cookie, `Authorization` header).
    #[must_use]
    pub fn from_client(value: &str) -> Self {
        SecretToken(value.trim().to_owned())
    }

    /// The value to hand to the client once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What storage keeps: lowercase hex sha256 of the token.
    #[must_use]
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "Ada.Lovelace+keys@Example.COM", "x_y@sub.domain.org"] {
            assert!(ok.parse::<Email>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@b.co",
            "a@b",
            "a@b..co",
            "a@.b.co",
            "a b@c.co",
            "a@b.co,c@d.co",
            "a@@b.co",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_checked_hashed_and_never_printed() {
        assert_eq!("elevenchars".parse::<NewPassword>(), Err(PasswordError::TooShort));
        assert_eq!("x".repeat(1025).parse::<NewPassword>(), Err(PasswordError::TooLong));
        let p: NewPassword = "twelve chars".parse().unwrap();
        assert_eq!(format!("{p:?}"), "NewPassword(***)");
        let h1 = hash_password(&p).unwrap();
        let h2 = hash_password(&p).unwrap();
        assert!(h1.starts_with("$argon2id$"));
        assert_ne!(h1, h2, "salted");
        assert!(verify_password(&h1, "twelve chars") && verify_password(&h2, "twelve chars"));
        assert!(!verify_password(&h1, "twelve charz"));
        assert!(!verify_password("not a hash", "twelve chars"));
    }

    #[test]
    fn tokens_are_random_and_stored_as_digests() {
        let a = SecretToken::generate("keys_pat_");
        let b = SecretToken::generate("keys_pat_");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("keys_pat_") && a.expose().len() == 9 + 64);
        assert_eq!(a.digest().len(), 64);
        assert_ne!(a.digest(), a.expose());
        assert_eq!(
            SecretToken::from_client(&format!(" {} ", a.expose())).digest(),
            a.digest()
        );
        assert_eq!(format!("{a:?}"), "SecretToken(***)");
    }
}
