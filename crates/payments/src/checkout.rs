//! The checkout workflow as an application service: open a checkout (closing an earlier one
//! for the same SKU only when no payment has started), reconcile a return from the provider,
//! cancel a pending checkout, refund an order — over the order port, the upgrades service and
//! the payment gateway. HTTP handlers only extract, call one of these and map the error.
//!
//! **An order whose payment has started is never cancelled.** A second checkout for the same
//! SKU first closes the earlier pending order: in Stripe mode by expiring its Checkout Session
//! (`POST /v1/checkout/sessions/{id}/expire`) and cancelling only when that succeeds; in local
//! mode by cancelling only while no payment is recorded. When the earlier one is being paid,
//! the new checkout is refused (409) rather than risk charging twice.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entitlements::{Actor, Holder, UserId};
use pricing::{Money, Offers};
use upgrades::ports::{Channel, Fulfilment, Order, OrderRepository, OrderStatus, PaymentRefs, RecordOrderError};
use upgrades::service::{Commerce, PurchaseError, QuoteRequestError, RefundOrderError};
use upgrades::{PurchaseId, Sku};

use crate::ports::{CheckoutMode, CheckoutRequest, GatewayError, PaymentGateway, PlanChange};

/// Why a checkout could not start (or be cancelled). Nothing stays reserved then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// The SKU is unknown, already owned, not an upgrade, or storage failed while quoting.
    #[error(transparent)]
    Quote(#[from] QuoteRequestError),
    /// A credit in the quote was used by another order meanwhile.
    #[error("a credit in this quote was used by another order meanwhile; ask for a new quote")]
    CreditTaken,
    /// An earlier checkout for the same thing is being paid (or was opened concurrently).
    #[error(
        "a payment for this is already in progress (order {0}); wait for it to finish — see /account/billing — before buying it again"
    )]
    InProgress(PurchaseId),
    /// The order is not pending (paid, cancelled or refunded): nothing to cancel.
    #[error("order {0} is not an open checkout")]
    NotPending(PurchaseId),
    /// No live subscription by that id for this holder.
    #[error("no live subscription `{0}` here: see GET /api/v1/me/subscriptions")]
    NoSuchSubscription(String),
    /// The payment provider failed or refused.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// Storage failed.
    #[error("{0}")]
    Store(String),
}

impl From<PurchaseError> for CheckoutError {
    fn from(e: PurchaseError) -> Self {
        match e {
            PurchaseError::Quote(q) => CheckoutError::Quote(q),
            PurchaseError::Record(RecordOrderError::CreditTaken) => CheckoutError::CreditTaken,
            PurchaseError::Record(RecordOrderError::PendingExists(id)) => CheckoutError::InProgress(id),
            other => CheckoutError::Store(other.to_string()),
        }
    }
}

/// Why a refund could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRequestError {
    /// The order or amount cannot be refunded.
    #[error(transparent)]
    Order(#[from] RefundOrderError),
    /// The payment provider failed or refused.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// Paid at the provider through a subscription invoice, whose payment the shop does not
    /// hold: recording a refund here would return no money.
    #[error(
        "order {0} was paid through the subscription {1} at Stripe: refund its invoice in the Stripe Dashboard and cancel the subscription there (its customer.subscription.deleted event ends the plan's access here)"
    )]
    AtProviderOnly(PurchaseId, String),
}

/// What a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refunded {
    /// Recorded here at once (an order paid outside the shop).
    Done(Order),
    /// Sent to the payment provider; its `charge.refunded` event applies it.
    Sent(Order),
}

/// A started checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Where to send the buyer: the provider's checkout, the local test page, or — for a free
    /// upgrade — the return page.
    pub checkout_url: String,
    /// The provider's Checkout Session (none for a free upgrade).
    pub session_id: Option<String>,
    /// Our order.
    pub order_id: PurchaseId,
}

/// Where the buyer returns to after paying.
#[must_use]
pub fn return_path(order: PurchaseId) -> String {
    format!("/checkout/return?order={}", order.0)
}

