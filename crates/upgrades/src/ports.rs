//! Ports: what buying and upgrading need from outside — durable orders. With the `mock`
//! feature mockall generates `MockOrderRepository`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entitlements::ports::NewGrant;
use entitlements::{AuditEntry, Entitlement, EntitlementId, Holder, UserId};
use pricing::Money;
use serde::Serialize;

use crate::{Allocation, CreditUse, Ledger, PlannedUse, Purchase, PurchaseId, Sku, Subscription};

/// Where an order was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Recorded by support (an invoice paid outside the shop, a free upgrade).
    Manual,
    /// Stripe Checkout.
    Stripe,
    /// The embedded local payment mode.
    Local,
}

impl Channel {
    /// Stored text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Manual => "manual",
            Channel::Stripe => "stripe",
            Channel::Local => "local",
        }
    }

    /// Parses the stored text.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Channel::Manual, Channel::Stripe, Channel::Local]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Checkout opened, not paid yet. The credit its quote uses is reserved.
    Pending,
    /// Checkout abandoned or expired; its credit reservation is released.
    Cancelled,
    /// Paid (or free) and fulfilled.
    Paid,
    /// Part of the payment was refunded; access stays (see the refund policy).
    PartiallyRefunded,
    /// Fully refunded; what it granted is revoked.
    Refunded,
}

impl OrderStatus {
    /// Stored text.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Paid => "paid",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// Parses the stored text.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            OrderStatus::Pending,
            OrderStatus::Cancelled,
            OrderStatus::Paid,
            OrderStatus::PartiallyRefunded,
            OrderStatus::Refunded,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A paid order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Order id.
    pub id: PurchaseId,
    /// Who owns what it bought.
    pub holder: Holder,
    /// The account that bought it.
    pub buyer: UserId,
    /// What was bought.
    pub sku: Sku,
    /// Where it stands.
    pub status: OrderStatus,
    /// List price (a bundle: its members' list total).
    pub list_price: Money,
    /// What the quote asked for.
    pub amount_due: Money,
    /// Cash actually paid.
    pub cash_paid: Money,
    /// Credit carried in from earlier orders.
    pub credit_applied: Money,
    /// Refunded so far, counted against the order's value (cash + credit).
    pub refunded: Money,
    /// The value per KEY, which later upgrades credit.
    pub allocations: Vec<Allocation>,
    /// The quote's plain-language explanation.
    pub explanation: String,
    /// Where it was paid.
    pub channel: Channel,
    /// A plan's paid period.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// The payment provider's references.
    pub refs: PaymentRefs,
    /// The quote it was created from.
    pub quote_id: Option<String>,
}

/// The payment provider's ids for an order, so later events find it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PaymentRefs {
    /// A plan change: the holder's live plan order this one replaces when it is paid.
    pub replaces: Option<PurchaseId>,
    /// Checkout Session (`cs_…`).
    pub checkout_session: Option<String>,
    /// PaymentIntent (`pi_…`), for refunds.
    pub payment_intent: Option<String>,
    /// Subscription (`sub_…`), for invoices and subscription changes.
    pub subscription: Option<String>,
    /// Customer (`cus_…`).
    pub customer: Option<String>,
}

/// A holder's live subscription: its current plan order and what the provider said of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePlan {
    /// The plan order the subscription runs on now (after plan changes, the latest).
    pub order: Order,
    /// The subscription ends at the end of the paid period instead of renewing.
    pub cancel_at_period_end: bool,
    /// The plan it becomes at the next renewal (a scheduled downgrade), if any.
    pub scheduled: Option<Sku>,
}

/// How an event names its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRef {
    /// By our id (`client_reference_id`).
    Id(PurchaseId),
    /// By Checkout Session.
    CheckoutSession(String),
    /// By PaymentIntent.
    PaymentIntent(String),
    /// By Subscription.
    Subscription(String),
}

/// What fulfilling a pending order records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfilment {
    /// Cash actually charged.
    pub cash_paid: Money,
    /// The provider's references (merged into the order's).
    pub refs: PaymentRefs,
    /// A plan's paid period.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// When.
    pub at: DateTime<Utc>,
}

impl Order {
    /// Whether the order was paid (it may have been refunded since).
    #[must_use]
    pub fn was_paid(&self) -> bool {
        matches!(
            self.status,
            OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded
        )
    }

