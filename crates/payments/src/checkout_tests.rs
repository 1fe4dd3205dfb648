//! `CheckoutService` over mocked ports: the exact request the provider gets, and the cases
//! where an unlucky buyer could pay twice or lose credit.

use std::collections::BTreeMap;
use std::sync::Arc;

use catalog::Tier;
use chrono::{DateTime, Duration, TimeZone, Utc};
use entitlements::ports::MockEntitlementRepository;
use entitlements::{Holder, UserId};
use mockall::predicate::eq;
use pricing::{Currency, Money, Offers, PriceList};
use upgrades::ports::{Channel, MockOrderRepository, Order, OrderStatus, PaymentRefs};
use upgrades::service::Commerce;
use upgrades::{PurchaseId, Sku};

use super::*;
use crate::ports::{CheckoutSession, MockPaymentGateway, SessionState};

const KEY: &str = "k8s-incident-101";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}

fn holder() -> Holder {
    Holder::User(UserId(3))
}

fn sku() -> Sku {
    format!("key:{KEY}").parse().unwrap()
}

fn offers() -> Offers {
    let mut text = String::from(
        "currency = \"USD\"\n[single]\nstarter = \"19.00\"\noperator = \"49.00\"\nscale = \"99.00\"\nenterprise = \"249.00\"\n",
    );
    for tier in ["starter", "operator", "scale", "enterprise"] {
        text.push_str(&format!("[plans.{tier}]\nmonthly = \"10.00\"\nannual = \"100.00\"\n"));
    }
    let prices = PriceList::parse(&text, "pricing.toml").unwrap();
    Offers::new(
        prices,
        Vec::new(),
        BTreeMap::from([(KEY.parse().unwrap(), Tier::Operator)]),
    )
}

fn order(id: i64, status: OrderStatus, refs: PaymentRefs) -> Order {
    Order {
        id: PurchaseId(id),
        holder: holder(),
        buyer: UserId(3),
        sku: sku(),
        status,
        list_price: usd(4_900),
        amount_due: usd(4_900),
        cash_paid: if status == OrderStatus::Pending {
            usd(0)
        } else {
            usd(4_900)
        },
        credit_applied: usd(0),
        refunded: usd(0),
        allocations: Vec::new(),
        explanation: String::new(),
        channel: Channel::Stripe,
        period: None,
        created_at: now() - Duration::hours(1),
        paid_at: None,
        refs,
        quote_id: Some("q_1".into()),
    }
}

fn earlier(payment_intent: Option<&str>) -> Order {
    order(
        5,
        OrderStatus::Pending,
        PaymentRefs {
            checkout_session: Some("cs_old".into()),
            payment_intent: payment_intent.map(str::to_owned),
            ..PaymentRefs::default()
        },
    )
}

