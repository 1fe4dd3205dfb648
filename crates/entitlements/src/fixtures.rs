//! Ready-made entitlements for tests and examples (feature `fixtures`): a KEY bought outright,
//! a plan paid until a date — each active from [`catalog::fixtures::now`] unless changed.
//!
//! ```
//! use chrono::Duration;
//! use entitlements::{KeyRef, Principal, UserId, can_access, fixtures};
//! let now = catalog::fixtures::now();
//! let handbook = catalog::fixtures::key("on-call-handbook");
//! let bought = fixtures::key_purchase(1, fixtures::user(3), "on-call-handbook");
//! let buyer = Principal { user: UserId(3), organisations: vec![] };
//! assert!(can_access(&buyer, &[bought], &KeyRef::from(&handbook), now + Duration::days(400)).is_some());
//! ```

use chrono::{DateTime, Utc};

use crate::{Entitlement, EntitlementId, Holder, Scope, Source, Term, UserId};

/// A user holder.
#[must_use]
pub fn user(id: i64) -> Holder {
    Holder::User(UserId(id))
}

/// Entitlement `id`: `holder` bought the KEY `slug` outright (perpetual).
///
/// # Panics
/// When `slug` is not a valid slug (a mistake in the test).
#[must_use]
pub fn key_purchase(id: i64, holder: Holder, slug: &str) -> Entitlement {
    Entitlement::grant(
        EntitlementId(id),
        holder,
        Scope::Key(catalog::fixtures::slug(slug)),
        Source::Purchase,
        Term::Perpetual,
        catalog::fixtures::now(),
    )
}

/// Entitlement `id`: `holder` subscribes to the plan of `tier`, paid until `period_end`.
#[must_use]
pub fn plan(id: i64, holder: Holder, tier: catalog::Tier, period_end: DateTime<Utc>) -> Entitlement {
    Entitlement::grant(
        EntitlementId(id),
        holder,
        Scope::Plan { tier },
        Source::Subscription,
        Term::TimeBound { period_end },
        catalog::fixtures::now(),
    )
}