    /// The order as credit sees it.
    #[must_use]
    pub fn purchase(&self) -> Purchase {
        Purchase {
            id: self.id,
            sku: self.sku.clone(),
            purchased_at: self.paid_at.unwrap_or(self.created_at),
            cash_paid: self.cash_paid,
            credit_applied: self.credit_applied,
            refunded: self.refunded,
            allocations: self.allocations.clone(),
        }
    }

    /// The subscription this order pays for, when it is a plan whose period contains `now`
    /// and that was not refunded.
    #[must_use]
    pub fn subscription(&self, now: DateTime<Utc>) -> Option<Subscription> {
        let Sku::Plan { tier, interval } = self.sku else {
            return None;
        };
        let (start, end) = self.period?;
        (self.was_paid() && self.status != OrderStatus::Refunded && start <= now && now < end).then_some(Subscription {
            tier,
            interval,
            period_start: start,
            period_end: end,
            last_paid: self.cash_paid,
        })
    }
}

/// Builds the ledger of a holder's orders and credit uses: paid orders give credit; the credit
/// a pending order's quote uses stays reserved; a cancelled order's reservation is released.
#[must_use]
pub fn ledger_of(orders: &[Order], uses: &[CreditUse]) -> Ledger {
    let cancelled: Vec<PurchaseId> = orders
        .iter()
        .filter(|o| o.status == OrderStatus::Cancelled)
        .map(|o| o.id)
        .collect();
    Ledger {
        purchases: orders.iter().filter(|o| o.was_paid()).map(Order::purchase).collect(),
        uses: uses.iter().filter(|u| !cancelled.contains(&u.by)).cloned().collect(),
    }
}

/// An order to record (storage assigns the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Who owns what it buys.
    pub holder: Holder,
    /// The buying account.
    pub buyer: UserId,
    /// What is bought.
    pub sku: Sku,
    /// List price.
    pub list_price: Money,
    /// Amount due by the quote.
    pub amount_due: Money,
    /// Cash paid.
    pub cash_paid: Money,
    /// Credit carried in.
    pub credit_applied: Money,
    /// Value per KEY.
    pub allocations: Vec<Allocation>,
    /// Explanation.
    pub explanation: String,
    /// Where it was paid.
    pub channel: Channel,
    /// A plan's paid period.
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// When.
    pub at: DateTime<Utc>,
    /// The quote it comes from.
    pub quote_id: Option<String>,
}

impl NewOrder {
    /// The [`Order`] storage makes of this one under `id`: pending (nothing paid yet, no
    /// payment time) or paid at its `at` (cash as recorded); nothing refunded, no provider
    /// references. What an in-memory store or a test needs.
    #[must_use]
    pub fn into_order(self, id: PurchaseId, status: OrderStatus) -> Order {
        let paid = status == OrderStatus::Paid;
        Order {
            id,
            holder: self.holder,
            buyer: self.buyer,
            sku: self.sku,
            status,
            list_price: self.list_price,
            amount_due: self.amount_due,
            cash_paid: if paid {
                self.cash_paid
            } else {
                Money::zero(self.cash_paid.currency())
            },
            credit_applied: self.credit_applied,
            refunded: Money::zero(self.amount_due.currency()),
            allocations: self.allocations,
            explanation: self.explanation,
            channel: self.channel,
            period: self.period,
            created_at: self.at,
            paid_at: paid.then_some(self.at),
            refs: PaymentRefs::default(),
            quote_id: self.quote_id,
        }
    }
}

/// A storage backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order storage failed: {0}")]
pub struct OrderStoreError(pub String);

/// Why an order could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordOrderError {
    /// A credit the quote used was consumed by another order in the meantime; quote again.
    #[error("a credit in this quote was used by another order meanwhile; ask for a new quote")]
    CreditTaken,
    /// Another checkout for the same SKU and holder is open (pending).
    #[error("another checkout for this (order {0}) is still open; finish or cancel it first")]
    PendingExists(PurchaseId),
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(#[from] OrderStoreError),
}

