//! Worked examples for every rule in `quote` and `ledger` (amounts in cents in the names).

use std::collections::BTreeSet;

use catalog::{Slug, Tier};
use chrono::{DateTime, Duration, TimeZone, Utc};
use pricing::{BasisPoints, Currency, Interval, Money};

use crate::*;

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}
fn slug(s: &str) -> Slug {
    s.parse().unwrap()
}
fn t(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + Duration::days(day)
}
const PG: &str = "postgres-failover-runbook";
const K8S: &str = "k8s-incident-101";
const TF: &str = "terraform-drift";

fn key(s: &str, cents: i64) -> Target {
    Target::Key {
        slug: slug(s),
        price: usd(cents),
    }
}
fn bundle(name: &str, members: &[(&str, i64)], bps: u32) -> Target {
    Target::Bundle {
        slug: slug(name),
        members: members.iter().map(|(s, c)| (slug(s), usd(*c))).collect(),
        discount: BasisPoints::new(bps).unwrap(),
    }
}
/// The three $49.00 KEYS at 22 % off: list $147.00, discount $32.34, price $114.66.
fn ops_pack() -> Target {
    bundle("ops-pack", &[(PG, 4_900), (K8S, 4_900), (TF, 4_900)], 2_200)
}
fn plan(tier: Tier, interval: Interval, cents: i64, scope: &[(&str, i64)]) -> Target {
    Target::Plan {
        tier,
        interval,
        price: usd(cents),
        scope: scope.iter().map(|(s, c)| (slug(s), usd(*c))).collect(),
    }
}
fn ctx(now: DateTime<Utc>) -> QuoteContext {
    QuoteContext {
        holder_is_organisation: false,
        owned: BTreeSet::new(),
        ledger: Ledger::default(),
        subscription: None,
        now,
    }
}
/// Quotes, pays the amount due and records it (which makes its KEYS owned).
fn buy(ctx: &mut QuoteContext, target: &Target, id: i64, at: DateTime<Utc>) -> Quote {
    let q = quote(target, ctx).unwrap();
    let s = settle(&q, PurchaseId(id), target, q.amount_due, at).unwrap();
    ctx.ledger.apply(s).unwrap();
    q
}

#[test]
fn a_key_settled_into_the_ledger_is_owned_without_being_listed_and_a_refund_frees_it() {
    let mut c = ctx(t(10));
    buy(&mut c, &key(PG, 4_900), 1, t(1));
    assert!(c.owned.is_empty(), "nothing granted outside the ledger");
    assert!(c.owns(&slug(PG)));
    assert!(matches!(
        quote(&key(PG, 4_900), &c),
        Err(QuoteError::AlreadyOwned { .. })
    ));
    c.ledger.refund(PurchaseId(1), usd(4_900)).unwrap();
    assert!(!c.owns(&slug(PG)), "fully refunded: no longer owned");
    assert!(quote(&key(PG, 4_900), &c).is_ok());
}
fn cents(q: &Quote) -> (i64, i64, i64, i64, i64) {
    (
        q.list_price.minor(),
        q.discount.minor(),
        q.price.minor(),
        q.credit_total.minor(),
        q.amount_due.minor(),
    )
}
fn uses(q: &Quote) -> Vec<(i64, String, i64)> {
    q.uses
        .iter()
        .map(|u| (u.from.0, u.slug.to_string(), u.amount.minor()))
        .collect()
}

#[test]
fn key_costs_its_list_price_49_00_and_an_owned_key_is_refused() {
    let mut c = ctx(t(1));
    let q = buy(&mut c, &key(PG, 4_900), 12, t(1));
    assert_eq!(cents(&q), (4_900, 0, 4_900, 0, 4_900));
    assert_eq!(
        q.explanation,
        "One KEY (postgres-failover-runbook): $49.00. You pay $49.00."
    );
    let err = quote(&key(PG, 4_900), &c).unwrap_err();
    assert_eq!(err.to_string(), "you already own `key:postgres-failover-runbook`");
    // Owned through a manual grant (no purchase) counts the same.
    let mut c = ctx(t(1));
    c.owned.insert(slug(TF));
    assert!(matches!(
        quote(&key(TF, 4_900), &c),
        Err(QuoteError::AlreadyOwned { .. })
    ));
}

