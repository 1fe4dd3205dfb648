//! Bundles and the complete, checked set of offers.
//!
//! A bundle is a curated set of KEYS sold together at a discount, defined by one file
//! `keys-assets/bundles/<slug>.toml`:
//!
//! ```toml
//! title = "Database reliability"
//! summary = "Fail Postgres over, prove backups restore, rotate TLS certificates."
//! discount = "25%"
//! keys = ["postgres-failover-runbook", "s3-backup-restore-drill", "tls-certificate-rotation"]
//! ```
//!
//! The bundle's price is never written down: it is the sum of its members' single prices (from
//! the pricing file) less the discount, rounded once by [`crate::Money::percent`]. Ingestion
//! checks every bundle against the catalog ([`Offers::check_bundle`]): the members exist, there
//! are at least two and no repeats, and the discount is 19–28 %.

use std::collections::{BTreeMap, BTreeSet};

use catalog::{Slug, Tier};
use serde::Deserialize;

use crate::{
    BUNDLE_DISCOUNT_RANGE, BasisPoints, BundlePrice, Interval, Money, PRICING_FILE, PriceList, PricingError,
    bundle_price,
};

/// Directory of bundle files under the assets directory.
pub const BUNDLES_DIR: &str = "bundles";

/// A curated set of KEYS sold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Stable id (the file stem).
    pub slug: Slug,
    /// Display title.
    pub title: String,
    /// One-paragraph pitch.
    pub summary: String,
    /// Discount on the members' list total.
    pub discount: BasisPoints,
    /// Member KEYS, in the file's order.
    pub keys: Vec<Slug>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    title: String,
    summary: String,
    discount: String,
    keys: Vec<String>,
}

/// Parses a percentage written `"22%"` or `"22.5%"` (at most two decimals) into basis points.
///
/// # Errors
/// [`PercentError`], whose message says what is wrong.
pub fn parse_percent(text: &str) -> Result<BasisPoints, PercentError> {
    let bad = || PercentError::Malformed(text.to_owned());
    let number = text.trim().strip_suffix('%').ok_or_else(bad)?.trim();
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || frac.len() > 2 || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u32 = whole.parse().map_err(|_| bad())?;
    let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let bps = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)?;
    Ok(BasisPoints::new(bps)?)
}

/// Why a percentage could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PercentError {
    /// Not of the form `22%` or `22.5%`.
    #[error("`{0}` is not a percentage like \"22%\" or \"22.5%\"")]
    Malformed(String),
    /// Above 100 %.
    #[error(transparent)]
    OutOfRange(#[from] crate::MoneyError),
}

impl Bundle {
    /// A bundle of `keys` at `discount` off their list total, titled after its slug until
    /// changed; the summary is empty.
    #[must_use]
    pub fn new(slug: Slug, title: impl Into<String>, discount: BasisPoints, keys: Vec<Slug>) -> Self {
        Self {
            slug,
            title: title.into(),
            summary: String::new(),
            discount,
            keys,
        }
    }

    /// Parses one bundle file's `text`; `file` is where it came from (`bundles/<slug>.toml`), and
    /// its stem is the bundle's slug. Every parser of the domain crates takes the text first,
    /// then where it came from.
    ///
    /// # Errors
    /// Every problem found, each naming the file and the field.
    pub fn parse(text: &str, file: &str) -> Result<Bundle, Vec<PricingError>> {
        let slug = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let err = |field: &str, reason: String| PricingError {
            file: file.to_owned(),
            field: field.to_owned(),
            reason,
        };
        let raw: RawBundle = toml::from_str(text).map_err(|e| vec![err("(file)", e.message().to_owned())])?;
        let mut errors = Vec::new();
        let slug = slug
            .parse::<Slug>()
            .map_err(|e| errors.push(err("(file name)", format!("the file name is the bundle's slug: {e}"))))
            .ok();
        if raw.title.trim().is_empty() {
            errors.push(err("title", "must not be empty".into()));
        }
        if raw.summary.trim().is_empty() {
            errors.push(err("summary", "must not be empty".into()));
        }
        let discount = parse_percent(&raw.discount)
            .map_err(|e| errors.push(err("discount", e.to_string())))
            .ok();
        let mut keys = Vec::new();
        for (i, k) in raw.keys.iter().enumerate() {
            match k.parse::<Slug>() {
                Ok(s) => keys.push(s),
                Err(e) => errors.push(err(&format!("keys[{i}]"), e.to_string())),
            }
        }
        match (slug, discount, errors.is_empty()) {
            (Some(slug), Some(discount), true) => Ok(Bundle {
                slug,
                title: raw.title.trim().to_owned(),
                summary: raw.summary.trim().to_owned(),
                discount,
                keys,
            }),
            _ => Err(errors),
        }
    }
}

/// Everything for sale: the price list, the bundles that passed their checks, and the tier
/// of every KEY in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offers {
    prices: PriceList,
    bundles: Vec<Bundle>,
    tiers: BTreeMap<Slug, Tier>,
}