fn service(orders: MockOrderRepository, gateway: MockPaymentGateway) -> CheckoutService {
    let mut ents = MockEntitlementRepository::new();
    ents.expect_for_holder().returning(|_| Ok(Vec::new()));
    let orders: Arc<dyn OrderRepository> = Arc::new(orders);
    let commerce = Commerce::new(orders.clone(), Arc::new(ents));
    CheckoutService::new(commerce, orders, Arc::new(gateway), "https://shop.example")
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn stripe() -> MockPaymentGateway {
    let mut g = MockPaymentGateway::new();
    g.expect_is_test_mode().return_const(false);
    g
}

#[test]
fn a_new_checkout_expires_the_earlier_one_at_the_provider_then_opens_for_exactly_the_quote() {
    let mut orders = MockOrderRepository::new();
    orders
        .expect_history()
        .returning(|_| Ok((vec![earlier(None)], Vec::new())));
    orders
        .expect_cancel_pending()
        .with(eq(PurchaseId(5)))
        .times(1)
        .returning(|_| Ok(true));
    orders
        .expect_create_pending()
        .times(1)
        .returning(|_, _| Ok(order(6, OrderStatus::Pending, PaymentRefs::default())));
    orders.expect_customer().returning(|_| Ok(Some("cus_1".into())));
    orders
        .expect_set_refs()
        .withf(|id, refs| *id == PurchaseId(6) && refs.checkout_session.as_deref() == Some("cs_new"))
        .times(1)
        .returning(|_, _| Ok(()));
    let mut g = stripe();
    g.expect_expire_checkout()
        .with(eq("cs_old"))
        .times(1)
        .returning(|_| Ok(true));
    g.expect_create_checkout()
        .withf(|r| {
            r.order_id == 6
                && r.sku == format!("key:{KEY}")
                && r.mode == CheckoutMode::Payment
                && r.unit_amount == usd(4_900)
                && r.credit.is_none()
                && r.customer == "cus_1"
                && r.holder == "user:3"
                && r.success_url == "https://shop.example/checkout/return?order=6"
                && r.cancel_url == "https://shop.example/checkout/return?order=6&cancelled=1"
        })
        .times(1)
        .returning(|_| {
            Ok(CheckoutSession {
                id: "cs_new".into(),
                url: "https://checkout.stripe.com/c/pay/cs_new".into(),
            })
        });
    let started =
        run(service(orders, g).start(holder(), UserId(3), "a@example.com", &sku(), &offers(), now())).unwrap();
    assert_eq!(started.checkout_url, "https://checkout.stripe.com/c/pay/cs_new");
    assert_eq!(started.order_id, PurchaseId(6));
}

#[test]
fn an_earlier_checkout_being_paid_is_never_cancelled_and_no_second_one_opens() {
    // Its payment is recorded here…
    let mut orders = MockOrderRepository::new();
    orders
        .expect_history()
        .returning(|_| Ok((vec![earlier(Some("pi_1"))], Vec::new())));
    orders.expect_cancel_pending().never();
    orders.expect_create_pending().never();
    let mut g = stripe();
    g.expect_expire_checkout().never();
    let err = run(service(orders, g).start(holder(), UserId(3), "", &sku(), &offers(), now())).unwrap_err();
    assert_eq!(err, CheckoutError::InProgress(PurchaseId(5)));

    // …or only the provider knows (the session is complete there: it cannot be expired).
    let mut orders = MockOrderRepository::new();
    orders
        .expect_history()
        .returning(|_| Ok((vec![earlier(None)], Vec::new())));
    orders.expect_cancel_pending().never();
    orders.expect_create_pending().never();
    let mut g = stripe();
    g.expect_expire_checkout().times(1).returning(|_| Ok(false));
    let err = run(service(orders, g).start(holder(), UserId(3), "", &sku(), &offers(), now())).unwrap_err();
    assert_eq!(err, CheckoutError::InProgress(PurchaseId(5)));
}

#[test]
fn a_provider_failure_cancels_the_new_order_so_its_credit_is_released() {
    let mut orders = MockOrderRepository::new();
    orders.expect_history().returning(|_| Ok((Vec::new(), Vec::new())));
    orders
        .expect_create_pending()
        .returning(|_, _| Ok(order(6, OrderStatus::Pending, PaymentRefs::default())));
    orders.expect_customer().returning(|_| Ok(Some("cus_1".into())));
    orders
        .expect_cancel_pending()
        .with(eq(PurchaseId(6)))
        .times(1)
        .returning(|_| Ok(true));
    let mut g = stripe();
    g.expect_create_checkout()
        .returning(|_| Err(GatewayError::Unreachable("timeout".into())));
    let err = run(service(orders, g).start(holder(), UserId(3), "", &sku(), &offers(), now())).unwrap_err();
    assert!(
        matches!(err, CheckoutError::Gateway(GatewayError::Unreachable(_))),
        "{err:?}"
    );
}

#[test]
fn the_return_page_fulfils_only_a_session_paid_for_the_orders_amount_and_currency() {
    let pending = order(
        6,
        OrderStatus::Pending,
        PaymentRefs {
            checkout_session: Some("cs_6".into()),
            ..PaymentRefs::default()
        },
    );
    for (amount, currency, fulfils) in [(4_900, "usd", true), (4_800, "usd", false), (4_900, "eur", false)] {
        let mut orders = MockOrderRepository::new();
        orders.expect_fulfil().times(usize::from(fulfils)).returning(|_, _, _| {
            let mut paid = order(6, OrderStatus::Paid, PaymentRefs::default());
            paid.paid_at = Some(now());
            Ok((paid, true))
        });
        let mut g = stripe();
        g.expect_retrieve_session().with(eq("cs_6")).returning(move |_| {
            Ok(SessionState {
                id: "cs_6".into(),
                order_id: Some(6),
                paid: true,
                payment_intent: Some("pi_6".into()),
                subscription: None,
                customer: Some("cus_1".into()),
                amount_total: Some(amount),
                currency: Some(currency.into()),
                open_url: None,
            })
        });
        let after = run(service(orders, g).reconcile(pending.clone(), now())).unwrap();
        assert_eq!(after.status == OrderStatus::Paid, fulfils, "{amount} {currency}");
    }
}

#[test]
fn refunds_go_to_the_provider_with_a_key_per_order_amount_and_refunds_so_far() {
    let paid = order(
        7,
        OrderStatus::Paid,
        PaymentRefs {
            payment_intent: Some("pi_7".into()),
            ..PaymentRefs::default()
        },
    );
    let mut orders = MockOrderRepository::new();
    let found = paid.clone();
    orders.expect_find().returning(move |_| Ok(Some(found.clone())));
    let history = paid.clone();
    orders
        .expect_history()
        .returning(move |_| Ok((vec![history.clone()], Vec::new())));
    orders.expect_record_refund().never();
    let mut g = stripe();
    g.expect_refund()
        .with(eq("pi_7"), eq(Some(usd(1_000))), eq("keys-refund-7-after-0-1000"))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let done = run(service(orders, g).refund(PurchaseId(7), Some(usd(1_000)), Actor::System, "test", now())).unwrap();
    assert!(matches!(done, Refunded::Sent(_)));
}

/// The holder paid $49.00 for the KEY today: the $10.00 Operator plan is fully credited.
fn key_bought_today() -> MockOrderRepository {
    let bought = upgrades::fixtures::paid_order(1, holder(), &format!("key:{KEY}"), &offers());
    let mut orders = MockOrderRepository::new();
    orders
        .expect_history()
        .returning(move |_| Ok((vec![bought.clone()], Vec::new())));
    orders.expect_customer().returning(|_| Ok(Some("cus_1".into())));
    orders
}

#[test]
fn a_fully_credited_plan_is_a_real_subscription_with_a_one_off_coupon_for_the_first_invoice() {
    let plan: Sku = "plan:operator:monthly".parse().unwrap();
    let mut orders = key_bought_today();
    orders.expect_live_plan().returning(|_| Ok(None));
    orders.expect_create_pending().times(1).returning(|o, _| {
        assert_eq!(
            (o.amount_due, o.list_price),
            (usd(0), usd(1_000)),
            "the quote: fully credited"
        );
        let mut p = order(7, OrderStatus::Pending, PaymentRefs::default());
        p.sku = o.sku.clone();
        p.amount_due = o.amount_due;
        Ok(p)
    });
    // Never fulfilled on the spot: no subscription would exist and access would lapse.
    orders.expect_fulfil().never();
    orders.expect_set_refs().times(1).returning(|_, _| Ok(()));
    let mut g = stripe();
    g.expect_create_checkout()
        .withf(|r| {
            r.mode == CheckoutMode::Subscription
                && r.sku == "plan:operator:monthly"
                && r.unit_amount == usd(1_000)
                && r.credit == Some(usd(1_000))
        })
        .times(1)
        .returning(|_| {
            Ok(CheckoutSession {
                id: "cs_plan".into(),
                url: "https://checkout.stripe.com/c/pay/cs_plan".into(),
            })
        });
    let started = run(service(orders, g).start(holder(), UserId(3), "a@example.com", &plan, &offers(), now())).unwrap();
    assert_eq!(started.session_id.as_deref(), Some("cs_plan"));
}

#[test]
fn a_key_with_nothing_left_to_pay_is_granted_without_a_provider_session() {
    // A second KEY of the same tier after a full refund is not this case; a bundle whose members
    // are all owned is: the gateway is never called.
    let bundle_offers = {
        let o = offers();
        let bundle = pricing::Bundle::new(
            "pair".parse().unwrap(),
            "Pair",
            pricing::BasisPoints::new(2_000).unwrap(),
            vec![KEY.parse().unwrap(), "other-key".parse().unwrap()],
        );
        let mut tiers: BTreeMap<catalog::Slug, Tier> = BTreeMap::from([(KEY.parse().unwrap(), Tier::Operator)]);
        tiers.insert("other-key".parse().unwrap(), Tier::Operator);
        Offers::new(o.prices().clone(), vec![bundle], tiers)
    };
    let first = upgrades::fixtures::paid_order(1, holder(), &format!("key:{KEY}"), &bundle_offers);
    let second = upgrades::fixtures::paid_order(2, holder(), "key:other-key", &bundle_offers);
    let mut orders = MockOrderRepository::new();
    orders
        .expect_history()
        .returning(move |_| Ok((vec![first.clone(), second.clone()], Vec::new())));
    orders.expect_create_pending().times(1).returning(|o, _| {
        let mut p = order(8, OrderStatus::Pending, PaymentRefs::default());
        p.sku = o.sku.clone();
        p.amount_due = o.amount_due;
        Ok(p)
    });
    orders.expect_fulfil().times(1).returning(|id, _, _| {
        let mut p = order(id.0, OrderStatus::Paid, PaymentRefs::default());
        p.amount_due = usd(0);
        Ok((p, true))
    });
    let mut g = stripe();
    g.expect_create_checkout().never();
    let bundle: Sku = "bundle:pair".parse().unwrap();
    let started =
        run(service(orders, g).start(holder(), UserId(3), "a@example.com", &bundle, &bundle_offers, now())).unwrap();
    assert_eq!(started.session_id, None);
    assert_eq!(started.checkout_url, "/checkout/return?order=8");
}

#[test]
fn resuming_offers_the_providers_page_only_while_it_is_open_and_is_this_orders() {
    let pending = order(
        6,
        OrderStatus::Pending,
        PaymentRefs {
            checkout_session: Some("cs_6".into()),
            ..PaymentRefs::default()
        },
    );
    let page = "https://checkout.stripe.com/c/pay/cs_6";
    // (session id, its order, paid, url) → offered?
    let cases = [
        ("cs_6", Some(6), false, Some(page), true),
        ("cs_6", Some(6), false, None, false),
        ("cs_6", Some(6), true, Some(page), false),
        ("cs_6", Some(7), false, Some(page), false),
        ("cs_6", None, false, Some(page), false),
        ("cs_other", Some(6), false, Some(page), false),
        ("cs_6", Some(6), false, Some("javascript:alert(1)"), false),
    ];
    for (id, order_id, paid, url, offered) in cases {
        let mut g = stripe();
        g.expect_retrieve_session().with(eq("cs_6")).returning(move |_| {
            Ok(SessionState {
                id: id.into(),
                order_id,
                paid,
                open_url: url.map(str::to_owned),
                ..SessionState::default()
            })
        });
        let got = run(service(MockOrderRepository::new(), g).resume(&pending)).unwrap();
        assert_eq!(got.is_some(), offered, "{id} {order_id:?} {paid} {url:?}");
    }
    // Not pending: refused without asking the provider.
    let paid = order(6, OrderStatus::Paid, pending.refs.clone());
    let err = run(service(MockOrderRepository::new(), stripe()).resume(&paid)).unwrap_err();
    assert!(matches!(err, CheckoutError::NotPending(_)), "{err:?}");
    // No session (a plan change charged directly): nothing to resume.
    let bare = order(6, OrderStatus::Pending, PaymentRefs::default());
    assert_eq!(
        run(service(MockOrderRepository::new(), stripe()).resume(&bare)).unwrap(),
        None
    );
}

/// A subscription paid at Stripe has no PaymentIntent the shop holds: an admin refund is
/// refused with what to do, never recorded here without money going back.
#[test]
fn a_subscription_paid_at_stripe_is_not_refunded_here_without_money_going_back() {
    let mut paid = order(
        9,
        OrderStatus::Paid,
        PaymentRefs {
            subscription: Some("sub_9".into()),
            ..PaymentRefs::default()
        },
    );
    paid.channel = Channel::Stripe;
    assert!(paid.cash_paid.minor() > 0, "{paid:?}");
    let mut orders = MockOrderRepository::new();
    let found = paid.clone();
    orders.expect_find().returning(move |_| Ok(Some(found.clone())));
    let history = paid.clone();
    orders
        .expect_history()
        .returning(move |_| Ok((vec![history.clone()], Vec::new())));
    orders.expect_record_refund().never();
    let mut g = stripe();
    g.expect_refund().never();
    let err = run(service(orders, g).refund(PurchaseId(9), None, Actor::System, "test", now())).unwrap_err();
    assert!(
        matches!(&err, RefundRequestError::AtProviderOnly(id, sub) if id.0 == 9 && sub == "sub_9"),
        "{err:?}"
    );
    assert!(err.to_string().contains("Stripe Dashboard"), "{err}");
}