#[test]
fn bundle_worked_example_147_00_less_22pct_is_114_66_credit_49_00_pays_65_66() {
    let mut c = ctx(t(1));
    buy(&mut c, &key(PG, 4_900), 12, t(1));
    let q = quote(&ops_pack(), &c).unwrap();
    assert_eq!(cents(&q), (14_700, 3_234, 11_466, 4_900, 6_566));
    assert!(!q.free_upgrade);
    assert_eq!(q.owned_members, [slug(PG)]);
    assert_eq!(uses(&q), [(12, PG.to_owned(), 4_900)]);
    assert_eq!(
        q.explanation,
        "Bundle of 3 KEYS: list $147.00 less 22% bundle discount ($32.34) = $114.66. \
         Credit $49.00 for what you paid in order #12 (key:postgres-failover-runbook). You pay $65.66."
    );
    let lines: Vec<(LineKind, String, String)> = q
        .lines()
        .into_iter()
        .map(|l| (l.kind, l.description, l.amount.to_string()))
        .collect();
    let line = |k, d: &str, a: &str| (k, d.to_owned(), a.to_owned());
    assert_eq!(
        lines,
        [
            line(LineKind::ListPrice, "List price (bundle:ops-pack)", "$147.00"),
            line(LineKind::Discount, "Bundle discount 22%", "$32.34"),
            line(
                LineKind::Credit,
                "Credit from what you paid in order #12 (key:postgres-failover-runbook)",
                "$49.00"
            ),
            line(LineKind::AmountDue, "Amount due", "$65.66"),
        ]
    );
    // Settling: value $114.66 = $65.66 cash + $49.00 credit, $38.22 per member.
    let s = settle(&q, PurchaseId(13), &ops_pack(), usd(6_566), t(2)).unwrap();
    assert_eq!(
        (s.purchase.cash_paid, s.purchase.credit_applied),
        (usd(6_566), usd(4_900))
    );
    assert!(s.purchase.allocations.iter().all(|a| a.amount == usd(3_822)));
    c.ledger.apply(s).unwrap();
    assert_eq!(c.ledger.available(PurchaseId(12), &slug(PG)), Some(usd(0)), "used once");
}

#[test]
fn bundle_free_upgrade_when_all_three_owned_uses_49_49_16_66() {
    let mut c = ctx(t(1));
    for (i, s) in [PG, K8S, TF].into_iter().enumerate() {
        let day = i64::try_from(i).unwrap();
        buy(&mut c, &key(s, 4_900), day + 1, t(day + 1));
    }
    let q = quote(&ops_pack(), &c).unwrap();
    assert!(q.free_upgrade);
    assert_eq!(cents(&q), (14_700, 3_234, 11_466, 11_466, 0));
    assert_eq!(
        uses(&q),
        [
            (1, PG.to_owned(), 4_900),
            (2, K8S.to_owned(), 4_900),
            (3, TF.to_owned(), 1_666)
        ]
    );
    assert_eq!(
        q.explanation,
        "You already own every KEY in this bundle, so it is yours free: recorded as a free upgrade."
    );
    assert_eq!(q.lines().last().unwrap().description, "Amount due (free upgrade)");
    buy(&mut c, &ops_pack(), 4, t(5));
    assert_eq!(
        c.ledger.available(PurchaseId(3), &slug(TF)),
        Some(usd(3_234)),
        "the rest stays"
    );
}

#[test]
fn bundle_free_upgrade_without_credit_when_members_were_granted() {
    let mut c = ctx(t(1));
    c.owned = [PG, K8S, TF].into_iter().map(slug).collect();
    let q = quote(&ops_pack(), &c).unwrap();
    assert!(q.free_upgrade && q.credits.is_empty());
    assert_eq!(cents(&q), (14_700, 3_234, 11_466, 0, 0));
    let s = settle(&q, PurchaseId(1), &ops_pack(), usd(0), t(1)).unwrap();
    assert_eq!(s.purchase.value().unwrap(), usd(0));
    assert_eq!(s.purchase.allocations.len(), 3, "every KEY listed, at zero");
}

#[test]
fn a_bundle_bought_before_is_refused_unless_refunded_or_grown() {
    let mut c = ctx(t(1));
    buy(&mut c, &ops_pack(), 1, t(1));
    assert_eq!(
        quote(&ops_pack(), &c).unwrap_err().to_string(),
        "you already own `bundle:ops-pack`"
    );
    // A fourth member was added since: the bundle can be bought again, with full credit.
    let grown = bundle(
        "ops-pack",
        &[(PG, 4_900), (K8S, 4_900), (TF, 4_900), ("dns-outage", 4_900)],
        2_200,
    );
    let q = quote(&grown, &c).unwrap();
    assert_eq!(cents(&q), (19_600, 4_312, 15_288, 11_466, 3_822));
    c.ledger.refund(PurchaseId(1), usd(11_466)).unwrap();
    assert!(quote(&ops_pack(), &c).is_ok(), "refunded: can be bought again");
}

