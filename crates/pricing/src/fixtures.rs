//! Ready-made, realistic values for tests and examples (feature `fixtures`): the shipped price
//! list (`keys-assets/pricing.toml`, USD) and bundles. The workspace's own tests use them too.
//!
//! ```
//! use pricing::{Interval, fixtures};
//! use catalog::Tier;
//! let prices = fixtures::price_list();
//! assert_eq!(prices.plan(Tier::Operator, Interval::Monthly).to_string(), "$29.00");
//! let pg = "postgres-failover-runbook".parse().unwrap();
//! assert_eq!(prices.single(&pg, Tier::Enterprise).to_string(), "$199.00");
//! ```

use crate::{BasisPoints, Bundle, PriceList};

/// The price list the shop ships with (`keys-assets/pricing.toml`): USD; single KEYS at
/// $19 / $49 / $99 / $249 by tier, two overrides, monthly plans at $12 / $29 / $59 / $199 and
/// annual ones at ten months' price.
///
/// # Panics
/// Never: the text is checked by this module's test.
#[must_use]
pub fn price_list() -> PriceList {
    PriceList::parse(PRICING_TOML, "pricing.toml").unwrap_or_else(|e| panic!("fixture price list: {e:?}"))
}

/// The shipped `pricing.toml`.
pub const PRICING_TOML: &str = r#"currency = "USD"
[single]
starter = "19.00"
operator = "49.00"
scale = "99.00"
enterprise = "249.00"
[overrides]
postgres-failover-runbook = "199.00"
on-call-handbook = "9.00"
[plans.starter]
monthly = "12.00"
annual = "120.00"
[plans.operator]
monthly = "29.00"
annual = "290.00"
[plans.scale]
monthly = "59.00"
annual = "590.00"
[plans.enterprise]
monthly = "199.00"
annual = "1990.00"
"#;

/// A bundle of `keys` (slugs) at `percent` % off.
///
/// # Panics
/// When a slug is invalid or `percent` is above 100 (a mistake in the test).
#[must_use]
pub fn bundle(slug: &str, keys: &[&str], percent: u32) -> Bundle {
    let parse = |s: &str| s.parse().unwrap_or_else(|e| panic!("fixture slug {s:?}: {e}"));
    let discount = BasisPoints::new(percent * 100).unwrap_or_else(|e| panic!("fixture discount: {e}"));
    Bundle::new(
        parse(slug),
        catalog::title(slug),
        discount,
        keys.iter().map(|k| parse(k)).collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fixture_price_list_is_the_shipped_one() {
        let shipped =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../keys-assets/pricing.toml")).unwrap();
        let fixture = super::price_list();
        assert_eq!(fixture, crate::PriceList::parse(&shipped, "pricing.toml").unwrap());
    }
}
