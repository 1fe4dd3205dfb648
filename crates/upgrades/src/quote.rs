//! Upgrade quotes and their settlement.
//!
//! The caller resolves a [`Sku`] against the catalog and the price list into a [`Target`], and
//! describes the holder in a [`QuoteContext`]; [`quote`] applies the rules below and returns a
//! [`Quote`] listing every line (list price, discount, each credit with the order it comes from,
//! amount due) and a plain-English explanation. [`settle`] turns a paid quote into the
//! [`Settlement`] that [`Ledger::apply`](crate::Ledger::apply) records.
//!
//! # Rules (each with its worked example; the tests named prove them)
//!
//! 1. **KEY** — already owned perpetually (from any source) → [`QuoteError::AlreadyOwned`].
//!    Otherwise the list price, no credit. *A $49.00 KEY costs $49.00*
//!    (`key_costs_its_list_price_49_00_and_an_owned_key_is_refused`).
//! 2. **Bundle price** — [`pricing::bundle_price`] of the members' single prices: *3 KEYS at
//!    $49.00 list $147.00, 22 % off ($32.34) = $114.66*.
//! 3. **Bundle credit** — every purchase not fully refunded gives the credit still
//!    [`available`](crate::Ledger::available) in its allocations for the bundle's members, oldest
//!    purchase first, then by slug. The total is capped at the price; the last credit used may be
//!    partial. *Having paid $49.00 for one member in order #12, you pay $114.66 − $49.00 =
//!    $65.66* (`bundle_worked_example_147_00_less_22pct_is_114_66_credit_49_00_pays_65_66`).
//! 4. **Free upgrade** — if every member is already owned, the bundle is free (`free_upgrade`,
//!    amount due zero) whether or not the credits reach the price; credits are still used up to
//!    the price. *Three $49.00 KEYS bought: credit $49.00 + $49.00 + $16.66 = $114.66, due $0.00*
//!    (`bundle_free_upgrade_when_all_three_owned_uses_49_49_16_66`); *members granted by support,
//!    no credit: due $0.00* (`bundle_free_upgrade_without_credit_when_members_were_granted`).
//! 5. **Bundle already bought** — a purchase of the same bundle, not fully refunded, that covers
//!    every current member → [`QuoteError::AlreadyOwned`]
//!    (`a_bundle_bought_before_is_refused_unless_refunded_or_grown`).
//! 6. **Enterprise** plans are sold to organisations only →
//!    [`QuoteError::EnterpriseNeedsOrganisation`].
//! 7. **Plan changes** — with a current subscription, only a higher tier, or the same tier from
//!    monthly to annual → else [`QuoteError::NotAnUpgrade`] (`plan_changes_must_be_upgrades`).
//!    The unused part of the current period is credited: `last_paid × remaining / period`,
//!    rounded down, in whole seconds, remaining clamped to the period. *$29.00 monthly, 10 of 30
//!    days left: $9.66*.
//! 8. **Recent purchases toward a plan** — KEY and bundle purchases made in the last
//!    [`RECENT_PURCHASE_WINDOW_DAYS`] days give their available credit for KEYS in the plan's
//!    scope. Unused plan time is used first, then purchases oldest first; the total is capped at
//!    the plan price (the first invoice). *Operator monthly → Scale monthly $59.00: $9.66 unused
//!    time + $49.00 KEY bought 20 days ago = $58.66; the $0.34 left is waived (rule 11), you
//!    pay $0.00; a KEY bought 31 days ago or outside the scope gives nothing*
//!    (`plan_upgrade_59_00_credits_9_66_unused_time_and_49_00_recent_key`).
//! 9. **Bounds** — the amount due is never negative and never more than the price;
//!    `price = list_price − discount`; `amount_due = price − credit_total − waived`.
//! 10. **Settlement** — the cash paid must equal the amount due. The new purchase's credit is
//!     the credit from purchases (unused plan time stays with the plan) and its value is spread
//!     over the target's KEYS by [`allocate`] (a plan gets none). Upgrading twice credits all
//!     that was paid (`upgrading_twice_credits_everything_paid_so_far`).
//! 11. **Minimum charge** — a card payment cannot be smaller than the currency's minimum
//!     ($0.50, €0.50, £0.30, ¥50; price lists may not price anything below it). When credit
//!     leaves an amount above zero but below it, that amount is *waived*: the buyer pays
//!     nothing now, the quote shows a `waived` line and says so, and the order keeps the
//!     explanation. The shop writes off at most the minimum less one cent per purchase; it never
//!     rounds a charge *up* to the minimum (the buyer would pay more than the quote)
//!     (`an_amount_below_the_card_minimum_is_waived_and_said`).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use pricing::{BasisPoints, Currency, Money};
//! use upgrades::{quote, settle, Ledger, PurchaseId, QuoteContext, Target};
//! let usd = |m| Money::from_minor(m, Currency::Usd);
//! let slug = |s: &str| -> catalog::Slug { s.parse().unwrap() };
//! let now = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
//! let (pg, k8s, tf) = (slug("postgres-failover-runbook"), slug("k8s-incident-101"), slug("terraform-drift"));
//! let mut ledger = Ledger::default();
//! // Order #12: one KEY at $49.00.
//! let key = Target::Key { slug: pg.clone(), price: usd(4_900) };
//! let mut ctx = QuoteContext::new(ledger, now);
//! let q = quote(&key, &ctx).unwrap();
//! // Settled into the ledger, the KEY is owned: it cannot be bought again.
//! ctx.ledger.apply(settle(&q, PurchaseId(12), &key, q.amount_due, now).unwrap()).unwrap();
//! assert!(ctx.owns(&pg) && quote(&key, &ctx).is_err());
//! // Then the bundle of three at 22 % off.
//! let bundle = Target::Bundle {
//!     slug: slug("ops-pack"),
//!     members: vec![(pg, usd(4_900)), (k8s, usd(4_900)), (tf, usd(4_900))],
//!     discount: BasisPoints::new(2_200).unwrap(),
//! };
//! let q = quote(&bundle, &ctx).unwrap();
//! assert_eq!(q.amount_due.to_string(), "$65.66");
//! assert_eq!(
//!     q.explanation,
//!     "Bundle of 3 KEYS: list $147.00 less 22% bundle discount ($32.34) = $114.66. \
//!      Credit $49.00 for what you paid in order #12 (key:postgres-failover-runbook). You pay $65.66."
//! );
//! ```

