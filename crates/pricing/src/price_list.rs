//! The pricing file (`keys-assets/pricing.toml`): single-KEY prices per tier, per-KEY
//! overrides, the allowed bundle discount range and the subscription plans. Parsed and checked
//! here (pure); ingestion reads the file and reports the errors.

use std::collections::BTreeMap;

use catalog::{Slug, Tier};
use serde::Deserialize;

use crate::{BasisPoints, Currency, Money};

/// Name of the pricing file inside `keys-assets/`.
pub const PRICING_FILE: &str = "pricing.toml";

/// The least and most a bundle may be discounted (19 % and 28 %).
pub const BUNDLE_DISCOUNT_RANGE: (u32, u32) = (1_900, 2_800);

/// One problem with the pricing file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: field `{field}`: {reason}")]
#[derive(serde::Serialize)]
pub struct PricingError {
    /// The file.
    pub file: String,
    /// The field (`single.scale`, `plans.operator.annual`, …).
    pub field: String,
    /// Why.
    pub reason: String,
}

/// Billing interval of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    /// Billed monthly.
    Monthly,
    /// Billed yearly.
    Annual,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    monthly: String,
    annual: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    currency: Currency,
    single: BTreeMap<String, String>,
    #[serde(default)]
    overrides: BTreeMap<String, String>,
    plans: BTreeMap<String, RawPlan>,
}

/// Every price, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceList {
    currency: Currency,
    single: BTreeMap<Tier, Money>,
    overrides: BTreeMap<Slug, Money>,
    plans: BTreeMap<(Tier, Interval), Money>,
}

