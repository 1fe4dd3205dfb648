//! # payments-local — the local payment mode
//!
//! The embedded default's payment provider: no network, clearly test mode. [`LocalGateway`]
//! implements [`PaymentGateway`]; its checkout is a page of the shop (`/pay/local/{session}`)
//! whose actions are this crate's: [`LocalGateway::pay`] and [`LocalGateway::cancel_checkout`]
//! emit what Stripe would (`checkout.session.completed` — plus `invoice.paid` for a plan — or
//! `checkout.session.expired`), a refund emits `charge.refunded`, and
//! [`LocalGateway::cancel_subscription`] (the local billing portal) emits
//! `customer.subscription.updated` with `cancel_at_period_end` (as Stripe's portal does: the
//! plan ends at the period's end, when Stripe would send `customer.subscription.deleted`, which
//! this mode never sends by itself). Every event is signed with the first webhook secret exactly
//! as Stripe signs and goes through [`payments::intake::receive`], the same intake as
//! `/webhooks/stripe`; the worker applies them like Stripe's.
//!
//! A checkout here can be paid for [`payments::checkout::CHECKOUT_PAYABLE`] after it opens;
//! the payment is recorded on the order (`start_payment`) *before* its events are emitted, so
//! the housekeeping, which never expires an order whose payment started, cannot cancel it
//! while the worker catches up, and a second payment of the same checkout is refused.

use std::sync::Arc;

use async_trait::async_trait;
use catalog::Clock;
use payments::checkout::{CheckoutStanding, holder_text, payment_started, return_path, standing};
use payments::intake::{WebhookError, receive};
use payments::ports::{
    CatalogItem, CheckoutRequest, CheckoutSession, GatewayError, InboxRepository, PaymentGateway, PlanChange,
    SessionState, SyncReport,
};
use payments::signature;
use pricing::Money;
use upgrades::Sku;
use upgrades::ports::{Order, OrderRef, OrderRepository, OrderStoreError, PaymentRefs};

/// Why a local action failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The checkout is closed (cancelled, left unfinished too long) or already being paid.
    #[error("this checkout has closed: it was closed or is already being paid; start again from the KEY's page")]
    Closed,
    /// The checkout was paid already.
    #[error("this checkout is already paid: find what you bought under Your KEYS (/account/keys)")]
    Paid,
    /// The order storage failed.
    #[error("orders unavailable: {0}")]
    Store(#[from] OrderStoreError),
    /// The event could not be taken in.
    #[error("the payment event was not taken in: {0}")]
    Intake(#[from] WebhookError),
}

/// The local payment gateway.
pub struct LocalGateway {
    inbox: Arc<dyn InboxRepository>,
    orders: Arc<dyn OrderRepository>,
    secrets: Arc<Vec<String>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LocalGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalGateway")
    }
}

/// A fresh provider-style id: `prefix` and 24 random hex digits.
fn rand_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &hex[..24])
}

