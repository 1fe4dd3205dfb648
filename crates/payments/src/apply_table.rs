//! The event × state table of [`super::apply`]: every handled event against every state its
//! order can be in, through an in-memory [`PaymentTx`], with the expected outcome and the
//! order's status after it — and each event applied a second time changes nothing more.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use entitlements::ports::NewGrant;
use entitlements::{AuditEntry, Entitlement, EntitlementId, Holder, Status, UserId};
use pricing::{Currency, Money};
use upgrades::ports::{Channel, Fulfilment, Order, OrderRef, OrderStatus, PaymentRefs};
use upgrades::{CreditUse, PurchaseId, Sku};

use super::{Applied, ApplyError, PaymentTx, Policy, TxError, apply};
use crate::events::Event;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}

/// One order (or none) and its entitlements, changed only through the port.
#[derive(Default)]
struct FakeTx {
    order: Mutex<Option<Order>>,
    grants: Mutex<Vec<Entitlement>>,
    notices: Mutex<Vec<mail::Notice>>,
}

impl FakeTx {
    fn with(order: Option<Order>, grants: Vec<Entitlement>) -> Self {
        Self {
            order: Mutex::new(order),
            grants: Mutex::new(grants),
            notices: Mutex::new(Vec::new()),
        }
    }

    fn notice_kinds(&self) -> Vec<&'static str> {
        self.notices.lock().unwrap().iter().map(|n| n.kind.as_str()).collect()
    }

    fn status(&self) -> Option<OrderStatus> {
        self.order.lock().unwrap().as_ref().map(|o| o.status)
    }

    /// What a second application must leave unchanged.
    fn snapshot(&self) -> (Option<Order>, Vec<Entitlement>) {
        let mut grants = self.grants.lock().unwrap().clone();
        for g in &mut grants {
            g.updated_at = now();
        }
        (self.order.lock().unwrap().clone(), grants)
    }

    fn add(&self, g: &NewGrant) -> Entitlement {
        let mut list = self.grants.lock().unwrap();
        let e = Entitlement::grant(
            EntitlementId(list.len() as i64 + 1),
            g.holder,
            g.scope.clone(),
            g.source,
            g.term,
            g.at,
        );
        list.push(e.clone());
        e
    }

    fn pay(&self, id: PurchaseId, f: &Fulfilment, grants: &[NewGrant], from: OrderStatus) -> bool {
        let mut guard = self.order.lock().unwrap();
        let Some(o) = guard.as_mut().filter(|o| o.id == id && o.status == from) else {
            return false;
        };
        o.status = OrderStatus::Paid;
        o.cash_paid = f.cash_paid;
        o.period = f.period;
        o.paid_at = Some(f.at);
        merge(&mut o.refs, &f.refs);
        drop(guard);
        for g in grants {
            self.add(g);
        }
        true
    }
}

fn merge(into: &mut PaymentRefs, from: &PaymentRefs) {
    for (a, b) in [
        (&mut into.checkout_session, &from.checkout_session),
        (&mut into.payment_intent, &from.payment_intent),
        (&mut into.subscription, &from.subscription),
        (&mut into.customer, &from.customer),
    ] {
        if b.is_some() {
            a.clone_from(b);
        }
    }
}

#[async_trait]
impl PaymentTx for FakeTx {
    async fn notify(&self, notice: &mail::Notice) -> Result<(), TxError> {
        self.notices.lock().unwrap().push(notice.clone());
        Ok(())
    }

    async fn order(&self, by: &OrderRef) -> Result<Option<Order>, TxError> {
        let o = self.order.lock().unwrap().clone();
        Ok(o.filter(|o| match by {
            OrderRef::Id(id) => o.id == *id,
            OrderRef::CheckoutSession(s) => o.refs.checkout_session.as_ref() == Some(s),
            OrderRef::PaymentIntent(p) => o.refs.payment_intent.as_ref() == Some(p),
            OrderRef::Subscription(s) => o.refs.subscription.as_ref() == Some(s),
        }))
    }

    async fn fulfil(&self, id: PurchaseId, f: &Fulfilment, grants: &[NewGrant]) -> Result<bool, TxError> {
        Ok(self.pay(id, f, grants, OrderStatus::Pending))
    }

    async fn revive(&self, id: PurchaseId, f: &Fulfilment, grants: &[NewGrant]) -> Result<bool, TxError> {
        Ok(self.pay(id, f, grants, OrderStatus::Cancelled))
    }

