//! Buying and upgrading as one service over the ports: resolve a [`Sku`] against the
//! [`Offers`], build the holder's [`QuoteContext`] from their entitlements and orders, quote,
//! and record a paid order with its grants; refund an order and revoke what it granted.
//!
//! **Refund policy.** A full refund revokes every entitlement the order granted (a bundle:
//! every member) and releases the credit the order had used from earlier orders. A partial
//! refund keeps access and reduces, pro rata, the credit the order gives later upgrades. An
//! order whose credit was carried into a later order that still stands can only be refunded
//! down to the part not carried forward: refund the later order first.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Months, Utc};
use entitlements::ports::{EntitlementRepository, NewGrant};
use entitlements::{Actor, Entitlement, Holder, RevokeReason, Scope, Source, Term, UserId};
use pricing::{Interval, Money, Offers};

use crate::ports::{Channel, Fulfilment, NewOrder, Order, OrderRepository, OrderStatus, RecordOrderError, ledger_of};
use crate::{PurchaseId, Quote, QuoteContext, QuoteError, RefundError, SettleError, Sku, Target, quote, settle};

/// Why a SKU does not name something for sale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No KEY with that slug.
    #[error("no KEY has the slug `{0}`")]
    UnknownKey(String),
    /// No bundle with that slug.
    #[error("no bundle has the slug `{0}`")]
    UnknownBundle(String),
}

/// Resolves a SKU to what it sells, with today's prices.
///
/// # Errors
/// [`ResolveError`] naming the unknown KEY or bundle.
pub fn resolve(sku: &Sku, offers: &Offers) -> Result<Target, ResolveError> {
    match sku {
        Sku::Key(slug) => offers
            .key_price(slug)
            .map(|price| Target::Key {
                slug: slug.clone(),
                price,
            })
            .ok_or_else(|| ResolveError::UnknownKey(slug.to_string())),
        Sku::Bundle(slug) => {
            let bundle = offers
                .bundle(slug)
                .ok_or_else(|| ResolveError::UnknownBundle(slug.to_string()))?;
            Ok(Target::Bundle {
                slug: slug.clone(),
                members: offers.bundle_members(bundle),
                discount: bundle.discount,
            })
        }
        Sku::Plan { tier, interval } => Ok(Target::Plan {
            tier: *tier,
            interval: *interval,
            price: offers.plan_price(*tier, *interval),
            scope: offers.plan_scope(*tier),
        }),
    }
}

/// The KEYS a holder holds perpetually now (from any source), from its entitlements.
#[must_use]
pub fn owned_keys(list: &[Entitlement], holder: Holder, now: DateTime<Utc>) -> BTreeSet<catalog::Slug> {
    entitlements::Coverage::of(
        list.iter().filter(|e| e.holder == holder && e.term == Term::Perpetual),
        now,
    )
    .keys
}

/// The quote an anonymous visitor sees: list prices, no credit, nothing owned — every plan
/// quoted, Enterprise included (it is sold to organisations, and a visitor may buy for one).
///
/// # Errors
/// [`QuoteRequestError`] when the SKU names nothing for sale.
pub fn list_price_quote(sku: &Sku, offers: &Offers, now: DateTime<Utc>) -> Result<Quote, QuoteRequestError> {
    let target = resolve(sku, offers)?;
    let ctx = QuoteContext {
        holder_is_organisation: matches!(
            sku,
            Sku::Plan {
                tier: catalog::Tier::Enterprise,
                ..
            }
        ),
        owned: BTreeSet::new(),
        ledger: crate::Ledger::default(),
        subscription: None,
        now,
    };
    Ok(quote(&target, &ctx)?)
}

/// Why a quote could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteRequestError {
    /// The SKU names nothing for sale.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The rules refuse it (already owned, not an upgrade, …).
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] ReadError),
}

/// One purchase being made: who holds what is bought, who pays, what, at which prices, through
/// which channel, and when. The argument of [`Commerce::prepare`], [`Commerce::open_checkout`]
/// and [`Commerce::purchase`].
#[derive(Debug, Clone, Copy)]
pub struct Buying<'a> {
    /// Who will hold what is bought (a user, or an organisation).
    pub holder: Holder,
    /// The signed-in user paying.
    pub buyer: UserId,
    /// What.
    pub sku: &'a Sku,
    /// The price list and bundles in force.
    pub offers: &'a Offers,
    /// Through which channel it is paid.
    pub channel: Channel,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The order that buying `target` at `quote`'s amount due records, before storage assigns it
