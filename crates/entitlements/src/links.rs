//! Download links: short-lived, signed, bound to one account and one archive.
//!
//! A link names the account, the KEY, the version and its expiry; its signature is an
//! HMAC-SHA256 (a key every instance shares) over those and the archive's sha256, so nothing in
//! it can be changed — not the object, not the owner, not the time. [`DownloadLinks::issue`]
//! signs one for an entitled principal; [`DownloadLinks::admit`] checks a presented link again
//! at use: the signature, the expiry, that the caller is the link's account, and that they are
//! still entitled *now* (a revoked entitlement is refused even before expiry).

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Entitlement, KeyRef, Principal, UserId, can_access};

type HmacSha256 = Hmac<Sha256>;

/// One archive of one KEY version: what a link is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRef<'a> {
    /// The KEY (slug and tier).
    pub key: KeyRef,
    /// The version (`MAJOR.MINOR.PATCH`).
    pub version: &'a str,
    /// The archive's sha256 (hex).
    pub sha256: &'a str,
}

/// A signed link: the path to hand out and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    /// `/dl/{account}/{slug}/{version}/{expires}/{signature}`.
    pub path: String,
    /// Its expiry.
    pub expires_at: DateTime<Utc>,
}

/// The parts of a presented link (from its path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedLink<'a> {
    /// The account it was issued to.
    pub account: i64,
    /// Its expiry (Unix seconds).
    pub expires: i64,
    /// Its signature (hex).
    pub signature: &'a str,
}

/// Why a link is not issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The principal is not entitled to the KEY.
    #[error("you do not own this KEY")]
    NotEntitled,
    /// What gave access is suspended while a dispute of its payment is open.
    #[error(
        "access to this KEY is suspended while the payment for it is under dispute (a chargeback); it returns if the dispute is won"
    )]
    UnderDispute,
}

/// Why a presented link is refused (each message completes "This download link cannot be
/// used: …").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefused {
    /// The signature does not match (tampered, another archive, another key).
    #[error("it is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("it has expired")]
    Expired,
    /// Nobody is signed in.
    #[error("sign in (or send your API token) as the account it was issued to")]
    NotSignedIn,
    /// Someone else is signed in.
    #[error("it was issued to another account")]
    OtherAccount,
    /// The entitlement has ended since the link was issued.
    #[error("you no longer have access to this KEY")]
    NoLongerEntitled,
    /// The entitlement is suspended: its payment is under dispute.
    #[error("access to this KEY is suspended while the payment for it is under dispute")]
    UnderDispute,
}

/// Signs and checks download links.
#[derive(Clone)]
pub struct DownloadLinks {
    key: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for DownloadLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadLinks")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl DownloadLinks {
    /// Links signed with `key`, valid for `ttl`.
    #[must_use]
    pub fn new(key: Vec<u8>, ttl: std::time::Duration) -> Self {
        let ttl = Duration::from_std(ttl).unwrap_or(Duration::minutes(5));
        DownloadLinks { key, ttl }
    }

    /// How long a link stays valid.
    #[must_use]
    pub fn ttl(&self) -> std::time::Duration {
        self.ttl.to_std().unwrap_or(std::time::Duration::from_secs(300))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }

    fn message(account: i64, archive: &ArchiveRef<'_>, expires: i64) -> String {
        format!(
            "keys-dl-v1|{account}|{}|{}|{}|{expires}",
            archive.key.slug, archive.version, archive.sha256
        )
    }

