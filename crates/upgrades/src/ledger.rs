//! What a holder bought, as credit sees it.
//!
//! * The **value** of a [`Purchase`] is `cash_paid + credit_applied`: credit carried in from
//!   earlier purchases moves into the new purchase, so upgrading twice in a row credits everything
//!   paid so far, while each unit of credit is used once.
//! * [`Allocation`]s split the value over the KEYS the purchase covered, pro-rata by list price,
//!   with the largest-remainder rule of [`allocate`] so they sum exactly to the value. A plan
//!   purchase has none (plans give no per-KEY credit).
//! * [`Ledger::available`] is an allocation scaled by the kept fraction
//!   `(value − refunded) / value`, rounded **down**, less the [`CreditUse`]s of it by purchases
//!   that are not fully refunded (a fully refunded upgrade releases the credit it used).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use pricing::{Currency, Money};
//! use upgrades::{Allocation, Ledger, Purchase, PurchaseId};
//! let usd = |m| Money::from_minor(m, Currency::Usd);
//! let slug: catalog::Slug = "postgres-failover-runbook".parse().unwrap();
//! let mut ledger = Ledger::default();
//! ledger.purchases.push(Purchase {
//!     id: PurchaseId(12),
//!     sku: upgrades::Sku::Key(slug.clone()),
//!     purchased_at: Utc.with_ymd_and_hms(2025, 1, 2, 0, 0, 0).unwrap(),
//!     cash_paid: usd(4_900),
//!     credit_applied: usd(0),
//!     refunded: usd(0),
//!     allocations: vec![Allocation { slug: slug.clone(), amount: usd(4_900) }],
//! });
//! // $10.00 of $49.00 refunded: $39.00 of credit is left.
//! ledger.refund(PurchaseId(12), usd(1_000)).unwrap();
//! assert_eq!(ledger.available(PurchaseId(12), &slug), Some(usd(3_900)));
//! ```

use std::collections::BTreeSet;
use std::fmt;

use catalog::{Slug, Tier};
use chrono::{DateTime, Utc};
use pricing::{Interval, Money, MoneyError};
use serde::{Deserialize, Serialize};

use crate::sku::{Sku, interval_serde};

/// An order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PurchaseId(pub i64);

impl fmt::Display for PurchaseId {
    /// `#12`, as orders are shown to people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The part of a purchase's value that counts as paid for one KEY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The KEY.
    pub slug: Slug,
    /// Its share of the purchase's value.
    pub amount: Money,
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// Order id.
    pub id: PurchaseId,
    /// What was bought.
    pub sku: Sku,
    /// When.
    pub purchased_at: DateTime<Utc>,
    /// Money charged.
    pub cash_paid: Money,
    /// Credit from earlier purchases used by this one.
    pub credit_applied: Money,
    /// Refunded so far (at most the value).
    pub refunded: Money,
    /// The value spread over the KEYS covered (every KEY is listed, even at zero).
    pub allocations: Vec<Allocation>,
}

impl Purchase {
    fn value_minor(&self) -> i128 {
        i128::from(self.cash_paid.minor()) + i128::from(self.credit_applied.minor())
    }

    /// `cash_paid + credit_applied`.
    ///
    /// # Errors
    /// [`MoneyError`] if the amounts are in different currencies or overflow.
    pub fn value(&self) -> Result<Money, MoneyError> {
        self.cash_paid.checked_add(self.credit_applied)
    }

    /// Whether everything of value was refunded. A purchase of zero value (a free upgrade that
    /// used no credit) is never "fully refunded": there is nothing to refund.
    #[must_use]
    pub fn is_fully_refunded(&self) -> bool {
        let value = self.value_minor();
        value > 0 && i128::from(self.refunded.minor()) >= value
    }

    /// The KEYS this purchase covered (empty for a plan).
    pub fn keys(&self) -> impl Iterator<Item = &Slug> {
        self.allocations.iter().map(|a| &a.slug)
    }
}

/// Credit from purchase `from`'s allocation for `slug` consumed by purchase `by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditUse {
    /// The purchase the credit came from.
    pub from: PurchaseId,
    /// The KEY allocation it came from.
    pub slug: Slug,
    /// How much.
    pub amount: Money,
    /// The purchase that used it.
    pub by: PurchaseId,
}

/// The holder's current active plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Plan tier.
    pub tier: Tier,
    /// Billing interval.
    #[serde(with = "interval_serde")]
    pub interval: Interval,
    /// Start of the paid period.
    pub period_start: DateTime<Utc>,
    /// End of the paid period.
    pub period_end: DateTime<Utc>,
    /// What the last invoice charged for this period.
    pub last_paid: Money,
}

