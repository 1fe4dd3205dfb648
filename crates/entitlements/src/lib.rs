//! # entitlements — who may access which KEY
//!
//! An [`Entitlement`] says that a [`Holder`] (a user or an organisation) may access what a
//! [`Scope`] covers (one KEY, a bundle's KEYS, or every KEY at or below a plan's tier, including
//! KEYS added later), because of a [`Source`] (purchase, bundle purchase, subscription, manual
//! grant, free upgrade), for a [`Term`] (perpetual, or until a period end plus a grace period),
//! in a [`Status`] (active, past due within grace, revoked with a reason).
//!
//! The rules:
//! * perpetual grants are revoked only by a refund, a chargeback or support;
//! * subscription grants end when the subscription ends;
//! * a past-due subscription keeps access until its grace period runs out;
//! * renewals only move a period end forward, so events applied in any order agree;
//! * [`can_access`] answers from the principal's own entitlements and those of every
//!   organisation they currently belong to; time is always passed in (from a clock port).
//!
//! Every change produces an [`AuditEntry`] naming the actor and the cause.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use entitlements::*;
//! let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
//! let key = KeyRef { slug: "pg-failover".parse().unwrap(), tier: catalog::Tier::Scale };
//! let grant = Entitlement::grant(
//!     EntitlementId(1),
//!     Holder::Organisation(OrgId(7)),
//!     Scope::Key(key.slug.clone()),
//!     Source::ManualGrant,
//!     Term::Perpetual,
//!     now,
//! );
//! let member = Principal { user: UserId(3), organisations: vec![OrgId(7)] };
//! assert!(can_access(&member, &[grant.clone()], &key, now).is_some());
//! let outsider = Principal { user: UserId(4), organisations: vec![] };
//! assert!(can_access(&outsider, &[grant], &key, now + Duration::days(1)).is_none());
//! ```

mod coverage;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod links;
mod model;
pub mod ports;

pub use coverage::{ByKey, Coverage};
pub use links::{ArchiveRef, DownloadLinks, IssueError, LinkRefused, PresentedLink, SignedLink};
pub use model::*;