use std::collections::BTreeSet;

use catalog::{Slug, Tier};
use chrono::{DateTime, Duration, Utc};
use pricing::{BasisPoints, BundleError, Currency, Interval, Money, MoneyError, bundle_price};
use serde::Serialize;

use crate::ledger::{CreditUse, Ledger, Purchase, PurchaseId, Settlement, Subscription, allocate};
use crate::sku::{Sku, interval_as_str, interval_serde};

/// How recent a KEY or bundle purchase must be to count toward a plan, in days.
pub const RECENT_PURCHASE_WINDOW_DAYS: i64 = 30;

/// A SKU resolved against the catalog and the price list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One KEY.
    Key {
        /// The KEY.
        slug: Slug,
        /// Its single price.
        price: Money,
    },
    /// A bundle.
    Bundle {
        /// The bundle.
        slug: Slug,
        /// Its member KEYS with their single prices.
        members: Vec<(Slug, Money)>,
        /// Its discount.
        discount: BasisPoints,
    },
    /// A plan.
    Plan {
        /// Plan tier.
        tier: Tier,
        /// Billing interval.
        interval: Interval,
        /// The plan's price per interval.
        price: Money,
        /// KEYS currently at or below the tier, with their single prices.
        scope: Vec<(Slug, Money)>,
    },
}

impl Target {
    /// The SKU of this target.
    #[must_use]
    pub fn sku(&self) -> Sku {
        match self {
            Target::Key { slug, .. } => Sku::Key(slug.clone()),
            Target::Bundle { slug, .. } => Sku::Bundle(slug.clone()),
            Target::Plan { tier, interval, .. } => Sku::Plan {
                tier: *tier,
                interval: *interval,
            },
        }
    }

    /// The KEYS a purchase of this target is allocated over, with their list prices (a plan:
    /// none).
    #[must_use]
    pub fn allocation_keys(&self) -> Vec<(Slug, Money)> {
        match self {
            Target::Key { slug, price } => vec![(slug.clone(), *price)],
            Target::Bundle { members, .. } => members.clone(),
            Target::Plan { .. } => Vec::new(),
        }
    }
}