/// A new purchase and the credit it used, ready for [`Ledger::apply`] (made by
/// [`crate::settle`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The new purchase.
    pub purchase: Purchase,
    /// The credit it used.
    pub uses: Vec<CreditUse>,
}

/// Why a settlement cannot be recorded. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The order id is already in the ledger.
    #[error("order {0} is already recorded")]
    DuplicatePurchase(PurchaseId),
    /// Credit was used elsewhere (or refunded) since the quote: quote again.
    #[error("order {from} has only {available} of credit left for {slug}, not {wanted}; quote again")]
    CreditNoLongerAvailable {
        /// The purchase the credit comes from.
        from: PurchaseId,
        /// The KEY.
        slug: Slug,
        /// What the settlement uses.
        wanted: Money,
        /// What is left.
        available: Money,
    },
}

/// Why a refund cannot be recorded. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    /// No such order.
    #[error("order {0} is not in the ledger")]
    UnknownPurchase(PurchaseId),
    /// Refunding this much would hand back credit that later orders already used.
    #[error(
        "order {id}: only {refundable} can be refunded; the rest was carried as credit into order(s) {}, so refund those first",
        by.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    CreditCarriedForward {
        /// The order.
        id: PurchaseId,
        /// What can still be refunded.
        refundable: Money,
        /// The orders (not fully refunded) that used its credit.
        by: Vec<PurchaseId>,
    },
    /// The amount is in another currency.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// Splits `value` over KEYS pro-rata by their list prices so the parts sum exactly to `value`.
///
/// **Largest-remainder rule:** each KEY first gets `⌊value × price / total⌋`; the minor units
/// left over go one each to the KEYS with the largest remainders `value × price mod total`,
/// ties to the KEY listed first. If every price is zero the KEYS weigh the same. A negative value
/// counts as zero. No KEYS, no allocations.
///
/// ```
/// use pricing::{Currency, Money};
/// let usd = |m| Money::from_minor(m, Currency::Usd);
/// let keys: Vec<(catalog::Slug, Money)> =
///     ["aaa", "bbb", "ccc"].iter().map(|s| (s.parse().unwrap(), usd(4_900))).collect();
/// let parts = upgrades::allocate(usd(100), &keys);
/// let cents: Vec<i64> = parts.iter().map(|a| a.amount.minor()).collect();
/// assert_eq!(cents, [34, 33, 33]); // 33⅓ each; the one cent left goes to the first
/// ```
#[must_use]
pub fn allocate(value: Money, keys: &[(Slug, Money)]) -> Vec<Allocation> {
    let v = i128::from(value.minor().max(0));
    let mut weights: Vec<i128> = keys.iter().map(|(_, p)| i128::from(p.minor().max(0))).collect();
    if weights.iter().all(|w| *w == 0) {
        weights.iter_mut().for_each(|w| *w = 1);
    }
    let total: i128 = weights.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    let mut parts: Vec<i128> = weights.iter().map(|w| v * w / total).collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // Stable sort: ties keep list order.
    order.sort_by_key(|&i| std::cmp::Reverse(v * weights[i] % total));
    let left = v - parts.iter().sum::<i128>(); // < number of KEYS
    for &i in order.iter().take(usize::try_from(left).unwrap_or(0)) {
        parts[i] += 1;
    }
    keys.iter()
        .zip(parts)
        .map(|((slug, _), part)| Allocation {
            slug: slug.clone(),
            // Each part is at most `value`, so it fits.
            amount: Money::from_minor(i64::try_from(part).unwrap_or(0), value.currency()),
        })
        .collect()
}

/// Every purchase and every use of credit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// The orders.
    pub purchases: Vec<Purchase>,
    /// Credit used by orders.
    pub uses: Vec<CreditUse>,
}

impl Ledger {
    /// An order by id.
    #[must_use]
    pub fn purchase(&self, id: PurchaseId) -> Option<&Purchase> {
        self.purchases.iter().find(|p| p.id == id)
    }

    /// Whether a purchase that is not fully refunded covered `slug` (a KEY, or a bundle member):
    /// the holder owns it perpetually.
    #[must_use]
    pub fn owns(&self, slug: &Slug) -> bool {
        self.purchases
            .iter()
            .any(|p| !p.is_fully_refunded() && p.keys().any(|k| k == slug))
    }

    /// Whether a use counts: its consuming order is not fully refunded.
    fn counts(&self, used: &CreditUse) -> bool {
        self.purchase(used.by).is_none_or(|p| !p.is_fully_refunded())
    }

