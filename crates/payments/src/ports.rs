//! The ports of the payments domain: the payment gateway, the inbox of received events and the
//! transaction the event rules run in. With the `mock` feature (and in this crate's tests)
//! mockall generates `MockPaymentGateway`, `MockInboxRepository` and `MockPaymentTx` here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entitlements::ports::NewGrant;
use entitlements::{AuditEntry, Entitlement};
use pricing::{Interval, Money};
use upgrades::ports::{Fulfilment, Order, OrderRef, OrderStatus, PaymentRefs};
use upgrades::{CreditUse, PurchaseId, Sku};

/// Checkout Session mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    /// One payment (KEYS, bundles, upgrades).
    Payment,
    /// A subscription (plans).
    Subscription,
}

/// Everything needed to open a Checkout Session for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// Our order id (sent as `client_reference_id` and in metadata).
    pub order_id: i64,
    /// The SKU id (`key:<slug>`, `bundle:<slug>`, `plan:<tier>:<interval>`); also the Stripe
    /// Price's lookup key.
    pub sku: String,
    /// Payment or subscription.
    pub mode: CheckoutMode,
    /// The SKU's price as the pricing crates say (a bundle: after its bundle discount). The
    /// gateway refuses to charge when its price object disagrees (catalog not synced).
    pub unit_amount: Money,
    /// Credit from earlier purchases, applied as a one-off discount so the buyer pays exactly
    /// the quote's amount due (`None` or zero: no discount).
    pub credit: Option<Money>,
    /// The Stripe customer of the holder.
    pub customer: String,
    /// `user:<id>` or `organisation:<id>` (metadata).
    pub holder: String,
    /// The quote's id (metadata), so support can match a payment to its quote.
    pub quote_id: String,
    /// Where Stripe sends the buyer after paying.
    pub success_url: String,
    /// Where Stripe sends the buyer when they cancel.
    pub cancel_url: String,
}

/// A payment dispute (chargeback) as the shop records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeRecord {
    /// `dp_…`.
    pub id: String,
    /// The order whose payment is disputed.
    pub order: PurchaseId,
    /// The disputed payment.
    pub payment_intent: String,
    /// Disputed amount.
    pub amount: Money,
    /// The card network's reason.
    pub reason: String,
    /// `open`, `won` or `lost`.
    pub status: String,
    /// When the shop learnt of it.
    pub opened_at: DateTime<Utc>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// A plan upgrade of a live subscription (see [`PaymentGateway::change_subscription`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    /// The change's own order (metadata `order_id`; idempotency `keys-plan-change-<id>`).
    pub order_id: i64,
    /// The live subscription (`sub_…`).
    pub subscription: String,
    /// The new plan's SKU (the provider Price's lookup key).
    pub sku: String,
    /// The new plan's price.
    pub unit_amount: Money,
    /// Taken off the first invoice once (unused time, credit, a waived remainder): the
    /// provider charges `unit_amount − credit`, the quote's amount due.
    pub credit: Option<Money>,
    /// `user:<id>` or `organisation:<id>` (metadata).
    pub holder: String,
    /// The quote's id (metadata).
    pub quote_id: String,
}

/// A created Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// `cs_…`.
    pub id: String,
    /// Where to send the buyer.
    pub url: String,
}

/// What a Checkout Session says now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionState {
    /// `cs_…`.
    pub id: String,
    /// Our order id (`client_reference_id`).
    pub order_id: Option<i64>,
    /// Paid (`payment_status` is `paid` or `no_payment_required`).
    pub paid: bool,
    /// The PaymentIntent (payment mode).
    pub payment_intent: Option<String>,
    /// The Subscription (subscription mode).
    pub subscription: Option<String>,
    /// The Customer.
    pub customer: Option<String>,
    /// Amount charged, in minor units.
    pub amount_total: Option<i64>,
    /// ISO 4217 code of `amount_total`, lowercase as Stripe sends it.
    pub currency: Option<String>,
    /// The payment page, while the buyer can still pay there (the session is open); `None`
    /// once it has expired or completed.
    pub open_url: Option<String>,
}

/// One SKU as the payment provider's catalog should have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogItem {
    /// SKU id (the Price's lookup key and the Product's metadata).
    pub sku: String,
    /// Product name.
    pub name: String,
    /// Price.
    pub amount: Money,
    /// Billing interval (plans).
    pub interval: Option<Interval>,
}