/// The holder asking for a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteContext {
    /// Organisations may buy Enterprise plans; users may not.
    pub holder_is_organisation: bool,
    /// KEYS the holder holds perpetually now from outside the ledger (manual grants, imports).
    /// What the ledger's purchases settled counts as owned without being listed here, so the
    /// two can never disagree: see [`QuoteContext::owns`].
    pub owned: BTreeSet<Slug>,
    /// The holder's purchases and credit uses.
    pub ledger: Ledger,
    /// The holder's current active plan, if any.
    pub subscription: Option<Subscription>,
    /// Now.
    pub now: DateTime<Utc>,
}

impl QuoteContext {
    /// A user's context: nothing granted, no plan.
    #[must_use]
    pub fn new(ledger: Ledger, now: DateTime<Utc>) -> Self {
        Self {
            holder_is_organisation: false,
            owned: BTreeSet::new(),
            ledger,
            subscription: None,
            now,
        }
    }

    /// The same for an organisation (which may buy Enterprise).
    #[must_use]
    pub fn for_organisation(mut self) -> Self {
        self.holder_is_organisation = true;
        self
    }

    /// With KEYS held from outside the ledger (grants).
    #[must_use]
    pub fn with_granted(mut self, slugs: impl IntoIterator<Item = Slug>) -> Self {
        self.owned.extend(slugs);
        self
    }

    /// With the holder's current plan.
    #[must_use]
    pub fn with_subscription(mut self, subscription: Subscription) -> Self {
        self.subscription = Some(subscription);
        self
    }

    /// Whether the holder owns `slug` perpetually: granted, or settled by a purchase in the
    /// ledger that is not fully refunded.
    #[must_use]
    pub fn owns(&self, slug: &Slug) -> bool {
        self.owned.contains(slug) || self.ledger.owns(slug)
    }
}

/// Where a credit comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CreditSource {
    /// What was paid in an earlier order.
    Purchase {
        /// The order.
        id: PurchaseId,
        /// What it bought.
        sku: Sku,
        /// When.
        purchased_at: DateTime<Utc>,
    },
    /// The unused part of the current plan period.
    UnusedPlanTime {
        /// Current plan tier.
        tier: Tier,
        /// Current billing interval.
        #[serde(with = "interval_serde")]
        interval: Interval,
        /// End of the paid period.
        period_end: DateTime<Utc>,
    },
}

/// One credit on a quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditLine {
    /// Where it comes from.
    pub from: CreditSource,
    /// How much is used.
    pub amount: Money,
    /// The KEYS whose allocations it is taken from (none for plan time).
    pub slugs: Vec<Slug>,
    /// For people: "Credit from what you paid in order #12 (key:…)".
    pub description: String,
}

/// Credit a quote will use from one purchase's allocation for one KEY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedUse {
    /// The purchase.
    pub from: PurchaseId,
    /// The KEY.
    pub slug: Slug,
    /// How much.
    pub amount: Money,
}

/// What a quote line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The list price (adds).
    ListPrice,
    /// The bundle discount (subtracts).
    Discount,
    /// A credit (subtracts).
    Credit,
    /// The amount left after credit below the smallest card payment, waived (subtracts).
    Waived,
    /// What is charged.
    AmountDue,
}

/// One line of a quote, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteLine {
    /// What it is.
    pub kind: LineKind,
    /// For people.
    pub description: String,
    /// The amount (positive; `kind` says whether it adds or subtracts).
    pub amount: Money,
}

/// The price of a target for a holder, with every credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    /// What is quoted.
    pub sku: Sku,
    /// The currency of every amount.
    pub currency: Currency,
    /// KEY price; bundle members' list total; plan price.
    pub list_price: Money,
    /// The bundle discount rate (bundles only).
    pub discount_rate: Option<BasisPoints>,
    /// The bundle discount amount, else zero.
    pub discount: Money,
    /// `list_price − discount`.
    pub price: Money,
    /// Credits, in the order they are used.
    pub credits: Vec<CreditLine>,
    /// Sum of the credits (at most `price`).
    pub credit_total: Money,
    /// What is charged: `price − credit_total − waived`, or zero for a free upgrade.
    pub amount_due: Money,
    /// What was left after credit when it was more than zero but below the currency's smallest
    /// card payment: waived, never charged (the minimum-charge rule); else zero.
    pub waived: Money,
    /// Every KEY of the bundle was already owned: recorded as a free upgrade.
    pub free_upgrade: bool,
    /// Bundle members (or plan scope KEYS) already owned.
    pub owned_members: Vec<Slug>,
    /// One to three plain-English sentences.
    pub explanation: String,
    /// The purchase credit this quote uses (unused plan time is not listed here).
    pub uses: Vec<PlannedUse>,
}