#[test]
fn bundle_credit_is_taken_oldest_first_then_by_slug_and_capped_at_the_price() {
    let mut c = ctx(t(10));
    // Order #20 (day 1): a $20.00 two-KEY bundle; order #10 (day 2): a $49.00 KEY.
    buy(&mut c, &bundle("pair", &[(PG, 1_250), (K8S, 1_250)], 2_000), 20, t(1));
    buy(&mut c, &key(TF, 4_900), 10, t(2));
    // Not free: the bundle has grown a member the buyer does not own.
    let grown = bundle(
        "ops-pack",
        &[(PG, 4_900), (K8S, 4_900), (TF, 4_900), ("dns-outage", 4_900)],
        2_200,
    );
    let q = quote(&grown, &c).unwrap();
    assert_eq!(
        uses(&q),
        [
            (20, K8S.to_owned(), 1_000),
            (20, PG.to_owned(), 1_000),
            (10, TF.to_owned(), 4_900)
        ]
    );
    assert_eq!(cents(&q), (19_600, 4_312, 15_288, 6_900, 8_388));
    // Cap: $100.00 of credit toward a $16.00 bundle → due $0.00, but not a free upgrade.
    let mut c = ctx(t(10));
    buy(&mut c, &key(PG, 10_000), 1, t(1));
    let q = quote(&bundle("duo", &[(PG, 1_000), ("cheap-key", 1_000)], 2_000), &c).unwrap();
    assert_eq!(cents(&q), (2_000, 400, 1_600, 1_600, 0));
    assert!(!q.free_upgrade);
}

#[test]
fn upgrading_twice_credits_everything_paid_so_far() {
    let mut c = ctx(t(1));
    let q1 = buy(&mut c, &key(PG, 4_900), 1, t(1));
    // $98.00 pair at 20 % = $78.40, less $49.00 = $29.40.
    let q2 = buy(&mut c, &bundle("pair", &[(PG, 4_900), (K8S, 4_900)], 2_000), 2, t(2));
    assert_eq!(cents(&q2), (9_800, 1_960, 7_840, 4_900, 2_940));
    // The trio: $114.66 less the pair's $78.40 value ($49.00 carried + $29.40 paid) = $38.26.
    let q3 = buy(&mut c, &ops_pack(), 3, t(3));
    assert_eq!(cents(&q3), (14_700, 3_234, 11_466, 7_840, 3_626));
    assert_eq!(uses(&q3), [(2, K8S.to_owned(), 3_920), (2, PG.to_owned(), 3_920)]);
    let paid = q1.amount_due.minor() + q2.amount_due.minor() + q3.amount_due.minor();
    assert_eq!(paid, 11_466, "in total exactly the trio's price");
}

#[test]
fn refunds_scale_credit_down_and_a_refunded_upgrade_releases_its_credit() {
    let mut c = ctx(t(1));
    buy(&mut c, &key(PG, 4_900), 12, t(1));
    // Fully refunded: no credit.
    let mut refunded = c.clone();
    refunded.ledger.refund(PurchaseId(12), usd(99_999)).unwrap(); // capped at the value
    assert_eq!(refunded.ledger.purchase(PurchaseId(12)).unwrap().refunded, usd(4_900));
    assert_eq!(refunded.ledger.available(PurchaseId(12), &slug(PG)), Some(usd(0)));
    assert!(quote(&ops_pack(), &refunded).unwrap().credits.is_empty());
    // The bundle uses the $49.00; the key can then not be refunded before the bundle.
    buy(&mut c, &ops_pack(), 13, t(2));
    let err = c.ledger.refund(PurchaseId(12), usd(4_900)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "order #12: only $0.00 can be refunded; the rest was carried as credit into order(s) #13, so refund those first"
    );
    // $0.01 of $114.66 refunded: $38.22 × 11465 / 11466 = $38.2166… → $38.21 (down).
    c.ledger.refund(PurchaseId(13), usd(1)).unwrap();
    assert_eq!(c.ledger.available(PurchaseId(13), &slug(TF)), Some(usd(3_821)));
    // Refunding the bundle in full gives the key its $49.00 back; then the key refunds too.
    c.ledger.refund(PurchaseId(13), usd(11_465)).unwrap();
    assert_eq!(c.ledger.available(PurchaseId(13), &slug(TF)), Some(usd(0)));
    assert_eq!(c.ledger.available(PurchaseId(12), &slug(PG)), Some(usd(4_900)));
    c.ledger.refund(PurchaseId(12), usd(4_900)).unwrap();
    assert_eq!(c.ledger.available(PurchaseId(12), &slug(PG)), Some(usd(0)));
    assert_eq!(
        c.ledger.refund(PurchaseId(99), usd(1)),
        Err(RefundError::UnknownPurchase(PurchaseId(99)))
    );
    assert_eq!(c.ledger.available(PurchaseId(12), &slug(TF)), None, "not covered");
}