/// What a catalog sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Products created.
    pub products_created: usize,
    /// Prices created (new SKUs and changed prices).
    pub prices_created: usize,
    /// Old prices archived after a price change.
    pub prices_archived: usize,
    /// SKUs already up to date.
    pub unchanged: usize,
}

/// Why the payment provider refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The provider's price for a SKU differs from ours, or is missing.
    #[error("the payment catalog is out of date for `{sku}`: run `keys-ingest stripe-sync`")]
    CatalogOutOfSync {
        /// The SKU.
        sku: String,
    },
    /// The provider answered with an error.
    #[error("payment provider refused: {0}")]
    Refused(String),
    /// The provider could not be reached.
    #[error("payment provider unreachable: {0}")]
    Unreachable(String),
}

/// A payment provider.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Whether this is the local test-mode gateway (the UI labels it).
    fn is_test_mode(&self) -> bool;

    /// Creates the provider's customer for a holder (`user:<id>` / `organisation:<id>`), with an
    /// idempotency key derived from the holder so a retry never creates two.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_customer(&self, holder: &str, email: &str) -> Result<String, GatewayError>;

    /// Opens a Checkout Session for an order (idempotency key derived from the order id).
    ///
    /// # Errors
    /// [`GatewayError`]; [`GatewayError::CatalogOutOfSync`] when the provider's price differs.
    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, GatewayError>;

    /// Expires an open Checkout Session so it can no longer be paid (idempotent). `Ok(true)`:
    /// it is expired; `Ok(false)`: it cannot be expired because it is complete — a payment
    /// happened or is under way, so its order must not be cancelled.
    ///
    /// # Errors
    /// [`GatewayError`] when the provider cannot be reached or refuses for another reason.
    async fn expire_checkout(&self, id: &str) -> Result<bool, GatewayError>;

    /// Reads a Checkout Session (the return page fulfils from it when the webhook is late).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn retrieve_session(&self, id: &str) -> Result<SessionState, GatewayError>;

    /// Refunds a payment (all of it when `amount` is `None`), idempotently per `key`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn refund(&self, payment_intent: &str, amount: Option<Money>, key: &str) -> Result<(), GatewayError>;

    /// Changes live subscription `change.subscription` to `change.sku` now (a plan upgrade),
    /// charging exactly the quote's amount due: the new price from today, less `change.credit`
    /// as a one-off discount, the billing period restarting today, no proration of the
    /// provider's own. The payment confirms through `invoice.paid` naming `change.order_id`
    /// (subscription metadata). Answers the page the buyer goes to when the provider needs them
    /// (the local mode's test payment page), `None` when it charges the card on file.
    ///
    /// # Errors
    /// [`GatewayError`] (the change did not start: nothing was charged).
    async fn change_subscription(&self, change: &PlanChange) -> Result<Option<CheckoutSession>, GatewayError>;

    /// Schedules live subscription `subscription` to become `sku` (priced `unit_amount`) at its
    /// next renewal — a downgrade, or annual → monthly: nothing is charged now, the current plan
    /// stays until the paid period ends. `current_sku` stays the subscription's plan until then.
    ///
    /// # Errors
    /// [`GatewayError`] (nothing changed).
    async fn schedule_plan_change(
        &self,
        subscription: &str,
        sku: &str,
        unit_amount: Money,
        current_sku: &str,
        key: &str,
    ) -> Result<(), GatewayError>;

    /// Sets whether subscription `subscription` ends at the end of its paid period (`true`:
    /// cancel then, access until then) or renews (`false`: resume), under idempotency `key`.
    /// The provider confirms with `customer.subscription.updated`.
    ///
    /// # Errors
    /// [`GatewayError`] (nothing changed).
    async fn set_cancel_at_period_end(&self, subscription: &str, cancel: bool, key: &str) -> Result<(), GatewayError>;

    /// A billing-portal URL where the customer manages their subscription.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn billing_portal(&self, customer: &str, return_url: &str) -> Result<String, GatewayError>;

    /// Makes the provider's catalog match `items`: one Product and one active Price per SKU
    /// (lookup key = SKU); a changed price creates a new Price and archives the old one;
    /// re-running changes nothing.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn sync_catalog(&self, items: &[CatalogItem]) -> Result<SyncReport, GatewayError>;
}

/// Why the inbox failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook inbox storage failed: {0}")]
pub struct InboxError(pub String);