impl Quote {
    /// Every line: list price, discount (bundles), each credit with its source, amount due.
    #[must_use]
    pub fn lines(&self) -> Vec<QuoteLine> {
        let mut lines = vec![QuoteLine {
            kind: LineKind::ListPrice,
            description: format!("List price ({})", self.sku),
            amount: self.list_price,
        }];
        if let Some(rate) = self.discount_rate {
            lines.push(QuoteLine {
                kind: LineKind::Discount,
                description: format!("Bundle discount {}", percent(rate)),
                amount: self.discount,
            });
        }
        lines.extend(self.credits.iter().map(|c| QuoteLine {
            kind: LineKind::Credit,
            description: c.description.clone(),
            amount: c.amount,
        }));
        if self.waived.minor() > 0 {
            lines.push(QuoteLine {
                kind: LineKind::Waived,
                description: format!(
                    "Below the smallest card payment ({}): waived",
                    Money::from_minor(self.currency.minimum_charge_minor(), self.currency)
                ),
                amount: self.waived,
            });
        }
        lines.push(QuoteLine {
            kind: LineKind::AmountDue,
            description: if self.free_upgrade {
                "Amount due (free upgrade)".to_owned()
            } else {
                "Amount due".to_owned()
            },
            amount: self.amount_due,
        });
        lines
    }
}

/// Why a target cannot be quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The KEY is owned perpetually, or the bundle was already bought.
    #[error("you already own `{sku}`")]
    AlreadyOwned {
        /// What was asked for.
        sku: Sku,
    },
    /// Enterprise plans are sold to organisations only.
    #[error("the Enterprise plan is sold to organisations only; buy it for your organisation")]
    EnterpriseNeedsOrganisation,
    /// A plan change that is not an upgrade (including the current plan itself).
    #[error(
        "`{requested}` is not an upgrade from your current `{current}`, so it has no price now: buying it schedules the change for the end of your paid period, at no charge (or choose a higher tier, or the same tier billed annually)"
    )]
    NotAnUpgrade {
        /// The current plan.
        current: Sku,
        /// The plan asked for.
        requested: Sku,
    },
    /// Amounts in different currencies, or an overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The bundle cannot be priced.
    #[error(transparent)]
    BadBundle(#[from] BundleError),
}

/// Why a paid quote cannot be settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    /// The quote was for something else.
    #[error("the quote is for `{quoted}`, not `{target}`")]
    TargetMismatch {
        /// The quote's SKU.
        quoted: Sku,
        /// The target's SKU.
        target: Sku,
    },
    /// The cash paid is not the amount due.
    #[error("{paid} was paid but the quote asks for {quoted}")]
    AmountMismatch {
        /// Amount due on the quote.
        quoted: Money,
        /// Cash paid.
        paid: Money,
    },
    /// Amounts in different currencies, or an overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