/// an id: the quote's prices and explanation, the credit it carries and its value per KEY, a
/// plan's first period from now. Pure: [`Commerce::prepare`] uses it after quoting, and so can
/// a test or an in-memory store.
///
/// # Errors
/// [`SettleError`] when the quote does not settle (it was not made for `target`).
pub fn order_for(buying: &Buying<'_>, target: &Target, quote: &Quote) -> Result<NewOrder, SettleError> {
    let now = buying.now;
    let settlement = settle(quote, PurchaseId(0), target, quote.amount_due, now)?;
    let period = match target {
        Target::Plan { interval, .. } => Some((now, period_end(now, *interval))),
        _ => None,
    };
    Ok(NewOrder {
        holder: buying.holder,
        buyer: buying.buyer,
        sku: buying.sku.clone(),
        list_price: quote.list_price,
        amount_due: quote.amount_due,
        cash_paid: quote.amount_due,
        credit_applied: settlement.purchase.credit_applied,
        allocations: settlement.purchase.allocations,
        explanation: quote.explanation.clone(),
        channel: buying.channel,
        period,
        at: now,
        quote_id: Some(quote_id(buying.holder, quote)),
    })
}

/// A holder's live subscription as the buyer sees it (see [`Commerce::live_subscription`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSubscription {
    /// The provider's subscription id (`sub_…`), the same across plan changes.
    pub id: String,
    /// The plan's tier.
    pub tier: catalog::Tier,
    /// Monthly or annual.
    pub interval: Interval,
    /// `active`, `past_due` or `canceled`.
    pub status: &'static str,
    /// End of the paid period.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Ends at the end of the paid period instead of renewing.
    pub cancel_at_period_end: bool,
    /// The plan it becomes at the next renewal (a scheduled downgrade).
    pub scheduled: Option<Sku>,
    /// The plan order it runs on now.
    pub order: Order,
}

/// A read of the holder's orders or entitlements failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The order store.
    #[error(transparent)]
    Orders(#[from] crate::ports::OrderStoreError),
    /// The entitlement store.
    #[error(transparent)]
    Entitlements(#[from] entitlements::ports::EntitlementStoreError),
}

/// Why a purchase could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    /// The quote failed.
    #[error(transparent)]
    Quote(#[from] QuoteRequestError),
    /// The amount paid is not the amount due.
    #[error(transparent)]
    Settle(#[from] SettleError),
    /// A credit was used meanwhile, or storage failed.
    #[error(transparent)]
    Record(#[from] RecordOrderError),
}

/// Why a refund was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundOrderError {
    /// No such order.
    #[error("no order {0}")]
    UnknownOrder(PurchaseId),
    /// Already fully refunded.
    #[error("order {0} is already fully refunded")]
    AlreadyRefunded(PurchaseId),
    /// Not paid (pending or cancelled): nothing to refund.
    #[error("order {0} was never paid")]
    NotPaid(PurchaseId),
    /// The amount is zero, negative or in another currency.
    #[error("refund amount {amount} must be a positive amount in {currency}")]
    BadAmount {
        /// Asked.
        amount: String,
        /// The order's currency.
        currency: String,
    },
    /// The amount is more than the cash still refundable (cash paid less earlier refunds —
    /// never the list value).
    #[error("refund amount {amount} is more than the {left} still refundable (cash paid less earlier refunds)")]
    MoreThanRefundable {
        /// Asked.
        amount: String,
        /// Cash still refundable.
        left: String,
    },
    /// The ledger refuses (credit carried into a later order).
    #[error(transparent)]
    Ledger(#[from] RefundError),
    /// Storage failed.
    #[error("{0}")]
    Store(String),
}

/// A quote and the order that buying it records.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What is sold.
    pub target: Target,
    /// The quote.
    pub quote: Quote,
    /// The order to record.
    pub order: NewOrder,
}

/// A stable id of a quote: the holder, SKU, amounts and credits it was made of.
#[must_use]
pub fn quote_id(holder: Holder, q: &Quote) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(format!(
        "{holder:?}|{}|{}|{}|{}",
        q.sku,
        q.list_price.minor(),
        q.discount.minor(),
        q.amount_due.minor()
    ));
    for u in &q.uses {
        h.update(format!("|{}:{}:{}", u.from.0, u.slug, u.amount.minor()));
    }
    format!("qt_{}", &hex::encode(h.finalize())[..24])
}

/// What an order grants when paid: a KEY or a bundle perpetually (a bundle whose every member
/// was owned: as a free upgrade), a plan until its period end. Bundle members are the order's
/// allocations (the members when it was bought).
#[allow(clippy::too_many_arguments)]
#[must_use]
pub fn grants_for(
    sku: &Sku,
    allocations: &[crate::Allocation],
    holder: Holder,
    free: bool,
    period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    actor: &Actor,
    cause: &str,
    at: DateTime<Utc>,
) -> Vec<NewGrant> {
    let (scope, source, term) = match sku {
        Sku::Key(slug) => (Scope::Key(slug.clone()), Source::Purchase, Term::Perpetual),
        Sku::Bundle(slug) => (
            Scope::Bundle {
                bundle: slug.clone(),
                keys: allocations.iter().map(|a| a.slug.clone()).collect(),
            },
            if free {
                Source::FreeUpgrade
            } else {
                Source::BundlePurchase
            },
            Term::Perpetual,
        ),
        Sku::Plan { tier, interval } => (
            Scope::Plan { tier: *tier },
            Source::Subscription,
            Term::TimeBound {
                period_end: period.map_or_else(|| period_end(at, *interval), |p| p.1),
            },
        ),
    };
    vec![NewGrant {
        holder,
        scope,
        source,
        term,
        actor: actor.clone(),
        cause: cause.to_owned(),
        at,
    }]
}

/// A quote with the context it was made in.
#[derive(Debug, Clone)]
pub struct Quoted {
    /// What is sold.
    pub target: Target,
    /// The quote.
    pub quote: Quote,
}

/// Buying, upgrading and refunding.
#[derive(Clone)]
pub struct Commerce {
    orders: Arc<dyn OrderRepository>,
    entitlements: Arc<dyn EntitlementRepository>,
}

impl std::fmt::Debug for Commerce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Commerce")
    }
}