/// What one processing step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// The event id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// `Ok(summary)` when applied (or ignored), `Err(reason)` when it will be retried or is dead.
    pub outcome: Result<String, String>,
    /// Parked as dead (refused for good, or out of attempts): an operator must look at it.
    pub dead: bool,
}

/// An inbox row, for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Event id.
    pub event_id: String,
    /// Type.
    pub event_type: String,
    /// `pending`, `done`, `ignored`, `dead`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Last error.
    pub last_error: Option<String>,
}

/// The durable inbox of verified webhook events and the worker's operations on it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait InboxRepository: Send + Sync {
    /// Stores a verified event keyed by its id; `false` when it was already stored.
    ///
    /// # Errors
    /// [`InboxError`].
    async fn intake(
        &self,
        envelope: &crate::events::Envelope,
        payload: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, InboxError>;

    /// Claims and applies the next due event in one transaction (see the adapter).
    ///
    /// # Errors
    /// [`InboxError`].
    async fn process_next(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Option<Processed>, InboxError>;

    /// Claims up to `max` due events and applies each in its own savepoint of one transaction
    /// (its changes and its `done` mark commit together; a failing event rolls back alone and
    /// is scheduled for retry). A worker killed mid-batch leaves every claimed event pending.
    ///
    /// # Errors
    /// [`InboxError`].
    async fn process_batch(&self, now: chrono::DateTime<chrono::Utc>, max: usize)
    -> Result<Vec<Processed>, InboxError>;

    /// Revokes past-due entitlements whose grace ran out; returns how many.
    ///
    /// # Errors
    /// [`InboxError`].
    async fn sweep(&self, now: chrono::DateTime<chrono::Utc>) -> Result<usize, InboxError>;

    /// Puts an event back to pending (operator replay); `false` when unknown or already done.
    ///
    /// # Errors
    /// [`InboxError`].
    async fn replay(&self, event_id: &str, now: chrono::DateTime<chrono::Utc>) -> Result<bool, InboxError>;

    /// Rows in a state, oldest first.
    ///
    /// # Errors
    /// [`InboxError`].
    async fn list(&self, state: &str, limit: u64) -> Result<Vec<InboxEntry>, InboxError>;

    /// How many rows per state.
    ///
    /// # Errors
    /// [`InboxError`].
    async fn counts(&self) -> Result<Vec<(String, i64)>, InboxError>;

    /// Recorded payment disputes, newest first: only the open ones when `open_only`.
    ///
    /// # Errors
    /// [`InboxError`] when storage fails.
    async fn disputes(&self, open_only: bool) -> Result<Vec<DisputeRecord>, InboxError>;
}

/// Every SKU the shop sells, as the payment provider's catalog should have it: each KEY at its
/// single price, each bundle at its bundle price, each plan monthly and annually. `names` gives
/// KEY display names (slugs otherwise).
#[must_use]
pub fn catalog_items(
    offers: &pricing::Offers,
    names: &std::collections::BTreeMap<catalog::Slug, String>,
) -> Vec<CatalogItem> {
    let mut items = Vec::new();
    for (slug, tier) in offers.keys() {
        items.push(CatalogItem {
            sku: format!("key:{slug}"),
            name: names.get(slug).cloned().unwrap_or_else(|| slug.to_string()),
            amount: offers.prices().single(slug, *tier),
            interval: None,
        });
    }
    for b in offers.bundles() {
        if let Some(p) = offers.bundle_price(b) {
            items.push(CatalogItem {
                sku: format!("bundle:{}", b.slug),
                name: format!("{} (bundle)", b.title),
                amount: p.price,
                interval: None,
            });
        }
    }
    for tier in catalog::Tier::ALL {
        for interval in [Interval::Monthly, Interval::Annual] {
            let word = match interval {
                Interval::Monthly => "monthly",
                Interval::Annual => "annual",
            };
            items.push(CatalogItem {
                sku: format!("plan:{tier}:{word}"),
                name: format!("KEYS {tier} plan ({word})"),
                amount: offers.plan_price(*tier, interval),
                interval: Some(interval),
            });
        }
    }
    items
}

/// A storage failure inside the transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment storage failed: {0}")]
pub struct TxError(pub String);

/// The operations an event may need, all inside one transaction.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PaymentTx: Send + Sync {
    /// Queues a notice (a receipt, a failed payment, access ended) in this transaction: it is
    /// mailed only if the event's effects commit, and once per dedupe key.
    ///
    /// # Errors
    /// [`TxError`] when storage fails.
    async fn notify(&self, notice: &mail::Notice) -> Result<(), TxError>;

    /// An order by id or provider reference.
    ///
    /// # Errors
    /// [`TxError`].
    async fn order(&self, by: &OrderRef) -> Result<Option<Order>, TxError>;
    /// Pending → paid with grants; `false` when it was not pending (nothing changed).
    ///
    /// # Errors
    /// [`TxError`].
    async fn fulfil(&self, id: PurchaseId, f: &Fulfilment, grants: &[NewGrant]) -> Result<bool, TxError>;
    /// Cancelled → paid with grants (a payment that completed after its order was cancelled,
    /// once the rules found nothing conflicting); `false` when it was not cancelled.
    ///
    /// # Errors
    /// [`TxError`].
    async fn revive(&self, id: PurchaseId, f: &Fulfilment, grants: &[NewGrant]) -> Result<bool, TxError>;
    /// Every order of a holder and the credit uses among them, read under the holder's lock
    /// (the one that order creation takes), so what the rules decide from it stays true until
    /// the transaction commits.
    ///
    /// # Errors
    /// [`TxError`].
    async fn holder_history(&self, holder: entitlements::Holder) -> Result<(Vec<Order>, Vec<CreditUse>), TxError>;
    /// Merges provider references into an order.
    ///
    /// # Errors
    /// [`TxError`].
    async fn set_refs(&self, id: PurchaseId, refs: &PaymentRefs) -> Result<(), TxError>;
    /// Cancels a pending order (releasing its credit reservation).
    ///
    /// # Errors
    /// [`TxError`].
    async fn cancel_pending(&self, id: PurchaseId) -> Result<bool, TxError>;
    /// Makes plan order `id` its holder's one live subscription (releasing the holder's earlier
    /// live order when `id` replaces it or its period ended); `false` when another live
    /// subscription remains (nothing changed).
    ///
    /// # Errors
    /// [`TxError`].
    async fn make_live(&self, id: PurchaseId, now: DateTime<Utc>) -> Result<bool, TxError>;
    /// Records whether plan order `id`'s subscription ends at the end of its paid period.
    ///
    /// # Errors
    /// [`TxError`].
    async fn set_cancel_at_period_end(&self, id: PurchaseId, cancel: bool) -> Result<(), TxError>;
    /// The plan plan order `id` becomes at its next renewal, if one is scheduled.
    ///
    /// # Errors
    /// [`TxError`].
    async fn scheduled_plan(&self, id: PurchaseId) -> Result<Option<Sku>, TxError>;
    /// Clears (or sets) the plan plan order `id` becomes at its next renewal.
    ///
    /// # Errors
    /// [`TxError`].
    async fn set_scheduled_plan(&self, id: PurchaseId, sku: Option<Sku>) -> Result<(), TxError>;
    /// A recorded dispute.
    ///
    /// # Errors
    /// [`TxError`].
    async fn dispute(&self, id: &str) -> Result<Option<DisputeRecord>, TxError>;
    /// Records a dispute, or its new status.
    ///
    /// # Errors
    /// [`TxError`].
    async fn record_dispute(&self, dispute: &DisputeRecord) -> Result<(), TxError>;
    /// Plan order `id`'s subscription is no longer live.
    ///
    /// # Errors
    /// [`TxError`].
    async fn end_live(&self, id: PurchaseId) -> Result<(), TxError>;
    /// The entitlements an order granted.
    ///
    /// # Errors
    /// [`TxError`].
    async fn entitlements_of(&self, id: PurchaseId) -> Result<Vec<Entitlement>, TxError>;
    /// Saves an entitlement's new state with its audit line.
    ///
    /// # Errors
    /// [`TxError`].
    async fn update(&self, e: &Entitlement, audit: &AuditEntry) -> Result<(), TxError>;
    /// Grants for an order (linked to it).
    ///
    /// # Errors
    /// [`TxError`].
    async fn grant(&self, order: PurchaseId, g: &NewGrant) -> Result<Entitlement, TxError>;
    /// Records an order's refunded total and status.
    ///
    /// # Errors
    /// [`TxError`].
    async fn set_refund(&self, id: PurchaseId, refunded: Money, status: OrderStatus) -> Result<(), TxError>;
    /// Records a plan order's current SKU and period.
    ///
    /// # Errors
    /// [`TxError`].
    async fn set_plan(&self, id: PurchaseId, sku: &Sku, period: (DateTime<Utc>, DateTime<Utc>)) -> Result<(), TxError>;
}