/// Durable orders, their credit uses and what they granted.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Every order of a holder, oldest first, and every credit use among them.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn history(&self, holder: Holder) -> Result<(Vec<Order>, Vec<CreditUse>), OrderStoreError>;

    /// One order.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn find(&self, id: PurchaseId) -> Result<Option<Order>, OrderStoreError>;

    /// Records a paid order, the credit it uses and its grants (with their audit lines) in
    /// one transaction. Under a per-holder lock it re-reads the holder's ledger and refuses
    /// when any planned use exceeds what is still available, so concurrent upgrades never
    /// spend one credit twice.
    ///
    /// # Errors
    /// [`RecordOrderError::CreditTaken`], or [`RecordOrderError::Store`]; nothing is written then.
    async fn record_paid(
        &self,
        order: &NewOrder,
        uses: &[PlannedUse],
        grants: &[NewGrant],
    ) -> Result<(Order, Vec<Entitlement>), RecordOrderError>;

    /// The entitlements an order granted.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn granted_by(&self, id: PurchaseId) -> Result<Vec<EntitlementId>, OrderStoreError>;

    /// Records a pending order (a Checkout Session is about to open) and reserves the credit its
    /// quote uses, under the same per-holder lock and availability check as
    /// [`OrderRepository::record_paid`]. Refuses while another pending order of the holder for
    /// the same SKU exists.
    ///
    /// # Errors
    /// [`RecordOrderError`] ([`RecordOrderError::PendingExists`]); nothing is written then.
    async fn create_pending(&self, order: &NewOrder, uses: &[PlannedUse]) -> Result<Order, RecordOrderError>;

    /// Remembers the payment provider's references of an order (merged: a `None` keeps the
    /// stored value).
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn set_refs(&self, id: PurchaseId, refs: &PaymentRefs) -> Result<(), OrderStoreError>;

    /// Cancels a pending order whose payment has not started (no payment intent or
    /// subscription recorded), releasing its credit reservation. `false` otherwise: an order
    /// that is being paid is never cancelled.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn cancel_pending(&self, id: PurchaseId) -> Result<bool, OrderStoreError>;

    /// Records that payment of a pending order has started (the local payment mode, before it
    /// emits its events): sets the references only while the order is pending with no payment
    /// started; `false` otherwise (closed meanwhile, or already being paid).
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn start_payment(&self, id: PurchaseId, refs: &PaymentRefs) -> Result<bool, OrderStoreError>;

    /// Cancels every pending order of `channel` created before `created_before` whose payment
    /// never started (no payment intent or subscription recorded): a checkout that was never
    /// finished. Releases their credit reservations, as [`OrderRepository::cancel_pending`]
    /// does. Returns how many. Idempotent.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn expire_pending(&self, channel: Channel, created_before: DateTime<Utc>) -> Result<u64, OrderStoreError>;

    /// Finds an order by our id or one of the provider's references. By subscription: the
    /// subscription's live order (after plan changes, the newest), else its newest order.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn find_by_ref(&self, by: &OrderRef) -> Result<Option<Order>, OrderStoreError>;

    /// Records whether plan order `id`'s subscription ends at the end of its paid period.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn set_cancel_at_period_end(&self, id: PurchaseId, cancel: bool) -> Result<(), OrderStoreError>;

    /// Records the plan live plan order `id` becomes at its next renewal (`None`: none).
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn set_scheduled_plan(&self, id: PurchaseId, sku: Option<Sku>) -> Result<(), OrderStoreError>;

    /// The holder's one live plan order (its subscription is live), if any. At most one exists
    /// per holder: storage enforces it.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn live_plan(&self, holder: Holder) -> Result<Option<LivePlan>, OrderStoreError>;

    /// Marks a pending order paid and records its grants, in one transaction. Idempotent: an
    /// order already paid is returned unchanged with `false` (nothing granted twice).
    ///
    /// # Errors
    /// [`OrderStoreError`]; nothing is written then.
    async fn fulfil(
        &self,
        id: PurchaseId,
        fulfilment: &Fulfilment,
        grants: &[NewGrant],
    ) -> Result<(Order, bool), OrderStoreError>;

    /// The payment provider's customer of a holder, if created.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn customer(&self, holder: Holder) -> Result<Option<String>, OrderStoreError>;

    /// Remembers a holder's customer; when another process saved one first, that one is kept
    /// and returned.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails.
    async fn save_customer(&self, holder: Holder, customer: &str) -> Result<String, OrderStoreError>;

    /// Records an order's new refunded total and status, and the revocations it causes, in
    /// one transaction.
    ///
    /// # Errors
    /// [`OrderStoreError`] when the backend fails; nothing is written then.
    async fn record_refund(
        &self,
        id: PurchaseId,
        refunded: Money,
        status: OrderStatus,
        revocations: &[(Entitlement, AuditEntry)],
    ) -> Result<(), OrderStoreError>;
}