impl PriceList {
    /// Parses and checks a pricing file.
    ///
    /// Rules: the four tiers each have a single-KEY price and a monthly and annual plan price;
    /// every amount is at least the currency's minimum card charge
    /// ([`Currency::minimum_charge_minor`]) and uses the file's currency's decimals; prices do not fall as
    /// the tier rises; an annual plan costs less than twelve months; overrides name valid slugs.
    ///
    /// # Errors
    /// Every problem found, each naming the field.
    ///
    /// ```
    /// use pricing::{Interval, PriceList};
    /// use catalog::Tier;
    /// let text = r#"
    /// currency = "USD"
    /// [single]
    /// starter = "19.00"
    /// operator = "49.00"
    /// scale = "99.00"
    /// enterprise = "249.00"
    /// [overrides]
    /// postgres-failover-runbook = "129.00"
    /// [plans.starter]
    /// monthly = "12.00"
    /// annual = "120.00"
    /// [plans.operator]
    /// monthly = "29.00"
    /// annual = "290.00"
    /// [plans.scale]
    /// monthly = "59.00"
    /// annual = "590.00"
    /// [plans.enterprise]
    /// monthly = "199.00"
    /// annual = "1990.00"
    /// "#;
    /// let prices = PriceList::parse(text, "pricing.toml").unwrap();
    /// let slug = "postgres-failover-runbook".parse().unwrap();
    /// assert_eq!(prices.single(&slug, Tier::Enterprise).to_string(), "$129.00");
    /// assert_eq!(prices.plan(Tier::Scale, Interval::Annual).to_string(), "$590.00");
    /// ```
    pub fn parse(text: &str, file: &str) -> Result<Self, Vec<PricingError>> {
        let err = |field: &str, reason: String| PricingError {
            file: file.to_owned(),
            field: field.to_owned(),
            reason,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| vec![err("(file)", e.message().to_owned())])?;
        let mut errors = Vec::new();
        let currency = raw.currency;
        let amount = |field: &str, text: &str, errors: &mut Vec<PricingError>| match Money::parse(text, currency) {
            Ok(m) if m.minor() >= currency.minimum_charge_minor() => Some(m),
            Ok(m) if m.minor() > 0 => {
                let min = Money::from_minor(currency.minimum_charge_minor(), currency);
                errors.push(err(
                    field,
                    format!("{m} is below the smallest card payment in {} ({min})", currency.code()),
                ));
                None
            }
            Ok(_) => {
                errors.push(err(field, "must be more than zero".into()));
                None
            }
            Err(e) => {
                errors.push(err(field, e.to_string()));
                None
            }
        };
        let mut single = BTreeMap::new();
        for (name, value) in &raw.single {
            match name.parse::<Tier>() {
                Ok(t) => {
                    if let Some(m) = amount(&format!("single.{name}"), value, &mut errors) {
                        single.insert(t, m);
                    }
                }
                Err(e) => errors.push(err(&format!("single.{name}"), e.to_string())),
            }
        }
        let mut plans = BTreeMap::new();
        for (name, plan) in &raw.plans {
            match name.parse::<Tier>() {
                Ok(t) => {
                    let m = amount(&format!("plans.{name}.monthly"), &plan.monthly, &mut errors);
                    let a = amount(&format!("plans.{name}.annual"), &plan.annual, &mut errors);
                    if let (Some(m), Some(a)) = (m, a) {
                        if a.minor() >= m.minor().saturating_mul(12) {
                            errors.push(err(
                                &format!("plans.{name}.annual"),
                                format!("{a} is not less than twelve months of {m}"),
                            ));
                        }
                        plans.insert((t, Interval::Monthly), m);
                        plans.insert((t, Interval::Annual), a);
                    }
                }
                Err(e) => errors.push(err(&format!("plans.{name}"), e.to_string())),
            }
        }
        let mut overrides = BTreeMap::new();
        for (slug, value) in &raw.overrides {
            match slug.parse::<Slug>() {
                Ok(s) => {
                    if let Some(m) = amount(&format!("overrides.{slug}"), value, &mut errors) {
                        overrides.insert(s, m);
                    }
                }
                Err(e) => errors.push(err(&format!("overrides.{slug}"), e.to_string())),
            }
        }
        for t in Tier::ALL {
            if !raw.single.contains_key(t.as_str()) {
                errors.push(err(
                    &format!("single.{t}"),
                    "missing: every tier needs a single-KEY price".into(),
                ));
            }
            if !raw.plans.contains_key(t.as_str()) {
                errors.push(err(
                    &format!("plans.{t}"),
                    "missing: every tier needs a monthly and an annual plan".into(),
                ));
            }
        }
        for pair in Tier::ALL.windows(2) {
            let (lo, hi) = (pair[0], pair[1]);
            if let (Some(a), Some(b)) = (single.get(&lo), single.get(&hi))
                && b.minor() < a.minor()
            {
                errors.push(err(
                    &format!("single.{hi}"),
                    format!("{b} is less than the {lo} price {a}"),
                ));
            }
            for i in [Interval::Monthly, Interval::Annual] {
                if let (Some(a), Some(b)) = (plans.get(&(lo, i)), plans.get(&(hi, i)))
                    && b.minor() < a.minor()
                {
                    let which = if i == Interval::Monthly { "monthly" } else { "annual" };
                    errors.push(err(
                        &format!("plans.{hi}.{which}"),
                        format!("{b} is less than the {lo} plan's {a}"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(Self {
                currency,
                single,
                overrides,
                plans,
            })
        } else {
            Err(errors)
        }
    }

    /// The currency of every price.
    #[must_use]
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The KEYS whose price overrides their tier's default.
    pub fn overridden(&self) -> impl Iterator<Item = &Slug> {
        self.overrides.keys()
    }

    /// The default single price of a tier.
    #[must_use]
    pub fn tier_default(&self, tier: Tier) -> Money {
        self.single.get(&tier).copied().unwrap_or(Money::zero(self.currency))
    }

    /// Every override.
    #[must_use]
    pub fn overrides(&self) -> &BTreeMap<Slug, Money> {
        &self.overrides
    }

    /// A single KEY's price: its override, or its tier's default.
    #[must_use]
    pub fn single(&self, slug: &Slug, tier: Tier) -> Money {
        self.overrides
            .get(slug)
            .or_else(|| self.single.get(&tier))
            .copied()
            .unwrap_or(Money::zero(self.currency))
    }

    /// A plan's price.
    #[must_use]
    pub fn plan(&self, tier: Tier, interval: Interval) -> Money {
        self.plans
            .get(&(tier, interval))
            .copied()
            .unwrap_or(Money::zero(self.currency))
    }
}

/// A bundle's price: the members' list total less the discount (rounded by
/// [`Money::percent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundlePrice {
    /// Sum of the members' single prices.
    pub list_total: Money,
    /// What the discount takes off.
    pub discount: Money,
    /// What the bundle costs.
    pub price: Money,
}

/// Why a bundle cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Fewer than two members.
    #[error("a bundle needs at least 2 KEYS (has {0})")]
    TooFewMembers(usize),
    /// Discount outside 19–28 %.
    #[error("bundle discount {0} bp is outside the allowed 1900–2800 bp (19–28 %)")]
    DiscountOutOfRange(u32),
    /// Amounts could not be combined.
    #[error(transparent)]
    Money(#[from] crate::MoneyError),
}

/// Prices a bundle from its members' prices.
///
/// # Errors
/// [`BundleError`] naming the rule broken.
///
/// ```
/// use pricing::{bundle_price, BasisPoints, Currency, Money};
/// let members = [Money::from_minor(4_900, Currency::Usd), Money::from_minor(9_900, Currency::Usd)];
/// let b = bundle_price(&members, BasisPoints::new(2_000).unwrap()).unwrap();
/// assert_eq!((b.list_total.minor(), b.discount.minor(), b.price.minor()), (14_800, 2_960, 11_840));
/// ```
pub fn bundle_price(members: &[Money], discount: BasisPoints) -> Result<BundlePrice, BundleError> {
    if members.len() < 2 {
        return Err(BundleError::TooFewMembers(members.len()));
    }
    let (lo, hi) = BUNDLE_DISCOUNT_RANGE;
    if !(lo..=hi).contains(&discount.get()) {
        return Err(BundleError::DiscountOutOfRange(discount.get()));
    }
    let mut total = Money::zero(members[0].currency());
    for m in members {
        total = total.checked_add(*m)?;
    }
    let cut = total.percent(discount);
    Ok(BundlePrice {
        list_total: total,
        discount: cut,
        price: total.checked_sub(cut)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = "currency = \"USD\"\n[single]\nstarter = \"19.00\"\noperator = \"49.00\"\nscale = \"99.00\"\nenterprise = \"249.00\"\n\
[plans.starter]\nmonthly = \"12.00\"\nannual = \"120.00\"\n[plans.operator]\nmonthly = \"29.00\"\nannual = \"290.00\"\n\
[plans.scale]\nmonthly = \"59.00\"\nannual = \"590.00\"\n[plans.enterprise]\nmonthly = \"199.00\"\nannual = \"1990.00\"\n";

    #[test]
    fn every_rule_names_its_field() {
        assert!(PriceList::parse(GOOD, "p.toml").is_ok());
        let cases: &[(&str, &str, &str, &str)] = &[
            ("scale = \"99.00\"", "scale = \"0\"", "single.scale", "more than zero"),
            (
                "starter = \"19.00\"",
                "starter = \"0.49\"",
                "single.starter",
                "$0.49 is below the smallest card payment in USD ($0.50)",
            ),
            (
                "scale = \"99.00\"",
                "scale = \"9.999\"",
                "single.scale",
                "at most 2 decimals",
            ),
            (
                "scale = \"99.00\"",
                "scale = \"29.00\"",
                "single.scale",
                "less than the operator price",
            ),
            ("scale = \"99.00\"\n", "", "single.scale", "missing"),
            (
                "scale = \"99.00\"",
                "scale = \"99.00\"\ngold = \"1.00\"",
                "single.gold",
                "unknown tier",
            ),
            (
                "annual = \"290.00\"",
                "annual = \"348.00\"",
                "plans.operator.annual",
                "not less than twelve months",
            ),
            (
                "annual = \"590.00\"",
                "annual = \"100.00\"",
                "plans.scale.annual",
                "less than the operator plan",
            ),
            (
                "[single]",
                "[overrides]\nBad_Slug = \"5.00\"\n[single]",
                "overrides.Bad_Slug",
                "slug",
            ),
        ];
        for (from, to, field, reason) in cases {
            assert!(GOOD.contains(from), "{from}");
            let errors = PriceList::parse(&GOOD.replacen(from, to, 1), "p.toml").unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e.field == *field && e.reason.contains(reason) && e.file == "p.toml"),
                "{from} -> {to}: {errors:#?}"
            );
        }
    }

    #[test]
    fn bundle_rules() {
        let usd = |m| Money::from_minor(m, Currency::Usd);
        assert_eq!(
            bundle_price(&[usd(100)], BasisPoints::new(2_000).unwrap()),
            Err(BundleError::TooFewMembers(1))
        );
        assert_eq!(
            bundle_price(&[usd(100), usd(100)], BasisPoints::new(1_899).unwrap()),
            Err(BundleError::DiscountOutOfRange(1_899))
        );
        assert_eq!(
            bundle_price(&[usd(100), usd(100)], BasisPoints::new(2_801).unwrap()),
            Err(BundleError::DiscountOutOfRange(2_801))
        );
        assert!(
            bundle_price(
                &[usd(1), Money::from_minor(1, Currency::Eur)],
                BasisPoints::new(2_000).unwrap()
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn a_bundle_costs_less_than_its_members_and_never_below_zero(prices in proptest::collection::vec(1i64..1_000_000, 2..8), bps in 1_900u32..=2_800) {
            let members: Vec<Money> = prices.iter().map(|m| Money::from_minor(*m, Currency::Usd)).collect();
            let b = bundle_price(&members, BasisPoints::new(bps).unwrap()).unwrap();
            prop_assert_eq!(b.list_total.minor(), prices.iter().sum::<i64>());
            prop_assert!(b.price.minor() > 0 && b.price.minor() < b.list_total.minor());
            prop_assert_eq!(b.price.minor() + b.discount.minor(), b.list_total.minor());
        }
    }
}
