//! Properties over random catalogs and random sequences of KEY and bundle purchases, plan
//! changes and full refunds, all driven through `quote` → `settle` → `Ledger::apply`.

use std::collections::BTreeSet;

use catalog::{Slug, Tier};
use chrono::{DateTime, Duration, TimeZone, Utc};
use pricing::{BasisPoints, Currency, Interval, Money, bundle_price};
use proptest::prelude::*;
use proptest::sample::subsequence;
use upgrades::{Ledger, PurchaseId, QuoteContext, QuoteError, RefundError, Sku, Subscription, Target, quote, settle};

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}

#[derive(Debug, Clone)]
struct Catalog {
    /// (slug, price, tier)
    keys: Vec<(Slug, Money, Tier)>,
    /// (slug, member indexes, discount)
    bundles: Vec<(Slug, Vec<usize>, BasisPoints)>,
    /// Plan prices indexed by tier * 2 + (annual as usize).
    plans: Vec<Money>,
}

impl Catalog {
    fn key(&self, i: usize) -> Target {
        let (slug, price, _) = &self.keys[i % self.keys.len()];
        Target::Key {
            slug: slug.clone(),
            price: *price,
        }
    }
    fn bundle(&self, j: usize) -> Target {
        let (slug, members, discount) = &self.bundles[j % self.bundles.len()];
        Target::Bundle {
            slug: slug.clone(),
            members: members
                .iter()
                .map(|&i| (self.keys[i].0.clone(), self.keys[i].1))
                .collect(),
            discount: *discount,
        }
    }
    fn plan(&self, tier: Tier, interval: Interval) -> Target {
        let t = Tier::ALL.iter().position(|x| *x == tier).unwrap_or(0);
        Target::Plan {
            tier,
            interval,
            price: self.plans[t * 2 + usize::from(interval == Interval::Annual)],
            scope: self
                .keys
                .iter()
                .filter(|(_, _, k)| *k <= tier)
                .map(|(s, p, _)| (s.clone(), *p))
                .collect(),
        }
    }
}

fn arb_catalog() -> impl Strategy<Value = Catalog> {
    (4usize..=6).prop_flat_map(|n| {
        let bundle = (subsequence((0..n).collect::<Vec<_>>(), 2..=n), 1_900u32..=2_800);
        (
            proptest::collection::vec((100i64..50_000, 0usize..4), n),
            proptest::collection::vec(bundle, 2..=3),
            proptest::collection::vec(1_000i64..100_000, 8),
        )
            .prop_map(|(keys, bundles, plans)| Catalog {
                keys: keys
                    .into_iter()
                    .enumerate()
                    .map(|(i, (p, t))| (format!("key-{i}").parse().unwrap(), usd(p), Tier::ALL[t]))
                    .collect(),
                bundles: bundles
                    .into_iter()
                    .enumerate()
                    .map(|(j, (m, d))| (format!("bundle-{j}").parse().unwrap(), m, BasisPoints::new(d).unwrap()))
                    .collect(),
                plans: plans.into_iter().map(usd).collect(),
            })
    })
}

#[derive(Debug, Clone)]
enum Op {
    Key(usize),
    Bundle(usize),
    Refund(usize),
    Plan { tier: usize, annual: bool, org: bool },
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<usize>().prop_map(Op::Key),
        3 => any::<usize>().prop_map(Op::Bundle),
        2 => any::<usize>().prop_map(Op::Refund),
        1 => (0usize..4, any::<bool>(), any::<bool>()).prop_map(|(tier, annual, org)| Op::Plan { tier, annual, org }),
    ]
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

/// KEYS covered by purchases that are not fully refunded.
fn owned(ledger: &Ledger) -> BTreeSet<Slug> {
    ledger
        .purchases
        .iter()
        .filter(|p| !p.is_fully_refunded())
        .flat_map(|p| p.keys().cloned())
        .collect()
}

fn check_ledger(ledger: &Ledger) -> Result<(), TestCaseError> {
    for p in &ledger.purchases {
        if matches!(p.sku, Sku::Key(_) | Sku::Bundle(_)) {
            let sum: i64 = p.allocations.iter().map(|a| a.amount.minor()).sum();
            prop_assert_eq!(sum, p.value().unwrap().minor(), "allocations sum to the value");
        }
        for a in &p.allocations {
            let available = ledger.available(p.id, &a.slug).unwrap().minor();
            prop_assert!(available >= 0 && available <= a.amount.minor());
            if p.is_fully_refunded() {
                prop_assert_eq!(available, 0, "a fully refunded purchase gives no credit");
            }
            let used: i64 = ledger
                .uses
                .iter()
                .filter(|u| u.from == p.id && u.slug == a.slug)
                .filter(|u| ledger.purchase(u.by).is_none_or(|b| !b.is_fully_refunded()))
                .map(|u| u.amount.minor())
                .sum();
            prop_assert!(
                used <= a.amount.minor(),
                "credit never reused: {} > {}",
                used,
                a.amount.minor()
            );
        }
    }
    Ok(())
}