    fn signature(&self, msg: &str) -> String {
        let mut mac = self.mac();
        mac.update(msg.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A link to `archive` for `principal`, valid from `now` for the configured time.
    ///
    /// # Errors
    /// [`IssueError::NotEntitled`] when neither the principal nor one of their organisations
    /// holds an entitlement in force covering the KEY.
    pub fn issue(
        &self,
        principal: &Principal,
        entitlements: &[Entitlement],
        archive: &ArchiveRef<'_>,
        now: DateTime<Utc>,
    ) -> Result<SignedLink, IssueError> {
        if can_access(principal, entitlements, &archive.key, now).is_none() {
            return Err(if under_dispute(principal, entitlements, &archive.key) {
                IssueError::UnderDispute
            } else {
                IssueError::NotEntitled
            });
        }
        let account = principal.user.0;
        let expires_at = now + self.ttl;
        let expires = expires_at.timestamp();
        let sig = self.signature(&Self::message(account, archive, expires));
        Ok(SignedLink {
            path: format!("/dl/{account}/{}/{}/{expires}/{sig}", archive.key.slug, archive.version),
            expires_at,
        })
    }

    /// Checks a presented link for `archive` (the one its path names) against the caller and
    /// their entitlements now; `Ok` is the account to record the download under.
    ///
    /// # Errors
    /// A [`LinkRefused`] saying why, in this order: invalid signature, expired, nobody signed
    /// in, another account, no longer entitled.
    pub fn admit(
        &self,
        link: &PresentedLink<'_>,
        archive: &ArchiveRef<'_>,
        caller: Option<(&Principal, &[Entitlement])>,
        now: DateTime<Utc>,
    ) -> Result<UserId, LinkRefused> {
        let Ok(sig) = hex::decode(link.signature) else {
            return Err(LinkRefused::Invalid);
        };
        let mut mac = self.mac();
        mac.update(Self::message(link.account, archive, link.expires).as_bytes());
        if mac.verify_slice(&sig).is_err() {
            return Err(LinkRefused::Invalid);
        }
        if now.timestamp() > link.expires {
            return Err(LinkRefused::Expired);
        }
        let Some((principal, entitlements)) = caller else {
            return Err(LinkRefused::NotSignedIn);
        };
        if principal.user.0 != link.account {
            return Err(LinkRefused::OtherAccount);
        }
        if can_access(principal, entitlements, &archive.key, now).is_none() {
            return Err(if under_dispute(principal, entitlements, &archive.key) {
                LinkRefused::UnderDispute
            } else {
                LinkRefused::NoLongerEntitled
            });
        }
        Ok(principal.user)
    }
}

/// Whether the principal's access to `key` is only suspended: an entitlement covering it is
/// held under an open dispute.
fn under_dispute(principal: &Principal, entitlements: &[Entitlement], key: &crate::KeyRef) -> bool {
    entitlements.iter().any(|e| {
        principal.acts_for(e.holder) && e.scope.covers(key) && matches!(e.status, crate::Status::Disputed { .. })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, EntitlementId, Holder, RevokeReason, Scope, Source, Term};
    use catalog::Tier;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    }

    fn key(slug: &str) -> KeyRef {
        KeyRef {
            slug: slug.parse().unwrap(),
            tier: Tier::Starter,
        }
    }

    fn archive<'a>(slug: &str, version: &'a str, sha: &'a str) -> ArchiveRef<'a> {
        ArchiveRef {
            key: key(slug),
            version,
            sha256: sha,
        }
    }

    fn owner(user: i64) -> (Principal, Vec<Entitlement>) {
        let grant = Entitlement::grant(
            EntitlementId(1),
            Holder::User(UserId(user)),
            Scope::Key("key-kit".parse().unwrap()),
            Source::Purchase,
            Term::Perpetual,
            now(),
        );
        (
            Principal {
                user: UserId(user),
                organisations: vec![],
            },
            vec![grant],
        )
    }

    fn links() -> DownloadLinks {
        DownloadLinks::new(b"secret".to_vec(), std::time::Duration::from_secs(300))
    }

    fn presented(path: &str) -> (i64, i64, String) {
        let parts: Vec<&str> = path.trim_start_matches("/dl/").split('/').collect();
        (
            parts[0].parse().unwrap(),
            parts[3].parse().unwrap(),
            parts[4].to_owned(),
        )
    }

    #[test]
    fn only_the_entitled_get_a_link_and_it_opens_for_them_until_it_expires() {
        let (p, list) = owner(1);
        let a = archive("key-kit", "1.0.0", "aa");
        assert_eq!(
            links().issue(
                &Principal {
                    user: UserId(2),
                    organisations: vec![]
                },
                &[],
                &a,
                now()
            ),
            Err(IssueError::NotEntitled)
        );
        let link = links().issue(&p, &list, &a, now()).unwrap();
        assert_eq!(link.expires_at, now() + Duration::seconds(300));
        let (account, expires, sig) = presented(&link.path);
        let shown = PresentedLink {
            account,
            expires,
            signature: &sig,
        };
        assert_eq!(links().admit(&shown, &a, Some((&p, &list)), now()), Ok(UserId(1)));
        assert_eq!(
            links().admit(&shown, &a, Some((&p, &list)), now() + Duration::seconds(301)),
            Err(LinkRefused::Expired)
        );
        assert_eq!(links().admit(&shown, &a, None, now()), Err(LinkRefused::NotSignedIn));
        let (other, other_list) = owner(2);
        assert_eq!(
            links().admit(&shown, &a, Some((&other, &other_list)), now()),
            Err(LinkRefused::OtherAccount)
        );
        let mut revoked = list.clone();
        revoked[0]
            .revoke(
                RevokeReason::Refund,
                Actor::Stripe {
                    event_id: "evt_1".into(),
                },
                "refund",
                now(),
            )
            .unwrap();
        assert_eq!(
            links().admit(&shown, &a, Some((&p, &revoked)), now()),
            Err(LinkRefused::NoLongerEntitled)
        );
    }

    #[test]
    fn the_signature_covers_every_field_and_the_key() {
        let (p, list) = owner(1);
        let a = archive("key-kit", "1.0.0", "aa");
        let link = links().issue(&p, &list, &a, now()).unwrap();
        let (account, expires, sig) = presented(&link.path);
        let ok = PresentedLink {
            account,
            expires,
            signature: &sig,
        };
        let changed = [
            (
                PresentedLink {
                    account: 2,
                    ..ok.clone()
                },
                a.clone(),
            ),
            (
                PresentedLink {
                    expires: expires + 1,
                    ..ok.clone()
                },
                a.clone(),
            ),
            (ok.clone(), archive("key-kat", "1.0.0", "aa")),
            (ok.clone(), archive("key-kit", "1.0.1", "aa")),
            (ok.clone(), archive("key-kit", "1.0.0", "bb")),
            (
                PresentedLink {
                    signature: "zz",
                    ..ok.clone()
                },
                a.clone(),
            ),
        ];
        for (shown, archive) in changed {
            assert_eq!(
                links().admit(&shown, &archive, Some((&p, &list)), now()),
                Err(LinkRefused::Invalid),
                "{shown:?} {archive:?}"
            );
        }
        let other_key = DownloadLinks::new(b"other".to_vec(), std::time::Duration::from_secs(300));
        assert_eq!(
            other_key.admit(&ok, &a, Some((&p, &list)), now()),
            Err(LinkRefused::Invalid)
        );
    }
}
