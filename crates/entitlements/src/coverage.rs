//! Scope → KEYS: the one place that turns entitlements into the set of KEYS they open.

use std::collections::BTreeSet;

use catalog::{Slug, Tier};
use chrono::{DateTime, Utc};

use crate::{Entitlement, Scope};

/// What a set of entitlements in force opens now: the KEYS named by a KEY or a bundle scope,
/// and the highest plan tier (a plan opens every KEY at or below it, including later ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// KEYS named one by one (KEY and bundle scopes).
    pub keys: BTreeSet<Slug>,
    /// The highest plan tier in force, if any.
    pub plan: Option<Tier>,
}

impl Coverage {
    /// The coverage of the entitlements of `list` that are in force at `now` (revoked ones and
    /// ones past their period or grace are skipped).
    #[must_use]
    pub fn of<'a>(list: impl IntoIterator<Item = &'a Entitlement>, now: DateTime<Utc>) -> Self {
        let mut coverage = Coverage::default();
        for e in list.into_iter().filter(|e| e.is_effective(now)) {
            match &e.scope {
                Scope::Key(s) => {
                    coverage.keys.insert(s.clone());
                }
                Scope::Bundle { keys, .. } => coverage.keys.extend(keys.iter().cloned()),
                Scope::Plan { tier } => coverage.plan = coverage.plan.max(Some(*tier)),
            }
        }
        coverage
    }

    /// Every KEY of `catalog` (slug and tier) this coverage opens: the named ones (even when
    /// the catalog no longer lists them) and, for a plan, those at or below its tier.
    #[must_use]
    pub fn slugs<'a>(&self, catalog: impl IntoIterator<Item = (&'a Slug, Tier)>) -> BTreeSet<Slug> {
        let mut slugs = self.keys.clone();
        if let Some(plan) = self.plan {
            slugs.extend(
                catalog
                    .into_iter()
                    .filter(|(_, tier)| *tier <= plan)
                    .map(|(s, _)| s.clone()),
            );
        }
        slugs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, EntitlementId, Holder, RevokeReason, Source, Term, UserId};
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    }

    fn slug(s: &str) -> Slug {
        s.parse().unwrap()
    }

    fn ent(id: i64, scope: Scope, term: Term) -> Entitlement {
        Entitlement::grant(
            EntitlementId(id),
            Holder::User(UserId(1)),
            scope,
            Source::ManualGrant,
            term,
            now(),
        )
    }

    #[test]
    fn keys_bundles_and_the_highest_plan_open_what_they_name() {
        let list = vec![
            ent(1, Scope::Key(slug("key-a")), Term::Perpetual),
            ent(
                2,
                Scope::Bundle {
                    bundle: slug("bundle-b"),
                    keys: vec![slug("key-b1"), slug("key-b2")],
                },
                Term::Perpetual,
            ),
            ent(
                3,
                Scope::Plan { tier: Tier::Starter },
                Term::TimeBound {
                    period_end: now() + Duration::days(30),
                },
            ),
            ent(
                4,
                Scope::Plan { tier: Tier::Scale },
                Term::TimeBound {
                    period_end: now() + Duration::days(30),
                },
            ),
        ];
        let c = Coverage::of(&list, now());
        assert_eq!(c.plan, Some(Tier::Scale));
        let catalog = [
            (slug("key-s"), Tier::Starter),
            (slug("key-x"), Tier::Scale),
            (slug("key-e"), Tier::Enterprise),
        ];
        let open = c.slugs(catalog.iter().map(|(s, t)| (s, *t)));
        let names: Vec<&str> = open.iter().map(Slug::as_str).collect();
        assert_eq!(names, ["key-a", "key-b1", "key-b2", "key-s", "key-x"]);
    }

    #[test]
    fn revoked_and_lapsed_entitlements_open_nothing() {
        let mut revoked = ent(1, Scope::Key(slug("key-a")), Term::Perpetual);
        revoked
            .revoke(
                RevokeReason::Refund,
                Actor::Stripe {
                    event_id: "evt_1".into(),
                },
                "refund",
                now(),
            )
            .unwrap();
        let lapsed = ent(
            2,
            Scope::Plan { tier: Tier::Enterprise },
            Term::TimeBound {
                period_end: now() - Duration::days(1),
            },
        );
        let c = Coverage::of(&[revoked, lapsed], now());
        assert_eq!(c, Coverage::default());
        assert!(c.slugs([(&slug("key-a"), Tier::Starter)]).is_empty());
    }
}
