//! `Commerce` over mocked ports: what it reads, what it records, and what it refuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use catalog::Tier;
use chrono::{DateTime, Duration, TimeZone, Utc};
use entitlements::ports::MockEntitlementRepository;
use entitlements::{Entitlement, EntitlementId, Holder, Scope, Source, Term, UserId};
use mockall::predicate::eq;
use pricing::{Currency, Money, Offers, PriceList};

use super::*;
use crate::ports::{Channel, MockOrderRepository, Order, OrderStatus, PaymentRefs, RecordOrderError};
use crate::{Allocation, PurchaseId, Sku};

const PG: &str = "postgres-failover-runbook";
const K8S: &str = "k8s-incident-101";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}

fn user() -> Holder {
    Holder::User(UserId(3))
}

/// Two operator KEYS at $49.00 and a bundle of both at 20 % off.
fn offers() -> Offers {
    let prices = PriceList::parse(
        r#"currency = "USD"
[single]
starter = "19.00"
operator = "49.00"
scale = "99.00"
enterprise = "249.00"
[plans.starter]
monthly = "12.00"
annual = "120.00"
[plans.operator]
monthly = "29.00"
annual = "290.00"
[plans.scale]
monthly = "59.00"
annual = "590.00"
[plans.enterprise]
monthly = "199.00"
annual = "1990.00"
"#,
        "pricing.toml",
    )
    .unwrap();
    let bundle = pricing::Bundle::parse(
        &format!("title = \"Ops\"\nsummary = \"Both.\"\ndiscount = \"20%\"\nkeys = [\"{PG}\", \"{K8S}\"]\n"),
        "bundles/ops.toml",
    )
    .unwrap();
    let tiers = BTreeMap::from([
        (PG.parse().unwrap(), Tier::Operator),
        (K8S.parse().unwrap(), Tier::Operator),
    ]);
    Offers::new(prices, vec![bundle], tiers)
}

/// A paid order for PG at $49.00 (id 1), ten days ago.
fn paid_pg() -> Order {
    Order {
        id: PurchaseId(1),
        holder: user(),
        buyer: UserId(3),
        sku: format!("key:{PG}").parse().unwrap(),
        status: OrderStatus::Paid,
        list_price: usd(4_900),
        amount_due: usd(4_900),
        cash_paid: usd(4_900),
        credit_applied: usd(0),
        refunded: usd(0),
        allocations: vec![Allocation {
            slug: PG.parse().unwrap(),
            amount: usd(4_900),
        }],
        explanation: String::new(),
        channel: Channel::Stripe,
        period: None,
        created_at: now() - Duration::days(10),
        paid_at: Some(now() - Duration::days(10)),
        refs: PaymentRefs {
            payment_intent: Some("pi_1".into()),
            ..PaymentRefs::default()
        },
        quote_id: None,
    }
}