/// Where a buyer who leaves the payment page lands (the provider's cancel URL): the order's
/// return page, which says nothing was charged and offers to start again.
#[must_use]
pub fn cancelled_path(order: PurchaseId) -> String {
    format!("/checkout/return?order={}&cancelled=1", order.0)
}

/// The page a SKU is bought from.
#[must_use]
pub fn page_of(sku: &Sku) -> String {
    match sku {
        Sku::Key(slug) => format!("/marketplace/{slug}"),
        Sku::Bundle(slug) => format!("/marketplace/bundles#bundle-{slug}"),
        Sku::Plan { .. } => "/pricing".to_owned(),
    }
}

/// `user:<id>` or `organisation:<id>`.
#[must_use]
pub fn holder_text(h: Holder) -> String {
    match h {
        Holder::User(u) => format!("user:{}", u.0),
        Holder::Organisation(o) => format!("organisation:{}", o.0),
    }
}

/// Whether a payment has started for an order (references recorded by the provider's events
/// or by the local pay page).
#[must_use]
pub fn payment_started(order: &Order) -> bool {
    order.refs.payment_intent.is_some() || order.refs.subscription.is_some()
}

/// How long a checkout may stay unfinished: Stripe expires its Checkout Sessions after 24 hours
/// (and says so with `checkout.session.expired`); the housekeeping cancels local-mode
/// checkouts after the same time, releasing the credit they reserved.
pub const CHECKOUT_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How long a local-mode checkout can be paid: an hour less than its lifetime, so a payment
/// started at the last moment is recorded (its references set) long before the housekeeping
/// looks at the order, which skips orders with a payment started.
pub const CHECKOUT_PAYABLE: chrono::TimeDelta = chrono::TimeDelta::hours(23);

/// Where an open checkout stands for the buyer at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutStanding {
    /// Pending and within [`CHECKOUT_PAYABLE`]: it can be paid.
    Payable,
    /// Cancelled, or pending past [`CHECKOUT_PAYABLE`]: start again.
    Closed,
    /// Paid (fulfilled, refunded, …).
    Paid,
}

/// Where `order` stands at `now`.
#[must_use]
pub fn standing(order: &Order, now: DateTime<Utc>) -> CheckoutStanding {
    match order.status {
        OrderStatus::Pending if order.created_at > now - CHECKOUT_PAYABLE => CheckoutStanding::Payable,
        OrderStatus::Pending | OrderStatus::Cancelled => CheckoutStanding::Closed,
        _ => CheckoutStanding::Paid,
    }
}

/// The checkout workflow.
#[derive(Clone)]
pub struct CheckoutService {
    commerce: Commerce,
    orders: Arc<dyn OrderRepository>,
    gateway: Arc<dyn PaymentGateway>,
    public_url: String,
}

