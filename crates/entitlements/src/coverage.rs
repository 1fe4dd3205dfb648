//! Scope → KEYS: the one place that turns entitlements into the set of KEYS they open.

use std::collections::{BTreeSet, HashMap};

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

/// A holder's entitlements indexed by the KEYS they name, so that asking about one KEY reads
/// only the entitlements that could cover it — those whose KEY or bundle scope names it, and
/// every plan — instead of all of them (a buyer may hold tens of thousands).
/// [`crate::can_access`] over [`ByKey::candidates`] answers exactly as over the whole list:
/// it keeps no other entitlement that could cover the KEY, and its choice among several does
/// not depend on their order.
#[derive(Debug, Clone, Default)]
pub struct ByKey {
    named: HashMap<Slug, Vec<usize>>,
    plans: Vec<usize>,
}

impl ByKey {
    /// Indexes `list` (positions into it; pass the same list to [`ByKey::candidates`]).
    #[must_use]
    pub fn new(list: &[Entitlement]) -> Self {
        let mut index = ByKey::default();
        for (i, e) in list.iter().enumerate() {
            match &e.scope {
                Scope::Key(s) => index.named.entry(s.clone()).or_default().push(i),
                Scope::Bundle { keys, .. } => {
                    for s in keys {
                        index.named.entry(s.clone()).or_default().push(i);
                    }
                }
                Scope::Plan { .. } => index.plans.push(i),
            }
        }
        index
    }

    /// The entitlements of `list` that could cover `slug`, whatever their holder, status or
    /// term (the caller's access check decides): every entitlement naming it and every plan.
    #[must_use]
    pub fn candidates(&self, list: &[Entitlement], slug: &Slug) -> Vec<Entitlement> {
        self.named
            .get(slug)
            .into_iter()
            .flatten()
            .chain(&self.plans)
            .filter_map(|i| list.get(*i).cloned())
            .collect()
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

    proptest::proptest! {
        /// Asking about a KEY over the index's candidates answers exactly as over every
        /// entitlement: same grant (or none), for every KEY and tier, whatever the mix.
        #[test]
        fn the_index_answers_as_the_whole_list(
            picks in proptest::collection::vec((0u8..3, 0usize..4, 0usize..4, proptest::bool::ANY, 0u8..3, 0i64..3), 0..40),
        ) {
            let slugs = ["key-a", "key-b", "key-c", "key-d"];
            let tiers = [Tier::Starter, Tier::Scale, Tier::Enterprise];
            let list: Vec<Entitlement> = picks
                .iter()
                .enumerate()
                .map(|(i, (kind, a, b, perpetual, state, holder))| {
                    let id = i64::try_from(i).unwrap() + 1;
                    let scope = match kind {
                        0 => Scope::Key(slug(slugs[*a])),
                        1 => Scope::Bundle { bundle: slug("bundle-x"), keys: vec![slug(slugs[*a]), slug(slugs[*b])] },
                        _ => Scope::Plan { tier: tiers[*a % 3] },
                    };
                    let term = if *perpetual {
                        Term::Perpetual
                    } else {
                        Term::TimeBound { period_end: now() + Duration::days(i64::from(*state) * 20 - 20) }
                    };
                    let mut e = Entitlement::grant(
                        EntitlementId(id),
                        if *holder == 2 { Holder::Organisation(crate::OrgId(7)) } else { Holder::User(UserId(1 + holder)) },
                        scope,
                        Source::ManualGrant,
                        term,
                        now() - Duration::days(id % 5),
                    );
                    if *state == 0 && *perpetual {
                        let _ = e.revoke(RevokeReason::Refund, Actor::Stripe { event_id: "evt".into() }, "refund", now());
                    }
                    e
                })
                .collect();
            let index = ByKey::new(&list);
            let principal = crate::Principal { user: UserId(1), organisations: vec![crate::OrgId(7)] };
            for s in slugs {
                for tier in tiers {
                    let key = crate::KeyRef { slug: slug(s), tier };
                    let candidates = index.candidates(&list, &key.slug);
                    let whole = crate::can_access(&principal, &list, &key, now()).map(|e| e.id);
                    let indexed = crate::can_access(&principal, &candidates, &key, now()).map(|e| e.id);
                    proptest::prop_assert_eq!(whole, indexed, "{} {:?}", s, tier);
                }
            }
        }
    }
}