    async fn holder_history(&self, _: Holder) -> Result<(Vec<Order>, Vec<CreditUse>), TxError> {
        Ok((self.order.lock().unwrap().iter().cloned().collect(), Vec::new()))
    }

    async fn set_refs(&self, id: PurchaseId, refs: &PaymentRefs) -> Result<(), TxError> {
        if let Some(o) = self.order.lock().unwrap().as_mut().filter(|o| o.id == id) {
            merge(&mut o.refs, refs);
        }
        Ok(())
    }

    async fn make_live(&self, _: PurchaseId, _: DateTime<Utc>) -> Result<bool, TxError> {
        // One order here: it is always the holder's only subscription.
        Ok(true)
    }

    async fn scheduled_plan(&self, _: PurchaseId) -> Result<Option<Sku>, TxError> {
        Ok(None)
    }

    async fn set_scheduled_plan(&self, _: PurchaseId, _: Option<Sku>) -> Result<(), TxError> {
        Ok(())
    }

    async fn dispute(&self, _: &str) -> Result<Option<crate::ports::DisputeRecord>, TxError> {
        Ok(None)
    }

    async fn record_dispute(&self, _: &crate::ports::DisputeRecord) -> Result<(), TxError> {
        Ok(())
    }

    async fn set_cancel_at_period_end(&self, _: PurchaseId, _: bool) -> Result<(), TxError> {
        Ok(())
    }

    async fn end_live(&self, _: PurchaseId) -> Result<(), TxError> {
        Ok(())
    }