fn percent(rate: BasisPoints) -> String {
    let (whole, frac) = (rate.get() / 100, rate.get() % 100);
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

fn title(tier: Tier) -> String {
    let s = tier.as_str();
    s[..1].to_uppercase() + &s[1..]
}

fn check_currency(amount: Money, currency: Currency) -> Result<(), MoneyError> {
    Money::zero(currency)
        .checked_add(Money::zero(amount.currency()))
        .map(|_| ())
}

/// Collects credit in order up to a cap.
struct Credits {
    currency: Currency,
    room: i64,
    lines: Vec<CreditLine>,
    uses: Vec<PlannedUse>,
}

impl Credits {
    fn new(cap: Money) -> Self {
        Self {
            currency: cap.currency(),
            room: cap.minor().max(0),
            lines: Vec::new(),
            uses: Vec::new(),
        }
    }

    fn unused_plan_time(&mut self, sub: &Subscription, now: DateTime<Utc>) -> Result<(), MoneyError> {
        check_currency(sub.last_paid, self.currency)?;
        let period = (sub.period_end - sub.period_start).num_seconds().max(0);
        let remaining = (sub.period_end - now).num_seconds().clamp(0, period);
        let credit = if period > 0 {
            i128::from(sub.last_paid.minor().max(0)) * i128::from(remaining) / i128::from(period)
        } else {
            0
        };
        let take = i64::try_from(credit).unwrap_or(0).min(self.room);
        if take > 0 {
            self.room -= take;
            self.lines.push(CreditLine {
                from: CreditSource::UnusedPlanTime {
                    tier: sub.tier,
                    interval: sub.interval,
                    period_end: sub.period_end,
                },
                amount: Money::from_minor(take, self.currency),
                slugs: Vec::new(),
                description: format!(
                    "Unused time on your {} {} plan (paid until {})",
                    title(sub.tier),
                    interval_as_str(sub.interval),
                    sub.period_end.format("%Y-%m-%d")
                ),
            });
        }
        Ok(())
    }

    /// Purchases not fully refunded that pass `eligible`, oldest first, then slug.
    fn purchases(
        &mut self,
        ledger: &Ledger,
        eligible: impl Fn(&Purchase) -> bool,
        slugs: &BTreeSet<&Slug>,
    ) -> Result<(), MoneyError> {
        let mut purchases: Vec<&Purchase> = ledger
            .purchases
            .iter()
            .filter(|p| !p.is_fully_refunded() && eligible(p))
            .collect();
        purchases.sort_by_key(|p| (p.purchased_at, p.id));
        for p in purchases {
            let mut keys: Vec<&Slug> = p.keys().filter(|k| slugs.contains(k)).collect();
            keys.sort();
            keys.dedup();
            let (mut line_total, mut line_slugs) = (0_i64, Vec::new());
            for slug in keys {
                if self.room == 0 {
                    break;
                }
                let Some(available) = ledger.available(p.id, slug) else {
                    continue;
                };
                check_currency(available, self.currency)?;
                let take = available.minor().min(self.room);
                if take > 0 {
                    self.room -= take;
                    line_total += take;
                    line_slugs.push(slug.clone());
                    self.uses.push(PlannedUse {
                        from: p.id,
                        slug: slug.clone(),
                        amount: Money::from_minor(take, self.currency),
                    });
                }
            }
            if line_total > 0 {
                self.lines.push(CreditLine {
                    from: CreditSource::Purchase {
                        id: p.id,
                        sku: p.sku.clone(),
                        purchased_at: p.purchased_at,
                    },
                    amount: Money::from_minor(line_total, self.currency),
                    slugs: line_slugs,
                    description: format!("Credit from what you paid in order {} ({})", p.id, p.sku),
                });
            }
        }
        Ok(())
    }

    fn total(&self) -> Result<Money, MoneyError> {
        self.lines
            .iter()
            .try_fold(Money::zero(self.currency), |sum, l| sum.checked_add(l.amount))
    }
}

/// "Credit $49.00 for what you paid in order #12 (key:…). " or empty.
fn credit_sentence(lines: &[CreditLine], total: Money) -> String {
    let phrase = |l: &CreditLine| match &l.from {
        CreditSource::Purchase { id, sku, .. } => format!("{} for what you paid in order {id} ({sku})", l.amount),
        CreditSource::UnusedPlanTime { tier, interval, .. } => format!(
            "{} for unused time on your {} {} plan",
            l.amount,
            title(*tier),
            interval_as_str(*interval)
        ),
    };
    match lines {
        [] => String::new(),
        [one] => format!("Credit {}. ", phrase(one)),
        many => format!(
            "Credit {total}: {}. ",
            many.iter().map(phrase).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// How a move from one plan to another changes a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanMove {
    /// A higher tier, or the same tier billed annually instead of monthly: takes effect now,
    /// paid with credit for the unused time.
    Upgrade,
    /// The same plan.
    Same,
    /// A lower tier, or annual → monthly: scheduled for the end of the paid period, at no
    /// charge.
    Downgrade,
}

/// The one rule for plan moves (quotes, checkout and the review page all ask it).
#[must_use]
pub fn plan_move(from: (Tier, Interval), to: (Tier, Interval)) -> PlanMove {
    if to == from {
        PlanMove::Same
    } else if to.0 > from.0 || (to.0 == from.0 && from.1 == Interval::Monthly && to.1 == Interval::Annual) {
        PlanMove::Upgrade
    } else {
        PlanMove::Downgrade
    }
}

/// The minimum-charge rule: an amount due above zero but below the currency's smallest card
/// payment ([`pricing::Currency::minimum_charge_minor`]: $0.50, €0.50, £0.30, ¥50) cannot be
/// charged by card, so it is waived — the buyer pays nothing now and the waived amount is
/// recorded in the quote (a `waived` line and a sentence in the explanation, both kept on the
/// order). Only credit can cause it: a price list prices nothing below the minimum. Returns
/// `(amount_due, waived)`.
fn waive_below_minimum(due: Money, credit_total: Money) -> (Money, Money) {
    let zero = Money::zero(due.currency());
    if credit_total.minor() > 0 && due.minor() > 0 && due.minor() < due.currency().minimum_charge_minor() {
        (zero, due)
    } else {
        (due, zero)
    }
}

fn waived_sentence(waived: Money) -> String {
    if waived.minor() > 0 {
        format!(
            " The {waived} left is below the smallest card payment ({}), so it is waived.",
            Money::from_minor(waived.currency().minimum_charge_minor(), waived.currency())
        )
    } else {
        String::new()
    }
}

/// Prices `target` for the holder described by `ctx`, with every credit (see the module rules).
///
/// # Errors
/// [`QuoteError::AlreadyOwned`], [`QuoteError::EnterpriseNeedsOrganisation`],
/// [`QuoteError::NotAnUpgrade`], [`QuoteError::BadBundle`] or [`QuoteError::Money`].
pub fn quote(target: &Target, ctx: &QuoteContext) -> Result<Quote, QuoteError> {
    let sku = target.sku();
    match target {
        Target::Key { slug, price } => {
            if ctx.owns(slug) {
                return Err(QuoteError::AlreadyOwned { sku });
            }
            let zero = Money::zero(price.currency());
            Ok(Quote {
                sku,
                currency: price.currency(),
                list_price: *price,
                discount_rate: None,
                discount: zero,
                price: *price,
                credits: Vec::new(),
                credit_total: zero,
                amount_due: *price,
                waived: zero,
                free_upgrade: false,
                owned_members: Vec::new(),
                explanation: format!("One KEY ({slug}): {price}. You pay {price}."),
                uses: Vec::new(),
            })
        }
        Target::Bundle { members, discount, .. } => {
            let prices: Vec<Money> = members.iter().map(|(_, p)| *p).collect();
            let priced = bundle_price(&prices, *discount)?;
            let member_slugs: BTreeSet<&Slug> = members.iter().map(|(s, _)| s).collect();
            let bought = ctx.ledger.purchases.iter().any(|p| {
                p.sku == sku && !p.is_fully_refunded() && member_slugs.iter().all(|m| p.keys().any(|k| k == *m))
            });
            if bought {
                return Err(QuoteError::AlreadyOwned { sku });
            }
            let owned_members: Vec<Slug> = members
                .iter()
                .filter(|(s, _)| ctx.owns(s))
                .map(|(s, _)| s.clone())
                .collect();
            let free_upgrade = owned_members.len() == members.len();
            let mut credits = Credits::new(priced.price);
            credits.purchases(&ctx.ledger, |_| true, &member_slugs)?;
            let credit_total = credits.total()?;
            let (amount_due, waived) = if free_upgrade {
                let zero = Money::zero(priced.price.currency());
                (zero, zero)
            } else {
                waive_below_minimum(priced.price.checked_sub(credit_total)?, credit_total)
            };
            let explanation = if free_upgrade {
                "You already own every KEY in this bundle, so it is yours free: recorded as a free upgrade.".to_owned()
            } else {
                format!(
                    "Bundle of {} KEYS: list {} less {} bundle discount ({}) = {}. {}You pay {amount_due}.{}",
                    members.len(),
                    priced.list_total,
                    percent(*discount),
                    priced.discount,
                    priced.price,
                    credit_sentence(&credits.lines, credit_total),
                    waived_sentence(waived)
                )
            };
            Ok(Quote {
                sku,
                currency: priced.price.currency(),
                list_price: priced.list_total,
                discount_rate: Some(*discount),
                discount: priced.discount,
                price: priced.price,
                credits: credits.lines,
                credit_total,
                amount_due,
                waived,
                free_upgrade,
                owned_members,
                explanation,
                uses: credits.uses,
            })
        }
        Target::Plan {
            tier,
            interval,
            price,
            scope,
        } => {
            if *tier == Tier::Enterprise && !ctx.holder_is_organisation {
                return Err(QuoteError::EnterpriseNeedsOrganisation);
            }
            let mut credits = Credits::new(*price);
            if let Some(current) = &ctx.subscription {
                if plan_move((current.tier, current.interval), (*tier, *interval)) != PlanMove::Upgrade {
                    return Err(QuoteError::NotAnUpgrade {
                        current: Sku::Plan {
                            tier: current.tier,
                            interval: current.interval,
                        },
                        requested: sku,
                    });
                }
                credits.unused_plan_time(current, ctx.now)?;
            }
            let since = ctx.now - Duration::days(RECENT_PURCHASE_WINDOW_DAYS);
            let scope_slugs: BTreeSet<&Slug> = scope.iter().map(|(s, _)| s).collect();
            let recent = |p: &Purchase| matches!(p.sku, Sku::Key(_) | Sku::Bundle(_)) && p.purchased_at >= since;
            credits.purchases(&ctx.ledger, recent, &scope_slugs)?;
            let credit_total = credits.total()?;
            let (amount_due, waived) = waive_below_minimum(price.checked_sub(credit_total)?, credit_total);
            let billed = match interval {
                Interval::Monthly => "monthly",
                Interval::Annual => "annually",
            };
            let zero = Money::zero(price.currency());
            Ok(Quote {
                sku,
                currency: price.currency(),
                list_price: *price,
                discount_rate: None,
                discount: zero,
                price: *price,
                explanation: format!(
                    "{} plan, billed {billed}: {price}. {}You pay {amount_due}.{}",
                    title(*tier),
                    credit_sentence(&credits.lines, credit_total),
                    waived_sentence(waived)
                ),
                credits: credits.lines,
                credit_total,
                amount_due,
                waived,
                free_upgrade: false,
                owned_members: scope
                    .iter()
                    .filter(|(s, _)| ctx.owns(s))
                    .map(|(s, _)| s.clone())
                    .collect(),
                uses: credits.uses,
            })
        }
    }
}

/// Turns a paid quote into the purchase and credit uses to record with
/// [`Ledger::apply`](crate::Ledger::apply). The purchase's `credit_applied` is the credit taken
/// from earlier purchases (unused plan time stays with the plan) and its value
/// (`cash_paid + credit_applied`) is spread over the target's KEYS by [`allocate`].
///
/// # Errors
/// [`SettleError::TargetMismatch`] if the quote is for another SKU,
/// [`SettleError::AmountMismatch`] if `cash_paid` is not the amount due, [`SettleError::Money`].
pub fn settle(
    quote: &Quote,
    new_id: PurchaseId,
    target: &Target,
    cash_paid: Money,
    now: DateTime<Utc>,
) -> Result<Settlement, SettleError> {
    if target.sku() != quote.sku {
        return Err(SettleError::TargetMismatch {
            quoted: quote.sku.clone(),
            target: target.sku(),
        });
    }
    if cash_paid != quote.amount_due {
        return Err(SettleError::AmountMismatch {
            quoted: quote.amount_due,
            paid: cash_paid,
        });
    }
    let credit_applied = quote
        .uses
        .iter()
        .try_fold(Money::zero(quote.currency), |sum, u| sum.checked_add(u.amount))?;
    let value = cash_paid.checked_add(credit_applied)?;
    Ok(Settlement {
        purchase: Purchase {
            id: new_id,
            sku: quote.sku.clone(),
            purchased_at: now,
            cash_paid,
            credit_applied,
            refunded: Money::zero(quote.currency),
            allocations: allocate(value, &target.allocation_keys()),
        },
        uses: quote
            .uses
            .iter()
            .map(|u| CreditUse {
                from: u.from,
                slug: u.slug.clone(),
                amount: u.amount,
                by: new_id,
            })
            .collect(),
    })
}