impl std::fmt::Debug for CheckoutService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutService")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl CheckoutService {
    /// Builds the service; `public_url` is where buyers reach the shop (success and cancel
    /// URLs).
    #[must_use]
    pub fn new(
        commerce: Commerce,
        orders: Arc<dyn OrderRepository>,
        gateway: Arc<dyn PaymentGateway>,
        public_url: &str,
    ) -> Self {
        Self {
            commerce,
            orders,
            gateway,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The gateway (the pages label the local test mode).
    #[must_use]
    pub fn gateway(&self) -> &Arc<dyn PaymentGateway> {
        &self.gateway
    }

    /// Closes a pending order so a new checkout may open: never when its payment started.
    async fn close(&self, o: &Order) -> Result<(), CheckoutError> {
        if payment_started(o) {
            return Err(CheckoutError::InProgress(o.id));
        }
        if o.channel == Channel::Stripe
            && !self.gateway.is_test_mode()
            && let Some(cs) = &o.refs.checkout_session
            && !self.gateway.expire_checkout(cs).await?
        {
            // Complete at the provider: paid, or an asynchronous payment under way.
            return Err(CheckoutError::InProgress(o.id));
        }
        if self
            .orders
            .cancel_pending(o.id)
            .await
            .map_err(|e| CheckoutError::Store(e.to_string()))?
        {
            Ok(())
        } else {
            // Paid, or its payment started, between the read and now.
            Err(CheckoutError::InProgress(o.id))
        }
    }

    /// Opens a checkout for `holder` buying `sku`: a pending order with the quote's credit
    /// reserved and a Checkout Session charging exactly the quote's amount due (the credit as a
    /// one-off discount). A fully credited purchase is fulfilled at once without the provider.
    ///
    /// # Errors
    /// [`CheckoutError`]; the new order is cancelled (its credit released) when the provider
    /// step fails.
    pub async fn start(
        &self,
        holder: Holder,
        buyer: UserId,
        buyer_email: &str,
        sku: &Sku,
        offers: &Offers,
        now: DateTime<Utc>,
    ) -> Result<Started, CheckoutError> {
        let earlier = self
            .commerce
            .orders(holder)
            .await
            .map_err(|e| CheckoutError::Store(e.to_string()))?;
        // A plan change being paid (its charge may be under way at the provider) is never
        // closed, and no other plan checkout starts until it settles: two changes of one
        // subscription at once could both be charged.
        if matches!(sku, Sku::Plan { .. })
            && let Some(change) = earlier
                .iter()
                .find(|o| o.status == OrderStatus::Pending && o.refs.replaces.is_some())
        {
            return Err(CheckoutError::InProgress(change.id));
        }
        for o in earlier
            .iter()
            .filter(|o| o.status == OrderStatus::Pending && o.sku == *sku)
        {
            self.close(o).await?;
        }
        let channel = if self.gateway.is_test_mode() {
            Channel::Local
        } else {
            Channel::Stripe
        };
        // A plan for a holder with a live subscription changes that subscription — never a
        // second one (storage allows one live subscription per holder).
        if matches!(sku, Sku::Plan { .. }) {
            let live = self
                .orders
                .live_plan(holder)
                .await
                .map_err(|e| CheckoutError::Store(e.to_string()))?;
            if let Some(live) = live.map(|l| l.order).filter(|o| o.subscription(now).is_some())
                && let Some(subscription) = live.refs.subscription.clone()
            {
                if let (
                    Sku::Plan {
                        tier: from,
                        interval: was,
                    },
                    Sku::Plan { tier: to, interval },
                ) = (&live.sku, sku)
                    && upgrades::plan_move((*from, *was), (*to, *interval)) == upgrades::PlanMove::Downgrade
                {
                    // A downgrade (or annual → monthly): scheduled for the end of the paid
                    // period, nothing charged now.
                    let price = offers.plan_price(*to, *interval);
                    let key = format!("keys-plan-schedule-{subscription}-{sku}-{}", now.timestamp());
                    self.gateway
                        .schedule_plan_change(&subscription, &sku.to_string(), price, &live.sku.to_string(), &key)
                        .await?;
                    self.orders
                        .set_scheduled_plan(live.id, Some(sku.clone()))
                        .await
                        .map_err(|e| CheckoutError::Store(e.to_string()))?;
                    return Ok(Started {
                        checkout_url: "/account/billing".to_owned(),
                        session_id: None,
                        order_id: live.id,
                    });
                }
                let buying = upgrades::service::Buying {
                    holder,
                    buyer,
                    sku,
                    offers,
                    channel,
                    now,
                };
                return self.change_plan(&live, subscription, &buying).await;
            }
        }
        let (order, quote) = self
            .commerce
            .open_checkout(&upgrades::service::Buying {
                holder,
                buyer,
                sku,
                offers,
                channel,
                now,
            })
            .await?;
        let return_to = return_path(order.id);
        // A KEY or bundle with nothing to pay (fully credited, every member owned, or the rest
        // waived under the card minimum) is granted without payment. A plan never is: it must
        // become a real subscription that renews at the plan's price, so a fully credited plan
        // goes through checkout with a one-off coupon for the whole first invoice (the card is
        // collected for the renewals).
        if quote.amount_due.minor() == 0 && !matches!(sku, Sku::Plan { .. }) {
            let f = Fulfilment {
                cash_paid: quote.amount_due,
                refs: PaymentRefs::default(),
                period: None,
                at: now,
            };
            self.commerce
                .fulfil(&order, &f, &Actor::System, "free upgrade: fully credited")
                .await
                .map_err(|e| CheckoutError::Store(e.to_string()))?;
            return Ok(Started {
                checkout_url: return_to,
                session_id: None,
                order_id: order.id,
            });
        }
        let opened = self
            .open_session(&order, holder, buyer_email, sku, &quote, &return_to)
            .await;
        if opened.is_err() {
            // Release the credit reservation of a checkout that never opened.
            let _ = self.orders.cancel_pending(order.id).await;
        }
        opened
    }

    /// Cancels `holder`'s live subscription `subscription` at the end of its paid period
    /// (`cancel`), or resumes it before then: the provider is told (it confirms with
    /// `customer.subscription.updated`) and the flag is recorded at once. Access is unchanged
    /// until the period ends; `customer.subscription.deleted` then ends it.
    ///
    /// # Errors
    /// [`CheckoutError::NoSuchSubscription`] when `subscription` is not the holder's live one
    /// (someone else's, or ended); [`CheckoutError::Gateway`], [`CheckoutError::Store`].
    pub async fn set_cancel_at_period_end(
        &self,
        holder: Holder,
        subscription: &str,
        cancel: bool,
        now: DateTime<Utc>,
    ) -> Result<(), CheckoutError> {
        let store = |e: upgrades::ports::OrderStoreError| CheckoutError::Store(e.to_string());
        let live = self
            .orders
            .live_plan(holder)
            .await
            .map_err(store)?
            .filter(|l| {
                l.order.refs.subscription.as_deref() == Some(subscription) && l.order.subscription(now).is_some()
            })
            .ok_or_else(|| CheckoutError::NoSuchSubscription(subscription.to_owned()))?;
        let key = format!(
            "keys-{}-{subscription}-{}",
            if cancel { "cancel" } else { "resume" },
            now.timestamp()
        );
        self.gateway
            .set_cancel_at_period_end(subscription, cancel, &key)
            .await?;
        self.orders
            .set_cancel_at_period_end(live.order.id, cancel)
            .await
            .map_err(store)
    }

    /// A plan upgrade of `live`'s subscription: an order for exactly the quote (the new price
    /// less the unused time of the current plan and any credit; a downgrade is refused by the
    /// quote), linked to the order it replaces, then the provider changes the subscription and
    /// charges that amount; its `invoice.paid` fulfils the order and ends the old plan.
    async fn change_plan(
        &self,
        live: &Order,
        subscription: String,
        buying: &upgrades::service::Buying<'_>,
    ) -> Result<Started, CheckoutError> {
        let store = |e: upgrades::ports::OrderStoreError| CheckoutError::Store(e.to_string());
        let (order, quote) = self.commerce.open_checkout(buying).await?;
        let linked = self
            .orders
            .set_refs(
                order.id,
                &PaymentRefs {
                    replaces: Some(live.id),
                    ..PaymentRefs::default()
                },
            )
            .await;
        if let Err(e) = linked {
            let _ = self.orders.cancel_pending(order.id).await;
            return Err(store(e));
        }
        let change = PlanChange {
            order_id: order.id.0,
            subscription,
            sku: buying.sku.to_string(),
            unit_amount: quote.price,
            credit: quote.price.checked_sub(quote.amount_due).ok().filter(|c| c.minor() > 0),
            holder: holder_text(buying.holder),
            quote_id: order.quote_id.clone().unwrap_or_default(),
        };
        let page = match self.gateway.change_subscription(&change).await {
            Ok(page) => page,
            Err(e) => {
                // Nothing was charged: release the credit reservation.
                let _ = self.orders.cancel_pending(order.id).await;
                return Err(e.into());
            }
        };
        match page {
            Some(session) => {
                self.orders
                    .set_refs(
                        order.id,
                        &PaymentRefs {
                            checkout_session: Some(session.id.clone()),
                            ..PaymentRefs::default()
                        },
                    )
                    .await
                    .map_err(store)?;
                Ok(Started {
                    checkout_url: session.url,
                    session_id: Some(session.id),
                    order_id: order.id,
                })
            }
            None => Ok(Started {
                checkout_url: return_path(order.id),
                session_id: None,
                order_id: order.id,
            }),
        }
    }

    async fn open_session(
        &self,
        order: &Order,
        holder: Holder,
        buyer_email: &str,
        sku: &Sku,
        quote: &upgrades::Quote,
        return_to: &str,
    ) -> Result<Started, CheckoutError> {
        let store = |e: upgrades::ports::OrderStoreError| CheckoutError::Store(e.to_string());
        let customer = match self.orders.customer(holder).await.map_err(store)? {
            Some(c) => c,
            None => {
                let created = self.gateway.create_customer(&holder_text(holder), buyer_email).await?;
                self.orders.save_customer(holder, &created).await.map_err(store)?
            }
        };
        let request = CheckoutRequest {
            order_id: order.id.0,
            sku: sku.to_string(),
            mode: match sku {
                Sku::Plan { .. } => CheckoutMode::Subscription,
                _ => CheckoutMode::Payment,
            },
            unit_amount: quote.price,
            // Everything between the price and the amount due: credit, and what the
            // minimum-charge rule waived — so the provider charges exactly the amount due.
            credit: quote.price.checked_sub(quote.amount_due).ok().filter(|c| c.minor() > 0),
            customer: customer.clone(),
            holder: holder_text(holder),
            quote_id: order.quote_id.clone().unwrap_or_default(),
            success_url: format!("{}{return_to}", self.public_url),
            // Leaving the payment page comes back to the order, which says nothing was charged
            // and offers to start again.
            cancel_url: format!("{}{}", self.public_url, cancelled_path(order.id)),
        };
        let session = self.gateway.create_checkout(&request).await?;
        self.orders
            .set_refs(
                order.id,
                &PaymentRefs {
                    checkout_session: Some(session.id.clone()),
                    customer: Some(customer),
                    ..PaymentRefs::default()
                },
            )
            .await
            .map_err(store)?;
        Ok(Started {
            checkout_url: session.url,
            session_id: Some(session.id),
            order_id: order.id,
        })
    }

    /// Cancels a pending checkout (the caller's right to is checked by the caller).
    ///
    /// # Errors
    /// [`CheckoutError::NotPending`], [`CheckoutError::InProgress`] when its payment started,
    /// [`CheckoutError::Gateway`].
    pub async fn cancel(&self, order: &Order) -> Result<(), CheckoutError> {
        if order.status != OrderStatus::Pending {
            return Err(CheckoutError::NotPending(order.id));
        }
        self.close(order).await
    }

    /// The return page's reconciliation: a pending Stripe order whose Checkout Session is
    /// paid — for exactly the order's amount due, in its currency — is fulfilled now, without
    /// waiting for the webhook (the worker's later delivery changes nothing). Anything else is
    /// left to the webhook worker, which rejects mismatches with a reason — plans included: a
    /// subscription becomes its holder's one live subscription only in the worker's transaction
    /// (which refuses a second one).
    ///
    /// # Errors
    /// [`CheckoutError`] when the provider or storage fails; the order is unchanged then.
    pub async fn reconcile(&self, order: Order, now: DateTime<Utc>) -> Result<Order, CheckoutError> {
        let Some(cs) = order.refs.checkout_session.clone() else {
            return Ok(order);
        };
        if order.status != OrderStatus::Pending || self.gateway.is_test_mode() || matches!(order.sku, Sku::Plan { .. })
        {
            return Ok(order);
        }
        let s = self.gateway.retrieve_session(&cs).await?;
        let due = order.amount_due;
        let matches = s.paid
            && s.id == cs
            && s.amount_total == Some(due.minor())
            && s.currency
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(due.currency().code()));
        if !matches {
            return Ok(order);
        }
        let f = Fulfilment {
            cash_paid: due,
            refs: PaymentRefs {
                replaces: None,
                checkout_session: Some(cs),
                payment_intent: s.payment_intent,
                subscription: s.subscription,
                customer: s.customer,
            },
            period: None,
            at: now,
        };
        let (fulfilled, _) = self
            .commerce
            .fulfil(&order, &f, &Actor::System, "checkout return page: session paid")
            .await
            .map_err(|e| CheckoutError::Store(e.to_string()))?;
        Ok(fulfilled)
    }

    /// Where the buyer can go on paying `order` (pending, not paid): the payment page of its
    /// checkout while the provider still takes a payment there. `None` when that page has
    /// closed (expired, completed, paid already) or the order has none: start again then. A
    /// session that does not belong to this order, or a page that is not a web address, is
    /// never offered.
    ///
    /// # Errors
    /// [`CheckoutError::NotPending`] when the order is no longer pending;
    /// [`CheckoutError::Gateway`] when the provider cannot be asked.
    pub async fn resume(&self, order: &Order) -> Result<Option<String>, CheckoutError> {
        if order.status != OrderStatus::Pending {
            return Err(CheckoutError::NotPending(order.id));
        }
        let Some(cs) = order.refs.checkout_session.as_deref() else {
            return Ok(None);
        };
        let s = self.gateway.retrieve_session(cs).await?;
        let ours = s.id == cs && s.order_id == Some(order.id.0);
        Ok(s.open_url
            .filter(|url| ours && !s.paid && ["https://", "http://", "/"].iter().any(|p| url.starts_with(p))))
    }

    /// Refunds `amount` of an order (all that is left when `None`). A payment taken through
    /// the provider is refunded there — idempotently per order, amount and refunds so far, so
    /// a double click refunds once but a second partial refund of the same amount is a new
    /// one — and its `charge.refunded` event revokes access through the inbox. A subscription
    /// paid at the provider, whose invoice payment the shop does not hold, is refused
    /// ([`RefundRequestError::AtProviderOnly`]) rather than recorded without returning money;
    /// an order paid outside the shop is refunded here at once.
    ///
    /// # Errors
    /// [`RefundRequestError`]; nothing changes then.
    pub async fn refund(
        &self,
        id: PurchaseId,
        amount: Option<Money>,
        actor: Actor,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Refunded, RefundRequestError> {
        let (order, _, _) = self.commerce.refundable(id, amount).await?;
        if order.channel != Channel::Manual
            && let Some(pi) = order.refs.payment_intent.clone()
        {
            let key = format!(
                "keys-refund-{}-after-{}-{}",
                order.id.0,
                order.refunded.minor(),
                amount.map_or_else(|| "all".to_owned(), |a| a.minor().to_string())
            );
            self.gateway.refund(&pi, amount, &key).await?;
            return Ok(Refunded::Sent(order));
        }
        if order.channel == Channel::Stripe && order.cash_paid.minor() > 0 {
            // Money taken at Stripe goes back only through Stripe: never record a refund here
            // that returns nothing.
            return Err(RefundRequestError::AtProviderOnly(
                order.id,
                order.refs.subscription.clone().unwrap_or_default(),
            ));
        }
        Ok(Refunded::Done(
            self.commerce.refund(id, amount, actor, reason, now).await?,
        ))
    }

    /// The provider's billing portal for a holder; `None` when it never paid (no customer).
    ///
    /// # Errors
    /// [`CheckoutError`].
    pub async fn billing_portal(&self, holder: Holder, return_path: &str) -> Result<Option<String>, CheckoutError> {
        let Some(customer) = self
            .orders
            .customer(holder)
            .await
            .map_err(|e| CheckoutError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        let back = format!("{}{return_path}", self.public_url);
        Ok(Some(self.gateway.billing_portal(&customer, &back).await?))
    }
}

#[cfg(test)]
#[path = "checkout_tests.rs"]
mod checkout_tests;