#[test]
fn apply_refuses_a_repeated_order_and_credit_used_since_the_quote() {
    let mut c = ctx(t(1));
    buy(&mut c, &key(PG, 4_900), 1, t(1));
    let pair = bundle("pair", &[(PG, 4_900), (K8S, 4_900)], 2_000);
    let stale = quote(&pair, &c).unwrap();
    buy(&mut c, &ops_pack(), 2, t(2));
    let s = settle(&stale, PurchaseId(3), &pair, stale.amount_due, t(3)).unwrap();
    let err = c.ledger.apply(s).unwrap_err();
    assert_eq!(
        err.to_string(),
        "order #1 has only $0.00 of credit left for postgres-failover-runbook, not $49.00; quote again"
    );
    let again = settle(&stale, PurchaseId(2), &pair, stale.amount_due, t(3)).unwrap();
    assert_eq!(c.ledger.apply(again), Err(ApplyError::DuplicatePurchase(PurchaseId(2))));
}

#[test]
fn settle_checks_the_amount_and_the_target() {
    let c = ctx(t(1));
    let q = quote(&key(PG, 4_900), &c).unwrap();
    assert_eq!(
        settle(&q, PurchaseId(1), &key(PG, 4_900), usd(4_800), t(1))
            .unwrap_err()
            .to_string(),
        "$48.00 was paid but the quote asks for $49.00"
    );
    assert_eq!(
        settle(&q, PurchaseId(1), &key(TF, 4_900), usd(4_900), t(1))
            .unwrap_err()
            .to_string(),
        "the quote is for `key:postgres-failover-runbook`, not `key:terraform-drift`"
    );
}

#[test]
fn allocation_largest_remainder_table() {
    // (value, list prices, expected parts)
    let cases: &[(i64, &[i64], &[i64])] = &[
        (100, &[4_900, 4_900, 4_900], &[34, 33, 33]),
        (11_466, &[4_900, 4_900, 4_900], &[3_822, 3_822, 3_822]),
        (1_000, &[1, 2], &[333, 667]), // remainders 1 and 2 (of 3): the second gets the cent
        (7_840, &[4_900, 4_900], &[3_920, 3_920]),
        (5, &[0, 0], &[3, 2]), // all prices zero: equal weights
        (0, &[100, 200], &[0, 0]),
        (101, &[100], &[101]),
    ];
    for (value, prices, want) in cases {
        let keys: Vec<(Slug, Money)> = prices
            .iter()
            .enumerate()
            .map(|(i, p)| (slug(&format!("key-{i}")), usd(*p)))
            .collect();
        let got: Vec<i64> = allocate(usd(*value), &keys).iter().map(|a| a.amount.minor()).collect();
        assert_eq!(got, *want, "{value} over {prices:?}");
    }
    assert!(allocate(usd(100), &[]).is_empty());
}