/// The end of a plan period that starts at `start`.
#[must_use]
pub fn period_end(start: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let months = match interval {
        Interval::Monthly => 1,
        Interval::Annual => 12,
    };
    start.checked_add_months(Months::new(months)).unwrap_or(start)
}

impl Commerce {
    /// Builds the service over its ports.
    #[must_use]
    pub fn new(orders: Arc<dyn OrderRepository>, entitlements: Arc<dyn EntitlementRepository>) -> Self {
        Self { orders, entitlements }
    }

    /// A holder's orders, oldest first.
    ///
    /// # Errors
    /// [`ReadError`].
    pub async fn orders(&self, holder: Holder) -> Result<Vec<Order>, ReadError> {
        Ok(self.orders.history(holder).await?.0)
    }

    /// The holder's current subscription order, if any (the highest tier whose period
    /// contains `now`).
    ///
    /// # Errors
    /// [`ReadError`].
    pub async fn subscription(&self, holder: Holder, now: DateTime<Utc>) -> Result<Option<Order>, ReadError> {
        let orders = self.orders(holder).await?;
        Ok(orders
            .into_iter()
            .filter_map(|o| o.subscription(now).map(|s| (s.tier, o)))
            .max_by_key(|(tier, o)| (*tier, o.id))
            .map(|(_, o)| o))
    }

    async fn context(&self, holder: Holder, now: DateTime<Utc>) -> Result<QuoteContext, ReadError> {
        let (orders, uses) = self.orders.history(holder).await?;
        let list = self.entitlements.for_holder(holder).await?;
        let subscription = orders
            .iter()
            .filter_map(|o| o.subscription(now))
            .max_by_key(|s| (s.tier, s.period_end));
        Ok(QuoteContext {
            holder_is_organisation: matches!(holder, Holder::Organisation(_)),
            owned: owned_keys(&list, holder, now),
            ledger: ledger_of(&orders, &uses),
            subscription,
            now,
        })
    }

    /// The quote for `holder` buying `sku` now: list price, bundle discount, every credit from
    /// what the holder actually paid, and the amount due.
    ///
    /// # Errors
    /// [`QuoteRequestError`].
    pub async fn quote(
        &self,
        holder: Holder,
        sku: &Sku,
        offers: &Offers,
        now: DateTime<Utc>,
    ) -> Result<Quoted, QuoteRequestError> {
        let target = resolve(sku, offers)?;
        let ctx = self.context(holder, now).await?;
        let quote = quote(&target, &ctx)?;
        Ok(Quoted { target, quote })
    }

    /// Quotes several SKUs for one holder from one read of its orders and entitlements (the
    /// bundles page, the billing page's upgrade offers).
    ///
    /// # Errors
    /// [`ReadError`]; per-SKU refusals are in the list.
    pub async fn quote_many(
        &self,
        holder: Holder,
        skus: &[Sku],
        offers: &Offers,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Sku, Result<Quote, QuoteRequestError>)>, ReadError> {
        let ctx = self.context(holder, now).await?;
        Ok(skus
            .iter()
            .map(|sku| {
                let q = resolve(sku, offers)
                    .map_err(QuoteRequestError::from)
                    .and_then(|t| quote(&t, &ctx).map_err(QuoteRequestError::from));
                (sku.clone(), q)
            })
            .collect())
    }