fn pg_grant() -> Entitlement {
    Entitlement::grant(
        EntitlementId(11),
        user(),
        Scope::Key(PG.parse().unwrap()),
        Source::Purchase,
        Term::Perpetual,
        now() - Duration::days(10),
    )
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn commerce(orders: MockOrderRepository, ents: MockEntitlementRepository) -> Commerce {
    Commerce::new(Arc::new(orders), Arc::new(ents))
}

fn owner_of_pg() -> (MockOrderRepository, MockEntitlementRepository) {
    let mut orders = MockOrderRepository::new();
    orders
        .expect_history()
        .with(eq(user()))
        .returning(|_| Ok((vec![paid_pg()], Vec::new())));
    let mut ents = MockEntitlementRepository::new();
    ents.expect_for_holder()
        .with(eq(user()))
        .returning(|_| Ok(vec![pg_grant()]));
    (orders, ents)
}

#[test]
fn the_bundle_quote_credits_what_the_holder_paid_for_a_member() {
    let (orders, ents) = owner_of_pg();
    let c = commerce(orders, ents);
    let q = run(c.quote(user(), &"bundle:ops".parse().unwrap(), &offers(), now())).unwrap();
    // $98.00 less 20 % = $78.40, less the $49.00 paid for PG = $29.40.
    assert_eq!(q.quote.list_price, usd(9_800));
    assert_eq!(q.quote.price, usd(7_840));
    assert_eq!(q.quote.credit_total, usd(4_900));
    assert_eq!(q.quote.amount_due, usd(2_940));
}

#[test]
fn an_owned_key_is_refused_and_nothing_is_recorded() {
    let (mut orders, ents) = owner_of_pg();
    orders.expect_create_pending().never();
    let c = commerce(orders, ents);
    let err = run(c.open_checkout(&Buying {
        holder: user(),
        buyer: UserId(3),
        sku: &format!("key:{PG}").parse().unwrap(),
        offers: &offers(),
        channel: Channel::Stripe,
        now: now(),
    }))
    .unwrap_err();
    assert!(
        matches!(
            err,
            PurchaseError::Quote(QuoteRequestError::Quote(QuoteError::AlreadyOwned { .. }))
        ),
        "{err:?}"
    );
}

#[test]
fn opening_a_checkout_records_the_quoted_order_and_reserves_its_credit() {
    let (mut orders, ents) = owner_of_pg();
    orders
        .expect_create_pending()
        .withf(|o, uses| {
            o.sku == "bundle:ops".parse::<Sku>().unwrap()
                && o.amount_due == usd(2_940)
                && o.credit_applied == usd(4_900)
                && o.channel == Channel::Local
                && uses.len() == 1
                && uses[0].from == PurchaseId(1)
                && uses[0].amount == usd(4_900)
        })
        .times(1)
        .returning(|o, _| {
            let mut order = paid_pg();
            order.id = PurchaseId(2);
            order.sku = o.sku.clone();
            order.status = OrderStatus::Pending;
            order.amount_due = o.amount_due;
            Ok(order)
        });
    let c = commerce(orders, ents);
    let (order, quote) = run(c.open_checkout(&Buying {
        holder: user(),
        buyer: UserId(3),
        sku: &"bundle:ops".parse().unwrap(),
        offers: &offers(),
        channel: Channel::Local,
        now: now(),
    }))
    .unwrap();
    assert_eq!(order.id, PurchaseId(2));
    assert_eq!(quote.amount_due, usd(2_940));
}

#[test]
fn a_second_open_checkout_for_the_same_sku_is_the_storage_refusal() {
    let (mut orders, ents) = owner_of_pg();
    orders
        .expect_create_pending()
        .returning(|_, _| Err(RecordOrderError::PendingExists(PurchaseId(5))));
    let c = commerce(orders, ents);
    let err = run(c.open_checkout(&Buying {
        holder: user(),
        buyer: UserId(3),
        sku: &"bundle:ops".parse().unwrap(),
        offers: &offers(),
        channel: Channel::Stripe,
        now: now(),
    }))
    .unwrap_err();
    assert_eq!(
        err,
        PurchaseError::Record(RecordOrderError::PendingExists(PurchaseId(5)))
    );
}

#[test]
fn refunds_are_capped_by_the_cash_left_and_a_full_refund_revokes_what_was_granted() {
    let mut orders = MockOrderRepository::new();
    orders.expect_find().returning(|_| {
        let mut o = paid_pg();
        o.status = OrderStatus::PartiallyRefunded;
        o.refunded = usd(1_000);
        Ok(Some(o))
    });
    orders.expect_history().returning(|_| {
        let mut o = paid_pg();
        o.status = OrderStatus::PartiallyRefunded;
        o.refunded = usd(1_000);
        Ok((vec![o], Vec::new()))
    });
    orders.expect_granted_by().returning(|_| Ok(vec![EntitlementId(11)]));
    orders
        .expect_record_refund()
        .withf(|id, refunded, status, revoked| {
            *id == PurchaseId(1)
                && *refunded == usd(4_900)
                && *status == OrderStatus::Refunded
                && revoked.len() == 1
                && matches!(revoked[0].0.status, entitlements::Status::Revoked { .. })
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let mut ents = MockEntitlementRepository::new();
    ents.expect_find().returning(|_| Ok(Some(pg_grant())));
    let c = commerce(orders, ents);
    // $39.00 of cash is left: $39.01 is refused, as is a refund in another currency.
    let err = run(c.refundable(PurchaseId(1), Some(usd(3_901)))).unwrap_err();
    assert!(matches!(err, RefundOrderError::MoreThanRefundable { .. }), "{err:?}");
    let err = run(c.refundable(PurchaseId(1), Some(Money::from_minor(100, Currency::Eur)))).unwrap_err();
    assert!(matches!(err, RefundOrderError::BadAmount { .. }), "{err:?}");
    // The rest of the cash is a full refund: the order's value, and the grant revoked.
    let order = run(c.refund(PurchaseId(1), Some(usd(3_900)), Actor::System, "test", now())).unwrap();
    assert_eq!(order.status, OrderStatus::Refunded);
}

#[test]
fn the_subscription_is_the_highest_tier_whose_period_contains_now() {
    let plan = |id: i64, sku: &str, from: i64, to: i64| Order {
        id: PurchaseId(id),
        sku: sku.parse().unwrap(),
        period: Some((now() + Duration::days(from), now() + Duration::days(to))),
        allocations: Vec::new(),
        ..paid_pg()
    };
    let mut orders = MockOrderRepository::new();
    orders.expect_history().returning(move |_| {
        Ok((
            vec![
                plan(1, "plan:scale:monthly", -40, -10),
                plan(2, "plan:starter:monthly", -5, 25),
                plan(3, "plan:operator:monthly", -5, 25),
            ],
            Vec::new(),
        ))
    });
    let c = commerce(orders, MockEntitlementRepository::new());
    let current = run(c.subscription(user(), now())).unwrap().unwrap();
    assert_eq!(current.id, PurchaseId(3));
}

#[test]
fn an_anonymous_visitor_is_quoted_list_prices_enterprise_included() {
    let q = super::list_price_quote(&"bundle:ops".parse().unwrap(), &offers(), now()).unwrap();
    assert_eq!(q.price, usd(7_840));
    assert_eq!(q.credit_total, usd(0));
    assert_eq!(q.amount_due, usd(7_840));
    let plan = super::list_price_quote(&"plan:enterprise:monthly".parse().unwrap(), &offers(), now()).unwrap();
    assert_eq!(plan.amount_due, usd(19_900), "an organisation may be the buyer");
    assert!(super::list_price_quote(&"bundle:nope".parse().unwrap(), &offers(), now()).is_err());
}

#[test]
fn a_fixture_order_is_what_the_service_would_record_and_its_credit_counts() {
    use crate::fixtures;
    let offers = fixtures::offers();
    let handbook = fixtures::paid_order(7, user(), "key:on-call-handbook", &offers);
    assert_eq!(handbook.cash_paid, usd(900));
    let mut orders = MockOrderRepository::new();
    let bought = handbook.clone();
    orders
        .expect_history()
        .returning(move |_| Ok((vec![bought.clone()], Vec::new())));
    let mut ents = MockEntitlementRepository::new();
    ents.expect_for_holder().returning(|_| Ok(Vec::new()));
    let c = commerce(orders, ents);
    let sku: Sku = format!("bundle:{}", fixtures::BUNDLE).parse().unwrap();
    let q = run(c.quote(user(), &sku, &offers, catalog::fixtures::now())).unwrap();
    // $9.00 + $99.00 + $199.00 = $307.00, less 20 % = $245.60, less the $9.00 paid = $236.60.
    assert_eq!(q.quote.price, usd(24_560));
    assert_eq!(q.quote.credit_total, usd(900));
    assert_eq!(q.quote.amount_due, usd(23_660));
}