impl LocalGateway {
    /// The local gateway over the inbox it emits into (signing with the first of `secrets`).
    #[must_use]
    pub fn new(
        inbox: Arc<dyn InboxRepository>,
        orders: Arc<dyn OrderRepository>,
        secrets: Arc<Vec<String>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inbox,
            orders,
            secrets,
            clock,
        }
    }

    /// The order of a local checkout session.
    ///
    /// # Errors
    /// The storage error.
    pub async fn order_of_session(&self, id: &str) -> Result<Option<Order>, OrderStoreError> {
        self.orders.find_by_ref(&OrderRef::CheckoutSession(id.to_owned())).await
    }

    /// The order of `session`, if it can be paid now.
    ///
    /// # Errors
    /// [`LocalError::Closed`] or [`LocalError::Paid`] (see [`standing`]).
    pub fn payable(&self, order: &Order) -> Result<(), LocalError> {
        match standing(order, self.clock.now()) {
            CheckoutStanding::Payable => Ok(()),
            CheckoutStanding::Closed => Err(LocalError::Closed),
            CheckoutStanding::Paid => Err(LocalError::Paid),
        }
    }

    /// Emits a Stripe-format event, signed as Stripe signs, through the webhook intake; returns
    /// its id.
    ///
    /// # Errors
    /// [`WebhookError`] from the intake.
    pub async fn emit(&self, event_type: &str, object: serde_json::Value) -> Result<String, WebhookError> {
        let now = self.clock.now();
        let id = rand_id("evt_local_");
        let body = payments::events::Envelope {
            id: id.clone(),
            event_type: event_type.to_owned(),
            created: now.timestamp(),
            object,
        }
        .to_json();
        let secret = self.secrets.first().cloned().unwrap_or_default();
        let header = signature::sign(body.as_bytes(), &secret, now.timestamp());
        receive(self.inbox.as_ref(), &self.secrets, now, body.as_bytes(), Some(&header)).await?;
        Ok(id)
    }

    fn session_object(&self, session: &str, order: &Order) -> serde_json::Value {
        serde_json::json!({
            "id": session,
            "object": "checkout.session",
            "client_reference_id": order.id.0.to_string(),
            "customer": order.refs.customer,
            "currency": order.amount_due.currency().code().to_lowercase(),
            "created": self.clock.now().timestamp(),
            "livemode": false,
            "metadata": {
                "order_id": order.id.0.to_string(),
                "sku": order.sku.to_string(),
                "holder": holder_text(order.holder),
            },
        })
    }

    /// Pays checkout `session` of `order` (which the caller may act on): records the payment
    /// on the order, then emits `checkout.session.completed` (and, for a plan, the first
    /// `invoice.paid`). Returns where the buyer goes next (the return page).
    ///
    /// # Errors
    /// [`LocalError::Closed`] / [`LocalError::Paid`] when it cannot be paid (also when another
    /// payment of it started since it was read: never a second payment), storage or intake
    /// errors.
    pub async fn pay(&self, session: &str, order: &Order) -> Result<String, LocalError> {
        self.payable(order)?;
        if let Some(replaced) = order.refs.replaces {
            return self.pay_plan_change(order, replaced).await;
        }
        let now = self.clock.now();
        let plan = matches!(order.sku, Sku::Plan { .. });
        let payment_intent = (!plan).then(|| rand_id("pi_local_"));
        let subscription = plan.then(|| rand_id("sub_local_"));
        let refs = PaymentRefs {
            payment_intent: payment_intent.clone(),
            subscription: subscription.clone(),
            ..Default::default()
        };
        if !self.orders.start_payment(order.id, &refs).await? {
            return Err(LocalError::Closed);
        }
        let mut object = self.session_object(session, order);
        object["status"] = "complete".into();
        object["payment_status"] = "paid".into();
        object["amount_total"] = order.amount_due.minor().into();
        object["mode"] = if plan { "subscription" } else { "payment" }.into();
        object["payment_intent"] = payment_intent.map_or(serde_json::Value::Null, Into::into);
        object["subscription"] = subscription.clone().map_or(serde_json::Value::Null, Into::into);
        self.emit("checkout.session.completed", object).await?;
        if let (Some(sub), Sku::Plan { interval, .. }) = (subscription, &order.sku) {
            let end = upgrades::service::period_end(now, *interval);
            // Paid already: a lost first invoice only delays the period, as with Stripe.
            if let Err(err) = self.emit(
                "invoice.paid",
                serde_json::json!({
                    "id": rand_id("in_local_"),
                    "object": "invoice",
                    "subscription": sub,
                    "amount_paid": order.amount_due.minor(),
                    "billing_reason": "subscription_create",
                    "created": now.timestamp(),
                    "lines": {"object": "list", "data": [{"period": {"start": now.timestamp(), "end": end.timestamp()}}]},
                }),
            )
            .await
            {
                tracing::warn!(error = %err, "local invoice.paid not taken in");
            }
        }
        Ok(return_path(order.id))
    }

    /// Pays plan change `order` of the subscription of order `replaced`, as Stripe does when
    /// the subscription's price changes with the period restarting today: the invoice for the
    /// quoted amount is paid (`invoice.paid` naming the change's order in the subscription's
    /// metadata), then `customer.subscription.updated` carries the new plan.
    async fn pay_plan_change(&self, order: &Order, replaced: upgrades::PurchaseId) -> Result<String, LocalError> {
        let now = self.clock.now();
        let old = self
            .orders
            .find_by_ref(&OrderRef::Id(replaced))
            .await?
            .ok_or(LocalError::Closed)?;
        let (Some(sub), Sku::Plan { interval, .. }) = (old.refs.subscription.clone(), &order.sku) else {
            return Err(LocalError::Closed);
        };
        let refs = PaymentRefs {
            subscription: Some(sub.clone()),
            ..Default::default()
        };
        if !self.orders.start_payment(order.id, &refs).await? {
            return Err(LocalError::Closed);
        }
        let end = upgrades::service::period_end(now, *interval);
        let metadata = serde_json::json!({
            "order_id": order.id.0.to_string(),
            "sku": order.sku.to_string(),
            "holder": holder_text(order.holder),
        });
        self.emit(
            "invoice.paid",
            serde_json::json!({
                "id": rand_id("in_local_"),
                "object": "invoice",
                "amount_paid": order.amount_due.minor(),
                "billing_reason": "subscription_update",
                "created": now.timestamp(),
                "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub, "metadata": metadata}},
                "lines": {"object": "list", "data": [{"period": {"start": now.timestamp(), "end": end.timestamp()}}]},
            }),
        )
        .await?;
        if let Err(err) = self
            .emit(
                "customer.subscription.updated",
                serde_json::json!({
                    "id": sub,
                    "object": "subscription",
                    "status": "active",
                    "created": now.timestamp(),
                    "metadata": metadata,
                    "items": {"object": "list", "data": [{"current_period_end": end.timestamp(),
                        "price": {"lookup_key": order.sku.to_string()}}]},
                }),
            )
            .await
        {
            tracing::warn!(error = %err, "local customer.subscription.updated not taken in");
        }
        Ok(return_path(order.id))
    }

    /// Abandons checkout `session` of `order`: emits `checkout.session.expired`, which cancels
    /// the order and releases its credit. Returns the order's return page, which says nothing
    /// was charged ([`payments::checkout::cancelled_path`], Stripe's cancel URL too).
    ///
    /// # Errors
    /// [`LocalError::Closed`] / [`LocalError::Paid`] when it is not open; intake errors.
    pub async fn cancel_checkout(&self, session: &str, order: &Order) -> Result<String, LocalError> {
        self.payable(order)?;
        let mut object = self.session_object(session, order);
        object["status"] = "expired".into();
        object["payment_status"] = "unpaid".into();
        self.emit("checkout.session.expired", object).await?;
        Ok(payments::checkout::cancelled_path(order.id))
    }

    /// Cancels subscription `id` at the end of its paid period, or resumes it (the local
    /// billing portal and the API): emits `customer.subscription.updated` with
    /// `cancel_at_period_end`, as Stripe's portal does. Access lasts until the period ends.
    ///
    /// # Errors
    /// Intake errors; [`LocalError::Closed`] for an unknown subscription.
    pub async fn cancel_subscription(&self, id: &str, cancel: bool) -> Result<(), LocalError> {
        let order = self
            .orders
            .find_by_ref(&OrderRef::Subscription(id.to_owned()))
            .await?
            .ok_or(LocalError::Closed)?;
        let now = self.clock.now();
        self.emit(
            "customer.subscription.updated",
            serde_json::json!({
                "id": id,
                "object": "subscription",
                "status": "active",
                "cancel_at_period_end": cancel,
                "created": now.timestamp(),
                "items": {"object": "list", "data": [{
                    "current_period_end": order.period.map_or(now.timestamp(), |p| p.1.timestamp()),
                    "price": {"lookup_key": order.sku.to_string()}}]},
            }),
        )
        .await?;
        Ok(())
    }

    async fn order_by(&self, reference: OrderRef, missing: String) -> Result<Order, GatewayError> {
        self.orders
            .find_by_ref(&reference)
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?
            .ok_or(GatewayError::Refused(missing))
    }
}

