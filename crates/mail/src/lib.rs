//! # mail — what the shop writes to its buyers, and how it gets there
//!
//! A fact worth a message (a payment fulfilled, a renewal failed, access ended, a password
//! reset asked for) is recorded as a [`Notice`] in the **outbox**, in the same database
//! transaction as the fact itself: if the fact commits, the notice does; if it rolls back,
//! nobody is told something that did not happen. Each notice has a dedupe key, so the same
//! fact is never queued twice (an event delivered five times mails once).
//!
//! The [`deliver::Delivery`] service then claims due notices with a lease (two workers never
//! hold the same one), turns each into a [`compose::Letter`] through the [`ports::Facts`] port
//! (who, what product, which amounts — read at sending time), writes it with
//! [`compose::compose`] (plain text and simple HTML, product names never SKU codes) and hands it
//! to a [`ports::Transport`] (SMTP, or `.eml` files in the embedded default). A failure is
//! retried with exponential backoff ([`backoff`]) and parked `dead` after
//! [`deliver::MAX_ATTEMPTS`].
//!
//! Delivery is at least once: a worker killed after the SMTP server took a message but before
//! it was marked sent sends it again when the lease runs out — SMTP offers nothing better.
//!
//! ```
//! use mail::compose::{Letter, Site, compose};
//! let site = Site::new("Acme Tools Ltd", "help@acme.example", "https://shop.example");
//! let m = compose(
//!     &Letter::PasswordReset { link: "https://shop.example/reset/rst_abc".into(), minutes: 60 },
//!     &site,
//! );
//! assert_eq!(m.subject, "Reset your KEYS password");
//! assert!(m.text.contains("https://shop.example/reset/rst_abc"));
//! assert!(m.html.contains("href=\"https://shop.example/reset/rst_abc\""));
//! ```

pub mod compose;
pub mod deliver;
pub mod ports;

use std::fmt;
use std::str::FromStr;

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// Confirm the address given at sign-up.
    VerifyEmail,
    /// A single-use link to choose a new password.
    PasswordReset,
    /// A payment was fulfilled (a purchase, an upgrade, a renewal).
    Receipt,
    /// A renewal payment failed: access lasts until the grace period ends.
    PaymentFailed,
    /// Access ended (a refund, a lost dispute, a subscription that ended).
    AccessEnded,
    /// An invitation to join an organisation.
    Invitation,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: &'static [NoticeKind] = &[
        NoticeKind::VerifyEmail,
        NoticeKind::PasswordReset,
        NoticeKind::Receipt,
        NoticeKind::PaymentFailed,
        NoticeKind::AccessEnded,
        NoticeKind::Invitation,
    ];

    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::VerifyEmail => "verify_email",
            NoticeKind::PasswordReset => "password_reset",
            NoticeKind::Receipt => "receipt",
            NoticeKind::PaymentFailed => "payment_failed",
            NoticeKind::AccessEnded => "access_ended",
            NoticeKind::Invitation => "invitation",
        }
    }

    /// Whether the notice carries a secret (a single-use link) that is erased once sent.
    #[must_use]
    pub fn carries_secret(self) -> bool {
        matches!(
            self,
            NoticeKind::VerifyEmail | NoticeKind::PasswordReset | NoticeKind::Invitation
        )
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind that is not one of [`NoticeKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a notice kind")]
pub struct UnknownKind(pub String);

impl FromStr for NoticeKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoticeKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// A fact worth a message, as the outbox keeps it. Who and what are references (an account,
/// an order) read again when the message is written, so it says what is true when it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What it is about.
    pub kind: NoticeKind,
    /// The account to write to (its current email), when the recipient has an account.
    pub account: Option<i64>,
    /// The address to write to, when there is no account (an invitation) or the address is the
    /// point (a reset asked for by email).
    pub to: Option<String>,
    /// The order it is about (receipts, payment failures, access ended).
    pub order: Option<i64>,
    /// A short fact the message needs: the end of the grace period, why access ended, the
    /// period a renewal paid for.
    pub detail: String,
    /// The single-use token of a link (reset, verification, invitation); erased once sent.
    pub secret: Option<String>,
    /// The same fact is queued once: `receipt:order:12`, `access-ended:refund:order:12`.
    pub dedupe: String,
}

impl Notice {
    /// A notice about order `order` for account `account`.
    #[must_use]
    pub fn about_order(
        kind: NoticeKind,
        account: i64,
        order: i64,
        detail: impl Into<String>,
        dedupe: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            account: Some(account),
            to: None,
            order: Some(order),
            detail: detail.into(),
            secret: None,
            dedupe: dedupe.into(),
        }
    }
}

/// How long to wait before attempt `attempts + 1` after `attempts` failures: 30 s, doubling,
/// at most one hour.
///
/// ```
/// use chrono::Duration;
/// assert_eq!(mail::backoff(1), Duration::seconds(30));
/// assert_eq!(mail::backoff(3), Duration::seconds(120));
/// assert_eq!(mail::backoff(20), Duration::hours(1));
/// ```
#[must_use]
pub fn backoff(attempts: i32) -> chrono::Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
    let secs = 30i64.saturating_mul(2i64.saturating_pow(exp));
    chrono::Duration::seconds(secs.min(3_600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_secrets_are_marked() {
        for k in NoticeKind::ALL {
            assert_eq!(k.as_str().parse::<NoticeKind>().unwrap(), *k);
        }
        assert!("nope".parse::<NoticeKind>().is_err());
        assert!(NoticeKind::PasswordReset.carries_secret());
        assert!(!NoticeKind::Receipt.carries_secret());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let secs: Vec<i64> = (0..10).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(secs, vec![30, 30, 60, 120, 240, 480, 960, 1_920, 3_600, 3_600]);
    }
}