fn check_quote(q: &upgrades::Quote) -> Result<(), TestCaseError> {
    let (due, price, list) = (q.amount_due.minor(), q.price.minor(), q.list_price.minor());
    prop_assert!(
        0 <= due && due <= price && price <= list,
        "0 ≤ {} ≤ {} ≤ {}",
        due,
        price,
        list
    );
    prop_assert_eq!(price, list - q.discount.minor());
    let lines: i64 = q.credits.iter().map(|c| c.amount.minor()).sum();
    prop_assert_eq!(lines, q.credit_total.minor());
    prop_assert!(q.credit_total.minor() <= price);
    let waived = q.waived.minor();
    let minimum = q.currency.minimum_charge_minor();
    if !q.free_upgrade {
        prop_assert_eq!(due, price - q.credit_total.minor() - waived);
    }
    // The minimum-charge rule: never an amount due strictly between zero and the minimum once
    // credit applies; what is waived is below the minimum, and only ever with credit.
    prop_assert!(
        waived == 0 || (due == 0 && waived < minimum && q.credit_total.minor() > 0),
        "waived {}",
        waived
    );
    prop_assert!(
        q.credit_total.minor() == 0 || due == 0 || due >= minimum,
        "due {} with credit",
        due
    );
    Ok(())
}

proptest! {
    #[test]
    fn random_purchase_sequences_keep_every_credit_rule(
        catalog in arb_catalog(),
        ops in proptest::collection::vec((arb_op(), 0i64..12), 1..16),
    ) {
        let mut ctx = QuoteContext {
            holder_is_organisation: false,
            owned: BTreeSet::new(),
            ledger: Ledger::default(),
            subscription: None,
            now: t0(),
        };
        let (mut next_id, mut cash, mut refunds, mut plans) = (1_i64, 0_i64, false, false);
        for (op, days) in ops {
            ctx.now += Duration::days(days);
            if ctx.subscription.as_ref().is_some_and(|s| s.period_end <= ctx.now) {
                ctx.subscription = None;
            }
            let target = match op {
                Op::Key(i) => catalog.key(i),
                Op::Bundle(j) => catalog.bundle(j),
                Op::Plan { tier, annual, org } => {
                    ctx.holder_is_organisation = org;
                    let interval = if annual { Interval::Annual } else { Interval::Monthly };
                    catalog.plan(Tier::ALL[tier], interval)
                }
                Op::Refund(k) => {
                    if ctx.ledger.purchases.is_empty() {
                        continue;
                    }
                    let p = ctx.ledger.purchases[k % ctx.ledger.purchases.len()].clone();
                    let value = p.value().unwrap();
                    match ctx.ledger.refund(p.id, value) {
                        Ok(r) => {
                            prop_assert!(r == value);
                            prop_assert!(value.minor() == 0 || ctx.ledger.purchase(p.id).unwrap().is_fully_refunded());
                            refunds |= value.minor() > 0;
                        }
                        Err(RefundError::CreditCarriedForward { by, .. }) => prop_assert!(!by.is_empty()),
                        Err(e) => prop_assert!(false, "{}", e),
                    }
                    ctx.owned = owned(&ctx.ledger);
                    check_ledger(&ctx.ledger)?;
                    continue;
                }
            };
            let q = match quote(&target, &ctx) {
                Ok(q) => q,
                Err(QuoteError::AlreadyOwned { .. }) => {
                    match &target {
                        Target::Key { slug, .. } => prop_assert!(ctx.owned.contains(slug)),
                        _ => prop_assert!(ctx.ledger.purchases.iter().any(|p| p.sku == target.sku() && !p.is_fully_refunded())),
                    }
                    continue;
                }
                Err(QuoteError::EnterpriseNeedsOrganisation) => {
                    prop_assert!(!ctx.holder_is_organisation);
                    continue;
                }
                Err(QuoteError::NotAnUpgrade { .. }) => {
                    prop_assert!(ctx.subscription.is_some());
                    continue;
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            };
            check_quote(&q)?;
            if let Target::Bundle { members, .. } = &target {
                prop_assert_eq!(q.free_upgrade, members.iter().all(|(s, _)| ctx.owned.contains(s)));
            }
            let s = settle(&q, PurchaseId(next_id), &target, q.amount_due, ctx.now).unwrap();
            next_id += 1;
            cash += q.amount_due.minor();
            if let Target::Plan { tier, interval, .. } = target {
                plans = true;
                let days = if interval == Interval::Annual { 365 } else { 30 };
                ctx.subscription = Some(Subscription {
                    tier,
                    interval,
                    period_start: ctx.now,
                    period_end: ctx.now + Duration::days(days),
                    last_paid: q.price,
                });
            }
            ctx.ledger.apply(s).unwrap();
            ctx.owned = owned(&ctx.ledger);
            check_ledger(&ctx.ledger)?;
            if !refunds && !plans {
                // Never more than buying every owned KEY at its list price.
                let list: i64 = catalog.keys.iter().filter(|(s, _, _)| ctx.owned.contains(s)).map(|(_, p, _)| p.minor()).sum();
                prop_assert!(cash <= list, "paid {} for KEYS listed at {}", cash, list);
            }
        }
    }

    /// Buying some members of bundle B one by one and then B costs max(those KEYS, B's price)
    /// in total: never more than B's list price, and exactly B's price when all credit fits.
    #[test]
    fn members_then_bundle_costs_at_most_the_bundle_price_when_credit_fits(
        catalog in arb_catalog(),
        j in any::<usize>(),
        pick in any::<proptest::sample::Index>(),
        shuffle_seed in any::<u64>(),
    ) {
        let (_, members, discount) = catalog.bundles[j % catalog.bundles.len()].clone();
        // A random prefix of a seeded rotation of the members.
        let n = members.len();
        let rot = usize::try_from(shuffle_seed % u64::try_from(n).unwrap()).unwrap();
        let bought: Vec<usize> = members.iter().cycle().skip(rot).take(pick.index(n + 1)).copied().collect();
        let mut ctx = QuoteContext {
            holder_is_organisation: false,
            owned: BTreeSet::new(),
            ledger: Ledger::default(),
            subscription: None,
            now: t0(),
        };
        let mut cash = 0;
        for (id, i) in (1_i64..).zip(bought.iter().copied().chain(std::iter::once(usize::MAX))) {
            ctx.now += Duration::days(1);
            let target = if i == usize::MAX { catalog.bundle(j) } else { catalog.key(i) };
            let q = quote(&target, &ctx).unwrap();
            check_quote(&q)?;
            // What was waived counts as paid here: the rule is about value, not cash.
            cash += q.amount_due.minor() + q.waived.minor();
            let s = settle(&q, PurchaseId(id), &target, q.amount_due, ctx.now).unwrap();
            ctx.ledger.apply(s).unwrap();
            ctx.owned = owned(&ctx.ledger);
        }
        let prices: Vec<Money> = members.iter().map(|&i| catalog.keys[i].1).collect();
        let b = bundle_price(&prices, discount).unwrap();
        let keys: i64 = bought.iter().map(|&i| catalog.keys[i].1.minor()).sum();
        prop_assert_eq!(cash, keys.max(b.price.minor()));
        prop_assert!(cash <= b.list_total.minor());
        if keys <= b.price.minor() {
            prop_assert_eq!(cash, b.price.minor());
        }
        check_ledger(&ctx.ledger)?;
    }

    #[test]
    fn plan_quotes_stay_between_zero_and_the_price(
        catalog in arb_catalog(),
        bought in proptest::collection::vec((0usize..6, 0i64..40), 0..6),
        current in proptest::option::of((0usize..4, any::<bool>(), 1i64..400, 1_000i64..100_000, -10i64..400)),
        target in (0usize..4, any::<bool>()),
    ) {
        let now = t0() + Duration::days(60);
        let mut ctx = QuoteContext {
            holder_is_organisation: true,
            owned: BTreeSet::new(),
            ledger: Ledger::default(),
            subscription: None,
            now,
        };
        for (id, (i, days_ago)) in (1_i64..).zip(bought) {
            let key = catalog.key(i);
            if let Ok(q) = quote(&key, &ctx) {
                let s = settle(&q, PurchaseId(id), &key, q.amount_due, now - Duration::days(days_ago)).unwrap();
                ctx.ledger.apply(s).unwrap();
                ctx.owned = owned(&ctx.ledger);
            }
        }
        ctx.subscription = current.map(|(tier, annual, len, paid, started_ago)| Subscription {
            tier: Tier::ALL[tier],
            interval: if annual { Interval::Annual } else { Interval::Monthly },
            period_start: now - Duration::days(started_ago),
            period_end: now - Duration::days(started_ago) + Duration::days(len),
            last_paid: usd(paid),
        });
        let interval = if target.1 { Interval::Annual } else { Interval::Monthly };
        let plan = catalog.plan(Tier::ALL[target.0], interval);
        match quote(&plan, &ctx) {
            Ok(q) => {
                check_quote(&q)?;
                let s = settle(&q, PurchaseId(100), &plan, q.amount_due, now).unwrap();
                prop_assert!(s.purchase.allocations.is_empty());
                prop_assert!(s.purchase.credit_applied.minor() <= q.credit_total.minor());
                ctx.ledger.apply(s).unwrap();
                check_ledger(&ctx.ledger)?;
            }
            Err(QuoteError::NotAnUpgrade { .. }) => prop_assert!(ctx.subscription.is_some()),
            Err(e) => prop_assert!(false, "{}", e),
        }
    }

    #[test]
    fn sku_ids_round_trip(slug in "[a-z0-9]{3,10}(-[a-z0-9]{1,5}){0,2}", tier in 0usize..4, annual in any::<bool>()) {
        let slug: Slug = slug.parse().unwrap();
        let interval = if annual { Interval::Annual } else { Interval::Monthly };
        for sku in [Sku::Key(slug.clone()), Sku::Bundle(slug), Sku::Plan { tier: Tier::ALL[tier], interval }] {
            prop_assert_eq!(sku.to_string().parse::<Sku>().unwrap(), sku);
        }
    }
}