    /// Credit used from `(from, slug)` by orders that are not fully refunded, in minor units.
    fn used_minor(&self, from: PurchaseId, slug: &Slug) -> i128 {
        self.uses
            .iter()
            .filter(|u| u.from == from && u.slug == *slug && self.counts(u))
            .map(|u| i128::from(u.amount.minor()))
            .sum()
    }

    /// Credit left in order `from`'s allocation for `slug`: the allocation × (value − refunded)
    /// / value rounded down (0 when fully refunded), less uses by orders that are not fully
    /// refunded; never negative. `None` if the order is unknown or did not cover `slug`.
    #[must_use]
    pub fn available(&self, from: PurchaseId, slug: &Slug) -> Option<Money> {
        let purchase = self.purchase(from)?;
        let allocation = purchase.allocations.iter().find(|a| a.slug == *slug)?;
        let value = purchase.value_minor();
        let kept = (value - i128::from(purchase.refunded.minor())).clamp(0, value.max(0));
        let scaled = if value > 0 {
            i128::from(allocation.amount.minor()) * kept / value
        } else {
            0
        };
        let left = (scaled - self.used_minor(from, slug)).max(0);
        // `left` ≤ the allocation, so it fits.
        Some(Money::from_minor(
            i64::try_from(left).unwrap_or(0),
            allocation.amount.currency(),
        ))
    }

    /// Records a settlement after checking its order id is new and the credit it uses is still
    /// there.
    ///
    /// # Errors
    /// [`ApplyError`]; the ledger is unchanged.
    pub fn apply(&mut self, settlement: Settlement) -> Result<(), ApplyError> {
        let id = settlement.purchase.id;
        if self.purchase(id).is_some() {
            return Err(ApplyError::DuplicatePurchase(id));
        }
        let pairs: BTreeSet<(PurchaseId, &Slug)> = settlement.uses.iter().map(|u| (u.from, &u.slug)).collect();
        for (from, slug) in pairs {
            let wanted_minor: i64 = settlement
                .uses
                .iter()
                .filter(|u| u.from == from && u.slug == *slug)
                .map(|u| u.amount.minor())
                .sum();
            let available = self.available(from, slug);
            let currency = available.map_or(settlement.purchase.cash_paid.currency(), Money::currency);
            let available = available.unwrap_or(Money::zero(currency));
            if wanted_minor > available.minor() {
                return Err(ApplyError::CreditNoLongerAvailable {
                    from,
                    slug: slug.clone(),
                    wanted: Money::from_minor(wanted_minor, currency),
                    available,
                });
            }
        }
        self.purchases.push(settlement.purchase);
        self.uses.extend(settlement.uses);
        Ok(())
    }

    /// Records a refund of `amount` on order `id` (the refunded total is capped at the order's
    /// value; a negative amount changes nothing) and returns the new refunded total. A full refund is `refund(id, value)`: the cash
    /// goes back to the buyer and the credit the order used goes back to the orders it came from.
    ///
    /// An order whose credit was carried into later orders (not fully refunded) can only be
    /// refunded down to what they used: refund those first, so credit is never both refunded
    /// and spent.
    ///
    /// # Errors
    /// [`RefundError`]; the ledger is unchanged.
    pub fn refund(&mut self, id: PurchaseId, amount: Money) -> Result<Money, RefundError> {
        let purchase = self.purchase(id).ok_or(RefundError::UnknownPurchase(id))?;
        let value = purchase.value()?;
        let asked = purchase.refunded.checked_add(amount)?;
        // Refunds only add up (a negative amount changes nothing) and stop at the value.
        let capped = asked.minor().min(value.minor()).max(purchase.refunded.minor());
        let refunded = Money::from_minor(capped, value.currency());
        let carried: Vec<&CreditUse> = self.uses.iter().filter(|u| u.from == id && self.counts(u)).collect();
        let carried_minor: i64 = carried.iter().map(|u| u.amount.minor()).sum();
        if refunded.minor() > purchase.refunded.minor() && refunded.minor() > value.minor() - carried_minor {
            let by: BTreeSet<PurchaseId> = carried.iter().map(|u| u.by).collect();
            let refundable = (value.minor() - carried_minor - purchase.refunded.minor()).max(0);
            return Err(RefundError::CreditCarriedForward {
                id,
                refundable: Money::from_minor(refundable, value.currency()),
                by: by.into_iter().collect(),
            });
        }
        if let Some(p) = self.purchases.iter_mut().find(|p| p.id == id) {
            p.refunded = refunded;
        }
        Ok(refunded)
    }
}