#[test]
fn plan_upgrade_59_00_credits_9_66_unused_time_and_49_00_recent_key() {
    let mut c = ctx(t(-11));
    buy(&mut c, &key(K8S, 4_900), 1, t(-11)); // 31 days before now: too old
    buy(&mut c, &key(PG, 4_900), 2, t(0)); // 20 days before now
    buy(&mut c, &key(TF, 4_900), 3, t(5)); // recent, but outside the Scale scope below
    c.now = t(20);
    c.subscription = Some(Subscription {
        tier: Tier::Operator,
        interval: Interval::Monthly,
        period_start: t(0),
        period_end: t(30),
        last_paid: usd(2_900),
    });
    let scale = plan(Tier::Scale, Interval::Monthly, 5_900, &[(PG, 4_900), (K8S, 4_900)]);
    let q = quote(&scale, &c).unwrap();
    // $29.00 × 10 / 30 days = $9.666… → $9.66; + $49.00 = $58.66; $0.34 left, below the $0.50
    // card minimum: waived (rule 11).
    assert_eq!(cents(&q), (5_900, 0, 5_900, 5_866, 0));
    assert_eq!(q.waived, usd(34));
    assert_eq!(
        q.explanation,
        "Scale plan, billed monthly: $59.00. Credit $58.66: $9.66 for unused time on your Operator monthly plan, \
         $49.00 for what you paid in order #2 (key:postgres-failover-runbook). You pay $0.00. \
         The $0.34 left is below the smallest card payment ($0.50), so it is waived."
    );
    assert_eq!(
        q.credits[0].description,
        "Unused time on your Operator monthly plan (paid until 2025-01-31)"
    );
    assert_eq!(q.owned_members, [slug(PG), slug(K8S)]);
    // Settling: only the purchase credit is applied; plans get no allocations.
    assert!(
        settle(&q, PurchaseId(4), &scale, usd(34), t(20)).is_err(),
        "the waived amount is not charged"
    );
    let s = settle(&q, PurchaseId(4), &scale, usd(0), t(20)).unwrap();
    assert_eq!(s.purchase.credit_applied, usd(4_900));
    assert!(s.purchase.allocations.is_empty());
    c.ledger.apply(s).unwrap();
    assert_eq!(c.ledger.available(PurchaseId(2), &slug(PG)), Some(usd(0)));
}

#[test]
fn an_amount_below_the_card_minimum_is_waived_and_said() {
    // $49.00 paid for PG. A two-KEY bundle at 20 % off: with a $14.00 second KEY, $63.00 less
    // 20 % = $50.40, less $49.00 = $1.40 charged; with $12.86, $61.86 less $12.37 = $49.49,
    // less $49.00 = $0.49 left: waived.
    let mut c = ctx(t(10));
    buy(&mut c, &key(PG, 4_900), 1, t(1));
    let charged = quote(&bundle("duo", &[(PG, 4_900), (K8S, 1_400)], 2_000), &c).unwrap();
    assert_eq!((charged.amount_due, charged.waived), (usd(140), usd(0)));
    let q = quote(&bundle("duo", &[(PG, 4_900), (K8S, 1_286)], 2_000), &c).unwrap();
    assert_eq!((q.amount_due, q.waived, q.credit_total), (usd(0), usd(49), usd(4_900)));
    assert!(
        !q.free_upgrade,
        "not everything was owned: a waiver, not a free upgrade"
    );
    assert!(
        q.explanation
            .ends_with("The $0.49 left is below the smallest card payment ($0.50), so it is waived.")
    );
    let kinds: Vec<LineKind> = q.lines().iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            LineKind::ListPrice,
            LineKind::Discount,
            LineKind::Credit,
            LineKind::Waived,
            LineKind::AmountDue
        ]
    );
    // Exactly the minimum is charged.
    let at_min = quote(&bundle("duo", &[(PG, 4_900), (K8S, 1_287)], 2_000), &c).unwrap();
    assert_eq!((at_min.amount_due, at_min.waived), (usd(50), usd(0)));
}

#[test]
fn plan_credit_is_capped_at_the_first_invoice_and_plan_time_is_clamped() {
    // $49.00 of credit toward a $12.00 Starter plan: $12.00 used, $37.00 left.
    let mut c = ctx(t(1));
    buy(&mut c, &key(PG, 4_900), 1, t(1));
    let starter = plan(Tier::Starter, Interval::Monthly, 1_200, &[(PG, 4_900)]);
    let q = buy(&mut c, &starter, 2, t(1));
    assert_eq!(cents(&q), (1_200, 0, 1_200, 1_200, 0));
    assert_eq!(c.ledger.available(PurchaseId(1), &slug(PG)), Some(usd(3_700)));
    // Remaining time is clamped to [0, period]: before the period, all of it; after, none.
    let sub = |now| QuoteContext {
        subscription: Some(Subscription {
            tier: Tier::Starter,
            interval: Interval::Monthly,
            period_start: t(10),
            period_end: t(40),
            last_paid: usd(1_200),
        }),
        ..ctx(now)
    };
    let operator = plan(Tier::Operator, Interval::Monthly, 2_900, &[]);
    assert_eq!(quote(&operator, &sub(t(0))).unwrap().credit_total, usd(1_200));
    assert_eq!(quote(&operator, &sub(t(25))).unwrap().credit_total, usd(600));
    assert!(quote(&operator, &sub(t(41))).unwrap().credits.is_empty());
}