impl Offers {
    /// Checks a price list against the catalog: every override names a KEY that exists.
    ///
    /// # Errors
    /// One error per override naming an unknown KEY.
    pub fn check_prices(prices: &PriceList, file: &str, tiers: &BTreeMap<Slug, Tier>) -> Result<(), Vec<PricingError>> {
        let errors: Vec<PricingError> = prices
            .overridden()
            .filter(|s| !tiers.contains_key(*s))
            .map(|s| PricingError {
                file: file.to_owned(),
                field: format!("overrides.{s}"),
                reason: format!("no KEY `{s}` in the catalog; ingest it first or remove the override"),
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Checks a bundle against the catalog: members exist, at least two, no repeats, discount
    /// in range.
    ///
    /// # Errors
    /// Every problem found, each naming the file and the field.
    pub fn check_bundle(bundle: &Bundle, file: &str, tiers: &BTreeMap<Slug, Tier>) -> Result<(), Vec<PricingError>> {
        let err = |field: String, reason: String| PricingError {
            file: file.to_owned(),
            field,
            reason,
        };
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, k) in bundle.keys.iter().enumerate() {
            if !tiers.contains_key(k) {
                errors.push(err(
                    format!("keys[{i}]"),
                    format!("no KEY `{k}` in the catalog; fix the slug or ingest that KEY first"),
                ));
            }
            if !seen.insert(k) {
                errors.push(err(format!("keys[{i}]"), format!("`{k}` is listed twice")));
            }
        }
        if seen.len() < 2 {
            errors.push(err(
                "keys".into(),
                format!("a bundle needs at least 2 different KEYS (has {})", seen.len()),
            ));
        }
        let (lo, hi) = BUNDLE_DISCOUNT_RANGE;
        if !(lo..=hi).contains(&bundle.discount.get()) {
            errors.push(err(
                "discount".into(),
                format!(
                    "{} is outside the allowed {}–{} %",
                    percent_text(bundle.discount),
                    lo / 100,
                    hi / 100
                ),
            ));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Assembles checked parts. Bundles are kept in slug order.
    #[must_use]
    pub fn new(prices: PriceList, mut bundles: Vec<Bundle>, tiers: BTreeMap<Slug, Tier>) -> Self {
        bundles.sort_by(|a, b| a.slug.cmp(&b.slug));
        Self { prices, bundles, tiers }
    }

    /// The offers for a catalog: each KEY's tier is read from its metadata (no hand-built tier
    /// map). Bundles are not checked against the KEYS here; [`Offers::check_bundle`] does that.
    #[must_use]
    pub fn for_keys<'k>(
        prices: PriceList,
        bundles: Vec<Bundle>,
        keys: impl IntoIterator<Item = &'k catalog::KeyMetadata>,
    ) -> Self {
        let tiers = keys.into_iter().map(|k| (k.slug.clone(), k.tier)).collect();
        Self::new(prices, bundles, tiers)
    }

    /// The price list.
    #[must_use]
    pub fn prices(&self) -> &PriceList {
        &self.prices
    }

    /// The tier of a KEY in the catalog.
    #[must_use]
    pub fn tier(&self, slug: &Slug) -> Option<Tier> {
        self.tiers.get(slug).copied()
    }

    /// Every KEY with its tier, by slug.
    #[must_use]
    pub fn keys(&self) -> &BTreeMap<Slug, Tier> {
        &self.tiers
    }

    /// The single price of a KEY in the catalog.
    #[must_use]
    pub fn key_price(&self, slug: &Slug) -> Option<Money> {
        self.tier(slug).map(|t| self.prices.single(slug, t))
    }

    /// Every bundle, by slug.
    #[must_use]
    pub fn bundles(&self) -> &[Bundle] {
        &self.bundles
    }

    /// One bundle.
    #[must_use]
    pub fn bundle(&self, slug: &Slug) -> Option<&Bundle> {
        self.bundles.iter().find(|b| b.slug == *slug)
    }

    /// Members of a bundle with their single prices.
    #[must_use]
    pub fn bundle_members(&self, bundle: &Bundle) -> Vec<(Slug, Money)> {
        bundle
            .keys
            .iter()
            .filter_map(|k| self.key_price(k).map(|p| (k.clone(), p)))
            .collect()
    }

    /// A bundle's list total, discount and price.
    #[must_use]
    pub fn bundle_price(&self, bundle: &Bundle) -> Option<BundlePrice> {
        let prices: Vec<Money> = self.bundle_members(bundle).into_iter().map(|(_, p)| p).collect();
        bundle_price(&prices, bundle.discount).ok()
    }

    /// A plan's price.
    #[must_use]
    pub fn plan_price(&self, tier: Tier, interval: Interval) -> Money {
        self.prices.plan(tier, interval)
    }

    /// The KEYS a plan of `tier` covers today (every KEY at or below it), with their prices.
    #[must_use]
    pub fn plan_scope(&self, tier: Tier) -> Vec<(Slug, Money)> {
        self.tiers
            .iter()
            .filter(|(_, t)| **t <= tier)
            .map(|(s, t)| (s.clone(), self.prices.single(s, *t)))
            .collect()
    }
}

/// Builds the offers from stored documents and the catalog's tiers. Documents that no longer
/// pass their checks are skipped and returned as errors (to be logged); without a valid
/// pricing file there are no offers at all.
#[must_use]
pub fn offers_from(
    documents: &[catalog::Document],
    tiers: BTreeMap<Slug, Tier>,
) -> (Option<Offers>, Vec<PricingError>) {
    let mut errors = Vec::new();
    let Some(prices) = documents.iter().find(|d| d.name == PRICING_FILE) else {
        return (None, errors);
    };
    let prices = match PriceList::parse(&prices.body, PRICING_FILE) {
        Ok(p) => p,
        Err(e) => return (None, e),
    };
    let mut bundles = Vec::new();
    for d in documents {
        if !(d.name.starts_with("bundles/") && d.name.ends_with(".toml")) {
            continue;
        }
        match Bundle::parse(&d.body, &d.name).and_then(|b| Offers::check_bundle(&b, &d.name, &tiers).map(|()| b)) {
            Ok(b) => bundles.push(b),
            Err(e) => errors.extend(e),
        }
    }
    (Some(Offers::new(prices, bundles, tiers)), errors)
}

/// `22%`, `22.5%`, `22.25%`.
#[must_use]
pub fn percent_text(bps: BasisPoints) -> String {
    let (whole, frac) = (bps.get() / 100, bps.get() % 100);
    match frac {
        0 => format!("{whole}%"),
        f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
        f => format!("{whole}.{f:02}%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers(slugs: &[&str]) -> BTreeMap<Slug, Tier> {
        slugs.iter().map(|s| (s.parse().unwrap(), Tier::Operator)).collect()
    }

    #[test]
    fn percentages() {
        for (text, bps) in [
            ("22%", 2_200),
            ("22.5%", 2_250),
            ("19.05%", 1_905),
            (" 28 % ", 2_800),
            ("0%", 0),
        ] {
            assert_eq!(parse_percent(text).unwrap().get(), bps, "{text}");
        }
        for bad in ["22", "22.555%", "%", "-3%", "2 2%", "abc%", "101%"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
        assert_eq!(percent_text(BasisPoints::new(2_250).unwrap()), "22.5%");
        assert_eq!(percent_text(BasisPoints::new(1_905).unwrap()), "19.05%");
        assert_eq!(percent_text(BasisPoints::new(2_000).unwrap()), "20%");
    }

    #[test]
    fn bundle_files_name_the_field_that_is_wrong() {
        let ok = "title = \"T\"\nsummary = \"S\"\ndiscount = \"22%\"\nkeys = [\"a-kit\", \"b-kit\"]\n";
        let b = Bundle::parse(ok, "bundles/two.toml").unwrap();
        assert_eq!((b.slug.as_str(), b.discount.get(), b.keys.len()), ("two", 2_200, 2));
        assert!(Offers::check_bundle(&b, "bundles/two.toml", &tiers(&["a-kit", "b-kit"])).is_ok());

        let cases: [(&str, &str, &str); 6] = [
            (
                "title = \"T\"\nsummary = \"S\"\ndiscount = \"30%\"\nkeys = [\"a-kit\", \"b-kit\"]\n",
                "discount",
                "outside the allowed 19–28 %",
            ),
            (
                "title = \"T\"\nsummary = \"S\"\ndiscount = \"18.99%\"\nkeys = [\"a-kit\", \"b-kit\"]\n",
                "discount",
                "outside",
            ),
            (
                "title = \"T\"\nsummary = \"S\"\ndiscount = \"22%\"\nkeys = [\"a-kit\"]\n",
                "keys",
                "at least 2",
            ),
            (
                "title = \"T\"\nsummary = \"S\"\ndiscount = \"22%\"\nkeys = [\"a-kit\", \"a-kit\"]\n",
                "keys[1]",
                "listed twice",
            ),
            (
                "title = \"T\"\nsummary = \"S\"\ndiscount = \"22%\"\nkeys = [\"a-kit\", \"nope-kit\"]\n",
                "keys[1]",
                "no KEY `nope-kit`",
            ),
            (
                "title = \"T\"\nsummary = \"S\"\ndiscount = \"22%\"\nkeys = [\"a-kit\", \"b-kit\"]\nprice = \"1\"\n",
                "(file)",
                "unknown field",
            ),
        ];
        for (text, field, why) in cases {
            let errors = match Bundle::parse(text, "bundles/xyz.toml") {
                Ok(b) => Offers::check_bundle(&b, "bundles/xyz.toml", &tiers(&["a-kit", "b-kit"])).unwrap_err(),
                Err(e) => e,
            };
            assert!(
                errors
                    .iter()
                    .any(|e| e.field == field && e.reason.contains(why) && e.file == "bundles/xyz.toml"),
                "{text}: {errors:?}"
            );
        }
        let errors = Bundle::parse(ok, "bundles/Bad Name.toml").unwrap_err();
        assert_eq!(errors[0].field, "(file name)");
        let errors = Bundle::parse(
            "title = \"\"\nsummary = \" \"\ndiscount = \"22\"\nkeys = [\"A\"]\n",
            "bundles/xyz.toml",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "summary", "discount", "keys[0]"]);
    }
}