    /// The KEYS a holder holds perpetually now.
    ///
    /// # Errors
    /// [`ReadError`].
    pub async fn owned(&self, holder: Holder, now: DateTime<Utc>) -> Result<BTreeSet<catalog::Slug>, ReadError> {
        let list = self.entitlements.for_holder(holder).await?;
        Ok(owned_keys(&list, holder, now))
    }

    /// Quotes `sku` for `holder` and builds the order that buying it at the quote's amount
    /// due records.
    ///
    /// # Errors
    /// [`PurchaseError`].
    pub async fn prepare(&self, buying: &Buying<'_>) -> Result<Prepared, PurchaseError> {
        let Quoted { target, quote } = self.quote(buying.holder, buying.sku, buying.offers, buying.now).await?;
        let order = order_for(buying, &target, &quote)?;
        Ok(Prepared { target, quote, order })
    }

    /// Records that `holder` bought `sku` paying the quote's amount due (support recording a
    /// payment made outside the shop, or a free upgrade), and grants what it buys.
    ///
    /// # Errors
    /// [`PurchaseError`]; nothing is recorded then.
    pub async fn purchase(&self, buying: &Buying<'_>, actor: Actor, cause: &str) -> Result<Order, PurchaseError> {
        let (holder, now) = (buying.holder, buying.now);
        let Prepared { quote, order, .. } = self.prepare(buying).await?;
        let grants = grants_for(
            &order.sku,
            &order.allocations,
            holder,
            quote.free_upgrade,
            order.period,
            &actor,
            cause,
            now,
        );
        let (order, _) = self.orders.record_paid(&order, &quote.uses, &grants).await?;
        Ok(order)
    }

    /// Opens a pending order for a checkout: the quote's credit is reserved until the order is
    /// paid or cancelled. Storage refuses while another pending order of the holder for the same
    /// SKU exists ([`RecordOrderError::PendingExists`]); closing that one first is the checkout
    /// workflow's decision (`payments::checkout`), since only it knows whether a payment started.
    ///
    /// # Errors
    /// [`PurchaseError`]; nothing is recorded then.
    pub async fn open_checkout(&self, buying: &Buying<'_>) -> Result<(Order, Quote), PurchaseError> {
        let Prepared { quote, order, .. } = self.prepare(buying).await?;
        let order = self.orders.create_pending(&order, &quote.uses).await?;
        Ok((order, quote))
    }

    /// Fulfils a pending order now (a free upgrade, a local payment, or the return page that
    /// found the session paid before its webhook): marks it paid and grants what it buys.
    /// Idempotent with the webhook worker: the second caller changes nothing.
    ///
    /// # Errors
    /// [`crate::ports::OrderStoreError`].
    pub async fn fulfil(
        &self,
        order: &Order,
        fulfilment: &Fulfilment,
        actor: &Actor,
        cause: &str,
    ) -> Result<(Order, bool), crate::ports::OrderStoreError> {
        let period = match order.sku {
            Sku::Plan { interval, .. } => Some(
                fulfilment
                    .period
                    .unwrap_or((fulfilment.at, period_end(fulfilment.at, interval))),
            ),
            _ => None,
        };
        let grants = grants_for(
            &order.sku,
            &order.allocations,
            order.holder,
            order.amount_due.minor() == 0 && matches!(order.sku, Sku::Bundle(_)),
            period,
            actor,
            cause,
            fulfilment.at,
        );
        let f = Fulfilment {
            period,
            ..fulfilment.clone()
        };
        self.orders.fulfil(order.id, &f, &grants).await
    }

    /// The holder's live subscription (at most one: storage enforces it), with its standing
    /// from the plan's entitlements: `active`, `past_due` (a renewal failed, access during the
    /// grace period) or `canceled` (ended; access stopped).
    ///
    /// # Errors
    /// [`ReadError`].
    pub async fn live_subscription(
        &self,
        holder: Holder,
        now: DateTime<Utc>,
    ) -> Result<Option<LiveSubscription>, ReadError> {
        let Some(live) = self.orders.live_plan(holder).await? else {
            return Ok(None);
        };
        let (Some(id), Sku::Plan { tier, interval }) = (live.order.refs.subscription.clone(), &live.order.sku) else {
            return Ok(None);
        };
        let grants = self.entitlements.for_holder(holder).await?;
        let status = match entitlements::plan_standing(&grants, holder, now) {
            Some(entitlements::PlanStanding::Active { .. }) => "active",
            Some(entitlements::PlanStanding::PastDue { .. }) => "past_due",
            _ => "canceled",
        };
        Ok(Some(LiveSubscription {
            id,
            tier: *tier,
            interval: *interval,
            status,
            current_period_end: live.order.period.map(|p| p.1),
            cancel_at_period_end: live.cancel_at_period_end,
            scheduled: live.scheduled,
            order: live.order,
        }))
    }