#[test]
fn plan_changes_must_be_upgrades() {
    use Interval::{Annual, Monthly};
    use Tier::{Enterprise, Operator, Scale};
    // (current, requested, allowed)
    let cases = [
        ((Scale, Monthly), (Operator, Annual), false),
        ((Scale, Monthly), (Scale, Monthly), false),
        ((Scale, Annual), (Scale, Annual), false),
        ((Scale, Annual), (Scale, Monthly), false),
        ((Scale, Monthly), (Scale, Annual), true),
        ((Operator, Annual), (Scale, Monthly), true),
        ((Scale, Annual), (Enterprise, Monthly), true),
    ];
    for ((tier, interval), (to_tier, to_interval), allowed) in cases {
        let mut c = ctx(t(5));
        c.holder_is_organisation = true;
        c.subscription = Some(Subscription {
            tier,
            interval,
            period_start: t(0),
            period_end: t(30),
            last_paid: usd(5_900),
        });
        let got = quote(&plan(to_tier, to_interval, 9_900, &[]), &c);
        assert_eq!(
            got.is_ok(),
            allowed,
            "{tier:?} {interval:?} -> {to_tier:?} {to_interval:?}: {got:?}"
        );
    }
    let mut c = ctx(t(5));
    c.subscription = Some(Subscription {
        tier: Scale,
        interval: Annual,
        period_start: t(0),
        period_end: t(365),
        last_paid: usd(59_000),
    });
    assert_eq!(
        quote(&plan(Scale, Monthly, 5_900, &[]), &c).unwrap_err().to_string(),
        "`plan:scale:monthly` is not an upgrade from your current `plan:scale:annual`, so it has no price now: \
         buying it schedules the change for the end of your paid period, at no charge (or choose a higher tier, \
         or the same tier billed annually)"
    );
}

#[test]
fn enterprise_plans_need_an_organisation() {
    let enterprise = plan(Tier::Enterprise, Interval::Annual, 199_000, &[]);
    let mut c = ctx(t(1));
    assert_eq!(quote(&enterprise, &c), Err(QuoteError::EnterpriseNeedsOrganisation));
    c.holder_is_organisation = true;
    let q = quote(&enterprise, &c).unwrap();
    assert_eq!(
        q.explanation,
        "Enterprise plan, billed annually: $1,990.00. You pay $1,990.00."
    );
}

#[test]
fn bad_bundles_and_mixed_currencies_are_errors() {
    let c = ctx(t(1));
    assert!(matches!(
        quote(&bundle("solo", &[(PG, 4_900)], 2_200), &c),
        Err(QuoteError::BadBundle(_))
    ));
    let mut c = ctx(t(1));
    buy(&mut c, &key(PG, 4_900), 1, t(1));
    let eur = Target::Bundle {
        slug: slug("euro-pack"),
        members: vec![
            (slug(PG), Money::from_minor(4_900, Currency::Eur)),
            (slug(K8S), Money::from_minor(4_900, Currency::Eur)),
        ],
        discount: BasisPoints::new(2_000).unwrap(),
    };
    assert!(matches!(quote(&eur, &c), Err(QuoteError::Money(_))));
}

#[test]
fn quotes_and_ledgers_serialize() {
    fn ser<T: serde::Serialize>() {}
    fn de<T: serde::de::DeserializeOwned>() {}
    ser::<Quote>();
    ser::<QuoteLine>();
    ser::<Ledger>();
    de::<Ledger>();
    de::<Subscription>();
    de::<Settlement>();
}

#[test]
fn one_rule_says_which_plan_moves_are_upgrades_and_which_are_scheduled() {
    use crate::{PlanMove, plan_move};
    use Interval::{Annual, Monthly};
    assert_eq!(
        plan_move((Tier::Starter, Monthly), (Tier::Operator, Monthly)),
        PlanMove::Upgrade
    );
    assert_eq!(
        plan_move((Tier::Operator, Monthly), (Tier::Operator, Annual)),
        PlanMove::Upgrade
    );
    assert_eq!(
        plan_move((Tier::Operator, Annual), (Tier::Scale, Monthly)),
        PlanMove::Upgrade
    );
    assert_eq!(
        plan_move((Tier::Operator, Annual), (Tier::Operator, Monthly)),
        PlanMove::Downgrade
    );
    assert_eq!(
        plan_move((Tier::Scale, Monthly), (Tier::Starter, Annual)),
        PlanMove::Downgrade
    );
    assert_eq!(
        plan_move((Tier::Scale, Monthly), (Tier::Scale, Monthly)),
        PlanMove::Same
    );
}