    async fn cancel_pending(&self, id: PurchaseId) -> Result<bool, TxError> {
        let mut guard = self.order.lock().unwrap();
        match guard
            .as_mut()
            .filter(|o| o.id == id && o.status == OrderStatus::Pending)
        {
            Some(o) => {
                o.status = OrderStatus::Cancelled;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn entitlements_of(&self, _: PurchaseId) -> Result<Vec<Entitlement>, TxError> {
        Ok(self.grants.lock().unwrap().clone())
    }

    async fn update(&self, e: &Entitlement, _: &AuditEntry) -> Result<(), TxError> {
        for g in self.grants.lock().unwrap().iter_mut().filter(|g| g.id == e.id) {
            *g = e.clone();
        }
        Ok(())
    }

    async fn grant(&self, _: PurchaseId, g: &NewGrant) -> Result<Entitlement, TxError> {
        Ok(self.add(g))
    }

    async fn set_refund(&self, id: PurchaseId, refunded: Money, status: OrderStatus) -> Result<(), TxError> {
        if let Some(o) = self.order.lock().unwrap().as_mut().filter(|o| o.id == id) {
            o.refunded = refunded;
            o.status = status;
        }
        Ok(())
    }

    async fn set_plan(&self, id: PurchaseId, sku: &Sku, period: (DateTime<Utc>, DateTime<Utc>)) -> Result<(), TxError> {
        if let Some(o) = self.order.lock().unwrap().as_mut().filter(|o| o.id == id) {
            o.sku = sku.clone();
            o.period = Some(period);
        }
        Ok(())
    }
}

/// What the table expects of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Changed,
    Ignored,
    Retry,
    Reject,
}
use Outcome::{Changed, Ignored, Reject, Retry};

fn outcome(r: &Result<Applied, ApplyError>) -> Outcome {
    match r {
        Ok(Applied::Changed(_)) => Changed,
        Ok(Applied::Ignored(_)) => Ignored,
        Err(ApplyError::Retry(_)) => Retry,
        Err(ApplyError::Reject(_)) => Reject,
        Err(ApplyError::Store(e)) => panic!("the fake never fails: {e}"),
    }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

fn order(sku: &str, status: OrderStatus) -> Order {
    let plan = sku.starts_with("plan:");
    let paid = !matches!(status, OrderStatus::Pending | OrderStatus::Cancelled);
    Order {
        id: PurchaseId(7),
        holder: Holder::User(UserId(3)),
        buyer: UserId(3),
        sku: sku.parse().unwrap(),
        status,
        list_price: usd(4_900),
        amount_due: usd(4_900),
        cash_paid: if paid { usd(4_900) } else { usd(0) },
        credit_applied: usd(0),
        refunded: match status {
            OrderStatus::PartiallyRefunded => usd(1_000),
            OrderStatus::Refunded => usd(4_900),
            _ => usd(0),
        },
        allocations: vec![upgrades::Allocation {
            slug: "pg-failover".parse().unwrap(),
            amount: usd(4_900),
        }],
        explanation: String::new(),
        channel: Channel::Stripe,
        period: (plan && paid).then(|| (now() - Duration::days(10), now() + Duration::days(20))),
        created_at: now() - Duration::days(10),
        paid_at: paid.then(|| now() - Duration::days(10)),
        refs: PaymentRefs {
            replaces: None,
            checkout_session: Some("cs_1".into()),
            payment_intent: (paid && !plan).then(|| "pi_1".into()),
            subscription: plan.then(|| "sub_1".into()),
            customer: Some("cus_1".into()),
        },
        quote_id: None,
    }
}

fn completed(session: &str, amount: i64) -> Event {
    Event::CheckoutCompleted {
        session: session.into(),
        order: Some(7),
        paid: true,
        payment_intent: Some("pi_1".into()),
        subscription: None,
        customer: Some("cus_1".into()),
        amount_total: Some(amount),
        currency: Some("usd".into()),
    }
}

fn refunded(amount_refunded: i64) -> Event {
    Event::ChargeRefunded {
        payment_intent: "pi_1".into(),
        amount: 4_900,
        amount_refunded,
        refunded: amount_refunded >= 4_900,
    }
}

/// The KEY order's table. Rows: the order's state (`None`: not stored yet). Columns: a paid
/// session for the order's amount; the same session for another amount; another session
/// naming the order; the session expired; a full refund; a partial refund of 10.00.
#[test]
fn every_key_order_event_in_every_state() {
    use OrderStatus::{Cancelled, Paid, PartiallyRefunded, Pending, Refunded};
    let events = [
        ("completed", completed("cs_1", 4_900)),
        ("completed, wrong amount", completed("cs_1", 4_800)),
        ("completed, foreign session", completed("cs_other", 4_900)),
        (
            "expired",
            Event::CheckoutExpired {
                session: "cs_1".into(),
                order: Some(7),
            },
        ),
        ("refunded in full", refunded(4_900)),
        ("refunded in part", refunded(1_000)),
    ];
    type Cell = (Outcome, Option<OrderStatus>);
    let table: [(Option<OrderStatus>, [Cell; 6]); 6] = [
        (
            None,
            [
                (Retry, None),
                (Retry, None),
                (Retry, None),
                (Retry, None),
                (Retry, None),
                (Retry, None),
            ],
        ),
        (
            Some(Pending),
            [
                (Changed, Some(Paid)),
                (Reject, Some(Pending)),
                (Reject, Some(Pending)),
                (Changed, Some(Cancelled)),
                (Retry, Some(Pending)),
                (Retry, Some(Pending)),
            ],
        ),
        (
            Some(Cancelled),
            [
                (Changed, Some(Paid)),
                (Reject, Some(Cancelled)),
                (Reject, Some(Cancelled)),
                (Ignored, Some(Cancelled)),
                (Retry, Some(Cancelled)),
                (Retry, Some(Cancelled)),
            ],
        ),
        (
            Some(Paid),
            [
                (Ignored, Some(Paid)),
                (Reject, Some(Paid)),
                (Reject, Some(Paid)),
                (Ignored, Some(Paid)),
                (Changed, Some(Refunded)),
                (Changed, Some(PartiallyRefunded)),
            ],
        ),
        (
            Some(PartiallyRefunded),
            [
                (Ignored, Some(PartiallyRefunded)),
                (Reject, Some(PartiallyRefunded)),
                (Reject, Some(PartiallyRefunded)),
                (Ignored, Some(PartiallyRefunded)),
                (Changed, Some(Refunded)),
                (Ignored, Some(PartiallyRefunded)),
            ],
        ),
        (
            Some(Refunded),
            [
                (Ignored, Some(Refunded)),
                (Reject, Some(Refunded)),
                (Reject, Some(Refunded)),
                (Ignored, Some(Refunded)),
                (Ignored, Some(Refunded)),
                (Ignored, Some(Refunded)),
            ],
        ),
    ];
    for (state, row) in table {
        for ((name, event), (want, after)) in events.iter().zip(row) {
            let paid_grant = state.filter(|s| !matches!(s, Pending | Cancelled)).map(|_| {
                Entitlement::grant(
                    EntitlementId(1),
                    Holder::User(UserId(3)),
                    entitlements::Scope::Key("pg-failover".parse().unwrap()),
                    entitlements::Source::Purchase,
                    entitlements::Term::Perpetual,
                    now() - Duration::days(10),
                )
            });
            let tx = FakeTx::with(
                state.map(|s| order("key:pg-failover", s)),
                paid_grant.into_iter().collect(),
            );
            let got = run(apply(event, "evt_1", &tx, &Policy::default(), now()));
            assert_eq!(outcome(&got), want, "{state:?} × {name}: {got:?}");
            assert_eq!(tx.status(), after, "{state:?} × {name}: status after");
            // Exactly the mail the change is worth, queued in the event's transaction.
            let mail: &[&str] = match (want, after) {
                (Changed, Some(Paid)) => &["receipt"],
                (Changed, Some(Refunded)) => &["access_ended"],
                _ => &[],
            };
            assert_eq!(tx.notice_kinds(), mail, "{state:?} × {name}: notices");
            if want == Changed && after == Some(Paid) {
                let grants = tx.grants.lock().unwrap().clone();
                assert_eq!(grants.len(), 1, "{state:?} × {name}: one grant");
                assert_eq!(grants[0].status, Status::Active);
            }
            if after == Some(Refunded) && want == Changed {
                assert!(
                    tx.grants
                        .lock()
                        .unwrap()
                        .iter()
                        .all(|g| matches!(g.status, Status::Revoked { .. })),
                    "{state:?} × {name}: a full refund revokes"
                );
            }
            // Delivered twice: the effect of once.
            let once = tx.snapshot();
            let again = run(apply(event, "evt_1", &tx, &Policy::default(), now()));
            assert_ne!(outcome(&again), Changed, "{state:?} × {name} twice: {again:?}");
            assert_eq!(tx.snapshot(), once, "{state:?} × {name} twice changed something");
        }
    }
}

/// The plan order's table. Rows: not stored, pending, paid (period until in 20 days).
/// Columns: the next invoice paid; the next invoice failed; the subscription deleted; updated
/// to `past_due`; updated to `canceled`.
#[test]
fn every_plan_event_in_every_state() {
    use OrderStatus::{Paid, Pending};
    let next_end = (now() + Duration::days(50)).timestamp();
    let events = [
        (
            "invoice paid",
            Event::InvoicePaid {
                subscription: "sub_1".into(),
                period_start: None,
                period_end: next_end,
                amount_paid: 4_900,
                order: None,
            },
        ),
        (
            "invoice failed",
            Event::InvoicePaymentFailed {
                subscription: "sub_1".into(),
                period_end: next_end,
            },
        ),
        (
            "deleted",
            Event::SubscriptionDeleted {
                subscription: "sub_1".into(),
            },
        ),
        (
            "past due",
            Event::SubscriptionUpdated {
                subscription: "sub_1".into(),
                status: "past_due".into(),
                period_end: None,
                sku: None,
                order: None,
                cancel_at_period_end: None,
            },
        ),
        (
            "canceled",
            Event::SubscriptionUpdated {
                subscription: "sub_1".into(),
                status: "canceled".into(),
                period_end: None,
                sku: None,
                order: None,
                cancel_at_period_end: None,
            },
        ),
        (
            "cancel at period end",
            Event::SubscriptionUpdated {
                subscription: "sub_1".into(),
                status: "active".into(),
                period_end: None,
                sku: None,
                order: None,
                cancel_at_period_end: Some(true),
            },
        ),
    ];
    // The grant's status after each event (paid row).
    let table: [(Option<OrderStatus>, [Outcome; 6]); 3] = [
        (None, [Retry, Retry, Retry, Retry, Retry, Retry]),
        (Some(Pending), [Retry, Retry, Ignored, Retry, Retry, Retry]),
        (Some(Paid), [Changed, Changed, Changed, Changed, Changed, Changed]),
    ];
    for (state, row) in table {
        for ((name, event), want) in events.iter().zip(row) {
            let grant = (state == Some(Paid)).then(|| {
                Entitlement::grant(
                    EntitlementId(1),
                    Holder::User(UserId(3)),
                    entitlements::Scope::Plan {
                        tier: catalog::Tier::Operator,
                    },
                    entitlements::Source::Subscription,
                    entitlements::Term::TimeBound {
                        period_end: now() + Duration::days(20),
                    },
                    now() - Duration::days(10),
                )
            });
            let tx = FakeTx::with(
                state.map(|s| order("plan:operator:monthly", s)),
                grant.into_iter().collect(),
            );
            let got = run(apply(event, "evt_1", &tx, &Policy::default(), now()));
            assert_eq!(outcome(&got), want, "{state:?} × {name}: {got:?}");
            if state == Some(Paid) {
                let g = tx.grants.lock().unwrap()[0].clone();
                match *name {
                    "invoice paid" => {
                        assert_eq!(g.status, Status::Active);
                        assert_eq!(
                            g.term,
                            entitlements::Term::TimeBound {
                                period_end: Utc.timestamp_opt(next_end, 0).unwrap()
                            }
                        );
                    }
                    "invoice failed" | "past due" => {
                        assert!(matches!(g.status, Status::PastDue { .. }), "{name}: {g:?}")
                    }
                    // Access lasts until the period ends; only the flag is recorded.
                    "cancel at period end" => assert_eq!(g.status, Status::Active, "{name}: {g:?}"),
                    _ => assert!(matches!(g.status, Status::Revoked { .. }), "{name}: {g:?}"),
                }
            }
            let once = tx.snapshot();
            run(apply(event, "evt_1", &tx, &Policy::default(), now())).ok();
            assert_eq!(tx.snapshot(), once, "{state:?} × {name} twice changed something");
        }
    }
}

fn dispute(kind: &str, status: &str) -> Event {
    if kind == "created" {
        Event::DisputeCreated {
            dispute: "dp_1".into(),
            payment_intent: Some("pi_1".into()),
            amount: 4_900,
            reason: "fraudulent".into(),
        }
    } else {
        Event::DisputeClosed {
            dispute: "dp_1".into(),
            payment_intent: Some("pi_1".into()),
            status: status.into(),
        }
    }
}

/// Disputes × the KEY order's states (issue 12). Rows: the order's state. Columns: a dispute
/// opened, closed won, closed lost, closed with another outcome. Cells: the outcome, the order's
/// status after, and the grant's status after (`a` active, `d` disputed, `r` revoked, `-` none).
#[test]
fn every_dispute_event_in_every_key_order_state() {
    use OrderStatus::{Paid, Pending, Refunded};
    let events = [
        ("opened", dispute("created", "needs_response")),
        ("won", dispute("closed", "won")),
        ("lost", dispute("closed", "lost")),
        ("closed otherwise", dispute("closed", "charge_refunded")),
    ];
    type Cell = (Outcome, Option<OrderStatus>, char);
    let table: [(Option<OrderStatus>, [Cell; 4]); 4] = [
        (
            None,
            [
                (Retry, None, '-'),
                (Retry, None, '-'),
                (Retry, None, '-'),
                (Retry, None, '-'),
            ],
        ),
        // A pending order has no payment to dispute yet: retried until its payment is known.
        (
            Some(Pending),
            [
                (Retry, Some(Pending), '-'),
                (Retry, Some(Pending), '-'),
                (Retry, Some(Pending), '-'),
                (Retry, Some(Pending), '-'),
            ],
        ),
        (
            Some(Paid),
            [
                (Changed, Some(Paid), 'd'),
                (Changed, Some(Paid), 'a'),
                (Changed, Some(Refunded), 'r'),
                (Ignored, Some(Paid), 'a'),
            ],
        ),
        (
            Some(Refunded),
            [
                (Changed, Some(Refunded), 'r'),
                (Changed, Some(Refunded), 'r'),
                (Changed, Some(Refunded), 'r'),
                (Ignored, Some(Refunded), 'r'),
            ],
        ),
    ];
    for (state, row) in table {
        for ((name, event), (want, after, grant_after)) in events.iter().zip(row) {
            let grant = state.filter(|s| !matches!(s, Pending)).map(|s| {
                let mut g = Entitlement::grant(
                    EntitlementId(1),
                    Holder::User(UserId(3)),
                    entitlements::Scope::Key("pg-failover".parse().unwrap()),
                    entitlements::Source::Purchase,
                    entitlements::Term::Perpetual,
                    now() - Duration::days(10),
                );
                if s == Refunded {
                    g.revoke(
                        entitlements::RevokeReason::Refund,
                        entitlements::Actor::System,
                        "refund",
                        now(),
                    )
                    .unwrap();
                }
                g
            });
            let tx = FakeTx::with(state.map(|s| order("key:pg-failover", s)), grant.into_iter().collect());
            let got = run(apply(event, "evt_1", &tx, &Policy::default(), now()));
            assert_eq!(outcome(&got), want, "{state:?} × {name}: {got:?}");
            assert_eq!(tx.status(), after, "{state:?} × {name}: status after");
            let grants = tx.grants.lock().unwrap().clone();
            let g = grants.first().map_or('-', |g| match g.status {
                Status::Active => 'a',
                Status::Disputed { .. } => 'd',
                Status::Revoked { .. } => 'r',
                Status::PastDue { .. } => 'p',
            });
            assert_eq!(g, grant_after, "{state:?} × {name}: grant after");
        }
    }
}

/// Plan changes (issue 12) over the mocked transaction port: the change's invoice fulfils the
/// change order for exactly its quote, ends the old plan and moves the live marker; a wrong
/// amount or another subscription's invoice changes nothing.
mod plan_change {
    use super::*;
    use crate::ports::MockPaymentTx;

    fn old() -> Order {
        let mut o = order("plan:starter:monthly", OrderStatus::Paid);
        o.id = PurchaseId(1);
        o
    }

    fn change() -> Order {
        let mut o = order("plan:operator:monthly", OrderStatus::Pending);
        o.id = PurchaseId(2);
        o.amount_due = usd(1_701);
        o.refs = PaymentRefs {
            replaces: Some(PurchaseId(1)),
            ..PaymentRefs::default()
        };
        o
    }

    fn invoice(subscription: &str, amount: i64) -> Event {
        Event::InvoicePaid {
            subscription: subscription.into(),
            period_start: Some(now().timestamp()),
            period_end: (now() + Duration::days(30)).timestamp(),
            amount_paid: amount,
            order: Some(2),
        }
    }

    fn tx_with_orders() -> MockPaymentTx {
        let mut tx = MockPaymentTx::new();
        tx.expect_order().returning(|by| {
            Ok(match by {
                OrderRef::Id(PurchaseId(1)) => Some(old()),
                OrderRef::Id(PurchaseId(2)) => Some(change()),
                _ => None,
            })
        });
        tx
    }

    fn starter_grant() -> Entitlement {
        Entitlement::grant(
            EntitlementId(11),
            Holder::User(UserId(3)),
            entitlements::Scope::Plan {
                tier: catalog::Tier::Starter,
            },
            entitlements::Source::Subscription,
            entitlements::Term::TimeBound {
                period_end: now() + Duration::days(20),
            },
            now() - Duration::days(10),
        )
    }

    #[test]
    fn the_change_invoice_fulfils_the_change_for_its_quote_and_ends_the_old_plan() {
        let mut tx = tx_with_orders();
        tx.expect_entitlements_of()
            .withf(|id| *id == PurchaseId(1))
            .returning(|_| Ok(vec![starter_grant()]));
        tx.expect_update()
            .withf(|e, _| matches!(e.status, Status::Revoked { .. }) && e.id == EntitlementId(11))
            .times(1)
            .returning(|_, _| Ok(()));
        tx.expect_set_plan()
            .withf(|id, _, (_, end)| *id == PurchaseId(1) && *end == now())
            .times(1)
            .returning(|_, _, _| Ok(()));
        tx.expect_fulfil()
            .withf(|id, f, grants| {
                *id == PurchaseId(2)
                    && f.cash_paid == usd(1_701)
                    && f.refs.subscription.as_deref() == Some("sub_1")
                    && grants.len() == 1
            })
            .times(1)
            .returning(|_, _, _| Ok(true));
        tx.expect_make_live()
            .withf(|id, _| *id == PurchaseId(2))
            .times(1)
            .returning(|_, _| Ok(true));
        // The change's receipt, queued in the same transaction.
        tx.expect_notify()
            .withf(|n| n.kind == mail::NoticeKind::Receipt && n.order == Some(2) && n.account == Some(3))
            .times(1)
            .returning(|_| Ok(()));
        let applied = run(apply(&invoice("sub_1", 1_701), "evt_1", &tx, &Policy::default(), now())).unwrap();
        assert!(
            matches!(applied, Applied::Changed(ref m) if m.contains("replaced order #1")),
            "{applied:?}"
        );
    }

    #[test]
    fn an_amount_other_than_the_quote_or_another_subscription_changes_nothing() {
        for (sub, amount, why) in [
            ("sub_1", 1_700, "is due"),
            ("sub_other", 1_701, "changes another subscription"),
        ] {
            let mut tx = tx_with_orders();
            tx.expect_fulfil().never();
            tx.expect_update().never();
            tx.expect_make_live().never();
            tx.expect_notify().never();
            match run(apply(&invoice(sub, amount), "evt_1", &tx, &Policy::default(), now())) {
                Err(ApplyError::Reject(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("{sub} {amount}: {other:?}"),
            }
        }
    }
}