    /// One order.
    ///
    /// # Errors
    /// [`ReadError`].
    pub async fn order(&self, id: PurchaseId) -> Result<Option<Order>, ReadError> {
        Ok(self.orders.find(id).await?)
    }

    /// Checks that `amount` of an order (all of it when `None`: every cent not refunded yet) may
    /// be refunded, without changing anything: the order exists, is not already refunded, the
    /// amount is positive and at most the cash still refundable (cash paid − cash refunded so
    /// far — never the list value), and no later order still stands on credit carried from it.
    /// Returns the order, its refunded total after the refund, and its value (cash + credit).
    ///
    /// # Errors
    /// [`RefundOrderError`].
    pub async fn refundable(
        &self,
        id: PurchaseId,
        amount: Option<Money>,
    ) -> Result<(Order, Money, Money), RefundOrderError> {
        let order = self
            .orders
            .find(id)
            .await
            .map_err(|e| RefundOrderError::Store(e.to_string()))?
            .ok_or(RefundOrderError::UnknownOrder(id))?;
        if order.status == OrderStatus::Refunded {
            return Err(RefundOrderError::AlreadyRefunded(id));
        }
        if !order.was_paid() {
            return Err(RefundOrderError::NotPaid(id));
        }
        let value = order
            .cash_paid
            .checked_add(order.credit_applied)
            .map_err(|e| RefundOrderError::Store(e.to_string()))?;
        // A full refund refunds the whole value (cash and the credit carried in).
        // While an order is not fully refunded, `refunded` is the sum of its partial (cash)
        // refunds, so what is left to refund in cash is the cash paid less that.
        let refundable = Money::from_minor(
            (order.cash_paid.minor() - order.refunded.minor()).max(0),
            order.cash_paid.currency(),
        );
        let ledger_amount = match amount {
            None => value,
            Some(a) if a.currency() != order.cash_paid.currency() || a.minor() <= 0 => {
                return Err(RefundOrderError::BadAmount {
                    amount: a.to_string(),
                    currency: order.cash_paid.currency().code().to_owned(),
                });
            }
            Some(a) if a.minor() > refundable.minor() => {
                return Err(RefundOrderError::MoreThanRefundable {
                    amount: a.to_string(),
                    left: refundable.to_string(),
                });
            }
            // The rest of the cash: a full refund (the credit carried in goes back too).
            Some(a) if a == refundable => value,
            Some(a) => a,
        };
        let (orders, uses) = self
            .orders
            .history(order.holder)
            .await
            .map_err(|e| RefundOrderError::Store(e.to_string()))?;
        let mut ledger = ledger_of(&orders, &uses);
        let refunded = ledger.refund(id, ledger_amount)?;
        Ok((order, refunded, value))
    }

    /// Refunds `amount` of an order (all of it when `None`). A full refund revokes what the
    /// order granted; see the module's refund policy.
    ///
    /// # Errors
    /// [`RefundOrderError`]; nothing changes then.
    pub async fn refund(
        &self,
        id: PurchaseId,
        amount: Option<Money>,
        actor: Actor,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<Order, RefundOrderError> {
        let (order, refunded, value) = self.refundable(id, amount).await?;
        let full = refunded.minor() >= value.minor();
        let mut revocations = Vec::new();
        if full {
            for eid in self
                .orders
                .granted_by(id)
                .await
                .map_err(|e| RefundOrderError::Store(e.to_string()))?
            {
                let Some(mut e) = self
                    .entitlements
                    .find(eid)
                    .await
                    .map_err(|e| RefundOrderError::Store(e.to_string()))?
                else {
                    continue;
                };
                if let Ok(audit) = e.revoke(RevokeReason::Refund, actor.clone(), cause, now) {
                    revocations.push((e, audit));
                }
            }
        }
        let status = if full {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartiallyRefunded
        };
        self.orders
            .record_refund(id, refunded, status, &revocations)
            .await
            .map_err(|e| RefundOrderError::Store(e.to_string()))?;
        Ok(Order {
            refunded,
            status,
            ..order
        })
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod service_tests;