#[async_trait]
impl PaymentGateway for LocalGateway {
    fn is_test_mode(&self) -> bool {
        true
    }

    async fn create_customer(&self, holder: &str, _email: &str) -> Result<String, GatewayError> {
        Ok(format!("cus_local_{}", holder.replace(':', "_")))
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, GatewayError> {
        let id = rand_id(&format!("cs_local_{}_", request.order_id));
        Ok(CheckoutSession {
            url: format!("/pay/local/{id}"),
            id,
        })
    }

    async fn change_subscription(&self, change: &PlanChange) -> Result<Option<CheckoutSession>, GatewayError> {
        // The test payment page, as for a checkout: paying there charges the change (see
        // [`LocalGateway::pay`]).
        let id = rand_id(&format!("cs_local_{}_", change.order_id));
        Ok(Some(CheckoutSession {
            url: format!("/pay/local/{id}"),
            id,
        }))
    }

    async fn schedule_plan_change(
        &self,
        subscription: &str,
        sku: &str,
        _unit_amount: Money,
        current_sku: &str,
        _key: &str,
    ) -> Result<(), GatewayError> {
        // As Stripe does: the subscription now carries the new price from its next invoice, its
        // metadata still names the current plan (the next renewal's `invoice.paid` switches it).
        self.emit(
            "customer.subscription.updated",
            serde_json::json!({
                "id": subscription,
                "object": "subscription",
                "status": "active",
                "created": self.clock.now().timestamp(),
                "metadata": {"sku": current_sku, "scheduled_sku": sku},
                "items": {"object": "list", "data": [{"price": {"lookup_key": sku}}]},
            }),
        )
        .await
        .map(|_| ())
        .map_err(|e| GatewayError::Unreachable(e.to_string()))
    }

    async fn set_cancel_at_period_end(&self, subscription: &str, cancel: bool, _key: &str) -> Result<(), GatewayError> {
        self.cancel_subscription(subscription, cancel)
            .await
            .map_err(|e| match e {
                LocalError::Closed => GatewayError::Refused(format!("no subscription {subscription}")),
                other => GatewayError::Unreachable(other.to_string()),
            })
    }

    async fn retrieve_session(&self, id: &str) -> Result<SessionState, GatewayError> {
        let order = self
            .order_by(
                OrderRef::CheckoutSession(id.to_owned()),
                format!("no such checkout session {id}"),
            )
            .await?;
        Ok(SessionState {
            id: id.to_owned(),
            order_id: Some(order.id.0),
            paid: order.was_paid(),
            payment_intent: order.refs.payment_intent.clone(),
            subscription: order.refs.subscription.clone(),
            customer: order.refs.customer.clone(),
            amount_total: Some(order.amount_due.minor()),
            currency: Some(order.amount_due.currency().code().to_lowercase()),
            // The local payment page takes a payment while the order waits for one.
            open_url: (self.payable(&order).is_ok() && !payment_started(&order)).then(|| format!("/pay/local/{id}")),
        })
    }

    async fn expire_checkout(&self, id: &str) -> Result<bool, GatewayError> {
        // A local checkout is only its order: it can be closed while no payment started.
        let order = self
            .order_by(
                OrderRef::CheckoutSession(id.to_owned()),
                format!("no such checkout session {id}"),
            )
            .await?;
        Ok(!payment_started(&order) && !order.was_paid())
    }

    async fn refund(&self, payment_intent: &str, amount: Option<Money>, _key: &str) -> Result<(), GatewayError> {
        let order = self
            .order_by(
                OrderRef::PaymentIntent(payment_intent.to_owned()),
                format!("no charge for {payment_intent}"),
            )
            .await?;
        let charged = order.cash_paid.minor();
        let refunded = amount.map_or(charged, |a| (order.refunded.minor() + a.minor()).min(charged));
        self.emit(
            "charge.refunded",
            serde_json::json!({
                "id": rand_id("ch_local_"),
                "object": "charge",
                "amount": charged,
                "amount_refunded": refunded,
                "currency": order.cash_paid.currency().code().to_lowercase(),
                "payment_intent": payment_intent,
                "refunded": refunded >= charged,
                "created": self.clock.now().timestamp(),
            }),
        )
        .await
        .map(|_| ())
        .map_err(|e| GatewayError::Refused(e.to_string()))
    }

    async fn billing_portal(&self, _customer: &str, _return_url: &str) -> Result<String, GatewayError> {
        Ok("/pay/local/portal".to_owned())
    }

    async fn sync_catalog(&self, items: &[CatalogItem]) -> Result<SyncReport, GatewayError> {
        Ok(SyncReport {
            unchanged: items.len(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::FixedClock;
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use entitlements::{Holder, UserId};
    use mockall::predicate::eq;
    use payments::ports::MockInboxRepository;
    use pricing::Currency;
    use std::sync::Mutex;
    use upgrades::PurchaseId;
    use upgrades::ports::{Channel, MockOrderRepository, OrderStatus};

    const SECRET: &str = "whsec_local";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn order(sku: &str, status: OrderStatus, age: Duration) -> Order {
        let usd = |m| Money::from_minor(m, Currency::Usd);
        Order {
            id: PurchaseId(7),
            holder: Holder::User(UserId(3)),
            buyer: UserId(3),
            sku: sku.parse().unwrap(),
            status,
            list_price: usd(4_900),
            amount_due: usd(4_900),
            cash_paid: usd(0),
            credit_applied: usd(0),
            refunded: usd(0),
            allocations: vec![],
            explanation: String::new(),
            channel: Channel::Local,
            period: None,
            created_at: now() - age,
            paid_at: None,
            refs: PaymentRefs::default(),
            quote_id: None,
        }
    }

    /// An inbox that keeps what it is given, after checking the signature as Stripe's
    /// receivers do.
    fn recording_inbox(seen: Arc<Mutex<Vec<serde_json::Value>>>) -> MockInboxRepository {
        let mut inbox = MockInboxRepository::new();
        inbox.expect_intake().returning(move |_, payload, _| {
            seen.lock().unwrap().push(serde_json::from_str(payload).unwrap());
            Ok(true)
        });
        inbox
    }

    fn gateway(inbox: MockInboxRepository, orders: MockOrderRepository) -> LocalGateway {
        LocalGateway::new(
            Arc::new(inbox),
            Arc::new(orders),
            Arc::new(vec![SECRET.to_owned()]),
            Arc::new(FixedClock(now())),
        )
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn paying_records_the_payment_first_then_emits_a_signed_completed_session() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut orders = MockOrderRepository::new();
        orders
            .expect_start_payment()
            .with(
                eq(PurchaseId(7)),
                mockall::predicate::function(|r: &PaymentRefs| {
                    r.payment_intent.as_deref().is_some_and(|p| p.starts_with("pi_local_")) && r.subscription.is_none()
                }),
            )
            .times(1)
            .returning(|_, _| Ok(true));
        let g = gateway(recording_inbox(seen.clone()), orders);
        let next = run(g.pay(
            "cs_local_7_x",
            &order("key:pg-failover", OrderStatus::Pending, Duration::hours(1)),
        ))
        .unwrap();
        assert_eq!(next, "/checkout/return?order=7");
        let events = seen.lock().unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e["type"], "checkout.session.completed");
        let s = &e["data"]["object"];
        assert_eq!(s["id"], "cs_local_7_x");
        assert_eq!(s["client_reference_id"], "7");
        assert_eq!(s["amount_total"], 4_900);
        assert_eq!(s["currency"], "usd");
        assert_eq!(s["payment_status"], "paid");
        assert_eq!(s["mode"], "payment");
        assert_eq!(s["metadata"]["holder"], "user:3");
    }

    #[test]
    fn a_plan_also_emits_its_first_invoice_for_the_period() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut orders = MockOrderRepository::new();
        orders.expect_start_payment().times(1).returning(|_, _| Ok(true));
        let g = gateway(recording_inbox(seen.clone()), orders);
        run(g.pay(
            "cs_local_7_x",
            &order("plan:operator:monthly", OrderStatus::Pending, Duration::zero()),
        ))
        .unwrap();
        let events = seen.lock().unwrap();
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["checkout.session.completed", "invoice.paid"]);
        let sub = events[0]["data"]["object"]["subscription"].as_str().unwrap();
        assert!(sub.starts_with("sub_local_"));
        assert_eq!(events[1]["data"]["object"]["subscription"], sub);
        assert_eq!(events[0]["data"]["object"]["mode"], "subscription");
    }

    #[test]
    fn a_checkout_paid_meanwhile_or_closed_is_never_paid_again() {
        // Someone else started paying between the page and the click: no event at all.
        let mut orders = MockOrderRepository::new();
        orders.expect_start_payment().times(1).returning(|_, _| Ok(false));
        let mut inbox = MockInboxRepository::new();
        inbox.expect_intake().never();
        let g = gateway(inbox, orders);
        let o = order("key:pg-failover", OrderStatus::Pending, Duration::hours(1));
        assert!(matches!(run(g.pay("cs", &o)), Err(LocalError::Closed)));

        // Too old, cancelled, paid: refused before touching the order.
        let mut orders = MockOrderRepository::new();
        orders.expect_start_payment().never();
        let mut inbox = MockInboxRepository::new();
        inbox.expect_intake().never();
        let g = gateway(inbox, orders);
        for (status, age, closed) in [
            (OrderStatus::Pending, Duration::hours(23), true),
            (OrderStatus::Cancelled, Duration::zero(), true),
            (OrderStatus::Paid, Duration::zero(), false),
            (OrderStatus::Refunded, Duration::zero(), false),
        ] {
            let o = order("key:pg-failover", status, age);
            let err = run(g.pay("cs", &o)).unwrap_err();
            assert_eq!(matches!(err, LocalError::Closed), closed, "{status:?}");
            assert_eq!(matches!(err, LocalError::Paid), !closed, "{status:?}");
            assert!(run(g.cancel_checkout("cs", &o)).is_err());
        }
    }

    #[test]
    fn cancelling_emits_an_expired_session_and_returns_to_the_order_page() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let g = gateway(recording_inbox(seen.clone()), MockOrderRepository::new());
        let back = run(g.cancel_checkout(
            "cs_local_7_x",
            &order("key:pg-failover", OrderStatus::Pending, Duration::zero()),
        ))
        .unwrap();
        assert_eq!(back, "/checkout/return?order=7&cancelled=1");
        let events = seen.lock().unwrap();
        assert_eq!(events[0]["type"], "checkout.session.expired");
        assert_eq!(events[0]["data"]["object"]["payment_status"], "unpaid");
    }

    #[test]
    fn a_refund_emits_the_charge_with_the_cumulative_refunded_amount() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut orders = MockOrderRepository::new();
        orders.expect_find_by_ref().returning(|_| {
            let mut o = order("key:pg-failover", OrderStatus::PartiallyRefunded, Duration::days(2));
            o.cash_paid = Money::from_minor(4_900, Currency::Usd);
            o.refunded = Money::from_minor(1_000, Currency::Usd);
            Ok(Some(o))
        });
        let g = gateway(recording_inbox(seen.clone()), orders);
        run(g.refund("pi_local_1", Some(Money::from_minor(2_000, Currency::Usd)), "key")).unwrap();
        run(g.refund("pi_local_1", None, "key")).unwrap();
        let events = seen.lock().unwrap();
        assert_eq!(events[0]["data"]["object"]["amount_refunded"], 3_000);
        assert_eq!(events[0]["data"]["object"]["refunded"], false);
        assert_eq!(events[1]["data"]["object"]["amount_refunded"], 4_900);
        assert_eq!(events[1]["data"]["object"]["refunded"], true);
    }

    #[test]
    fn every_event_verifies_with_the_webhook_secret() {
        let mut inbox = MockInboxRepository::new();
        inbox.expect_intake().times(1).returning(|_, _, _| Ok(true));
        let g = gateway(inbox, MockOrderRepository::new());
        // `receive` verifies before storing: an event signed with anything else never arrives.
        run(g.emit(
            "customer.subscription.updated",
            serde_json::json!({"id": "sub_local_1"}),
        ))
        .unwrap();
        let wrong = LocalGateway::new(
            Arc::new(MockInboxRepository::new()),
            Arc::new(MockOrderRepository::new()),
            Arc::new(vec![]),
            Arc::new(FixedClock(now())),
        );
        assert!(matches!(
            run(wrong.emit(
                "customer.subscription.updated",
                serde_json::json!({"id": "sub_local_1"})
            )),
            Err(WebhookError::Signature(_))
        ));
    }
}
