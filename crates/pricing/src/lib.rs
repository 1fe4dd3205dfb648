//! # pricing — money and percentages, exactly
//!
//! [`Money`] is an integer number of minor units (cents) with a [`Currency`] that knows its
//! exponent; [`BasisPoints`] are percentages in hundredths of a percent. There are no floats:
//! every operation is integer arithmetic, checked for overflow, and mixing currencies is an
//! error.
//!
//! **Rounding rule** (one rule everywhere): a percentage of an amount is rounded to the nearest
//! minor unit, halves away from zero — [`Money::percent`]. A discount therefore never exceeds
//! the amount, and "price after discount" is `amount − amount.percent(discount)`.
//!
//! ```
//! use pricing::{BasisPoints, Currency, Money};
//! let total = Money::parse("129.00", Currency::Usd).unwrap();
//! let discount = total.percent(BasisPoints::new(2_250).unwrap()); // 22.5 %
//! assert_eq!(discount.to_string(), "$29.03"); // 29.025 rounds half away from zero
//! assert_eq!(total.checked_sub(discount).unwrap().to_string(), "$99.97");
//! assert_eq!(Money::parse("1500", Currency::Jpy).unwrap().to_string(), "¥1,500");
//! ```

use std::fmt;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod offers;
mod price_list;
pub use offers::{BUNDLES_DIR, Bundle, Offers, PercentError, offers_from, parse_percent, percent_text};
pub use price_list::{
    BUNDLE_DISCOUNT_RANGE, BundleError, BundlePrice, Interval, PRICING_FILE, PriceList, PricingError, bundle_price,
};

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency this marketplace sells in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    /// US dollar (2 decimals).
    Usd,
    /// Euro (2 decimals).
    Eur,
    /// Pound sterling (2 decimals).
    Gbp,
    /// Japanese yen (no decimals).
    Jpy,
}

impl Currency {
    /// Number of decimals of the minor unit.
    #[must_use]
    pub const fn exponent(self) -> u32 {
        match self {
            Currency::Usd | Currency::Eur | Currency::Gbp => 2,
            Currency::Jpy => 0,
        }
    }

    /// The smallest amount a card payment may be, in minor units: what card networks (and
    /// Stripe) accept — 0.50 USD and EUR, 0.30 GBP, 50 JPY. A price list may not price anything
    /// below it, and an amount due that credit brings below it is waived (see the `upgrades`
    /// crate's minimum-charge rule).
    #[must_use]
    pub const fn minimum_charge_minor(self) -> i64 {
        match self {
            Currency::Usd | Currency::Eur => 50,
            Currency::Gbp => 30,
            Currency::Jpy => 50,
        }
    }

    /// ISO code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
        }
    }

    const fn symbol(self) -> &'static str {
        match self {
            Currency::Usd => "$",
            Currency::Eur => "€",
            Currency::Gbp => "£",
            Currency::Jpy => "¥",
        }
    }
}

/// Why an amount is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Two currencies in one operation.
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(&'static str, &'static str),
    /// Out of range.
    #[error("amount overflows")]
    Overflow,
    /// Not a decimal amount with at most the currency's decimals.
    #[error("`{text}` is not an amount in {code} (digits, at most {decimals} decimals)")]
    Parse {
        /// Input.
        text: String,
        /// Currency code.
        code: &'static str,
        /// Allowed decimals.
        decimals: u32,
    },
    /// Percentages are 0 to 100 %.
    #[error("{0} basis points is more than 100 %")]
    PercentOutOfRange(u32),
}

/// A percentage in basis points (1 bp = 0.01 %), 0 to 10 000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BasisPoints(u32);

impl BasisPoints {
    /// 100 %.
    pub const FULL: BasisPoints = BasisPoints(10_000);

    /// A percentage.
    ///
    /// # Errors
    /// [`MoneyError::PercentOutOfRange`] above 10 000.
    pub const fn new(bps: u32) -> Result<Self, MoneyError> {
        if bps > 10_000 {
            Err(MoneyError::PercentOutOfRange(bps))
        } else {
            Ok(BasisPoints(bps))
        }
    }

    /// The value in basis points.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// An amount: integer minor units and a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// From minor units (cents).
    #[must_use]
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Zero.
    #[must_use]
    pub const fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// Minor units.
    #[must_use]
    pub const fn minor(self) -> i64 {
        self.minor
    }

    /// Currency.
    #[must_use]
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// Parses a decimal amount such as `129` or `129.5` or `129.50` (no floats involved).
    ///
    /// # Errors
    /// [`MoneyError::Parse`] or [`MoneyError::Overflow`].
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let err = || MoneyError::Parse {
            text: text.to_owned(),
            code: currency.code(),
            decimals: currency.exponent(),
        };
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
        let exp = currency.exponent() as usize;
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > exp
            || (body.contains('.') && frac.is_empty())
        {
            return Err(err());
        }
        let mut minor: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
        for _ in 0..exp {
            minor = minor.checked_mul(10).ok_or(MoneyError::Overflow)?;
        }
        let mut frac_minor: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let digit = i64::from(b - b'0');
            frac_minor += digit * 10_i64.pow(u32::try_from(exp - 1 - i).unwrap_or(0));
        }
        minor = minor.checked_add(frac_minor).ok_or(MoneyError::Overflow)?;
        Ok(Self {
            minor: if negative { -minor } else { minor },
            currency,
        })
    }

    fn same(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(
                self.currency.code(),
                other.currency.code(),
            ))
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        Ok(Money {
            minor: self.minor.checked_add(other.minor).ok_or(MoneyError::Overflow)?,
            currency: self.currency,
        })
    }

    /// `self - other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        Ok(Money {
            minor: self.minor.checked_sub(other.minor).ok_or(MoneyError::Overflow)?,
            currency: self.currency,
        })
    }

    /// `self - other`, but never below zero.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`].
    pub fn saturating_sub_to_zero(self, other: Money) -> Result<Money, MoneyError> {
        self.same(other)?;
        Ok(Money {
            minor: self.minor.saturating_sub(other.minor).max(0),
            currency: self.currency,
        })
    }

    /// `bps` of this amount, rounded to the nearest minor unit, halves away from zero.
    #[must_use]
    pub fn percent(self, bps: BasisPoints) -> Money {
        let product = i128::from(self.minor) * i128::from(bps.get());
        let q = product / 10_000;
        let r = product % 10_000;
        let rounded = if r.abs() * 2 >= 10_000 { q + product.signum() } else { q };
        // |rounded| ≤ |minor| because bps ≤ 10 000, so it fits in i64.
        Money {
            minor: i64::try_from(rounded).unwrap_or(self.minor),
            currency: self.currency,
        }
    }
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// For people: symbol, thousands separated by commas, the currency's minor digits
/// (`$1,990.00`, `-€5.25`, `¥1,200`).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let exp = self.currency.exponent();
        if exp == 0 {
            return write!(f, "{sign}{}{}", self.currency.symbol(), grouped(abs));
        }
        let unit = 10_u64.pow(exp);
        write!(
            f,
            "{sign}{}{}.{:0width$}",
            self.currency.symbol(),
            grouped(abs / unit),
            abs % unit,
            width = exp as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Usd)
    }

    #[test]
    fn parsing_and_display() {
        let cases = [("0", 0), ("12", 1200), ("12.3", 1230), ("12.34", 1234), ("-1.05", -105)];
        for (text, minor) in cases {
            assert_eq!(Money::parse(text, Currency::Usd).unwrap(), usd(minor), "{text}");
        }
        for bad in [
            "",
            ".5",
            "1.",
            "1.234",
            "1,00",
            "abc",
            "1e3",
            "--1",
            "99999999999999999999",
        ] {
            assert!(Money::parse(bad, Currency::Usd).is_err(), "{bad}");
        }
        assert!(Money::parse("1.5", Currency::Jpy).is_err(), "yen has no decimals");
        assert_eq!(usd(5).to_string(), "$0.05");
        assert_eq!(usd(-123_456).to_string(), "-$1,234.56");
        assert_eq!(usd(99_999).to_string(), "$999.99");
        assert_eq!(usd(12_345_678_900).to_string(), "$123,456,789.00");
        assert_eq!(Money::from_minor(1500, Currency::Jpy).to_string(), "¥1,500");
        assert_eq!(Money::from_minor(150, Currency::Jpy).to_string(), "¥150");
    }

    #[test]
    fn rounding_rule_table() {
        // (amount in cents, basis points, expected cents): halves go away from zero.
        for (minor, bps, want) in [
            (12_900, 2_250, 2_903),
            (100, 1_950, 20),
            (101, 5_000, 51),
            (-101, 5_000, -51),
            (1, 4_999, 0),
            (1, 5_000, 1),
            (0, 2_800, 0),
        ] {
            assert_eq!(
                usd(minor).percent(BasisPoints::new(bps).unwrap()),
                usd(want),
                "{minor} × {bps} bp"
            );
        }
        assert!(BasisPoints::new(10_001).is_err());
    }

    #[test]
    fn currencies_never_mix() {
        let eur = Money::from_minor(1, Currency::Eur);
        assert_eq!(usd(1).checked_add(eur), Err(MoneyError::CurrencyMismatch("USD", "EUR")));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(5).saturating_sub_to_zero(usd(9)).unwrap(), usd(0));
    }

    proptest! {
        #[test]
        fn a_discount_never_exceeds_the_amount_and_the_rest_is_never_negative(minor in 0i64..1_000_000_000, bps in 0u32..=10_000) {
            let amount = usd(minor);
            let discount = amount.percent(BasisPoints::new(bps).unwrap());
            prop_assert!(discount.minor() >= 0 && discount.minor() <= amount.minor());
            prop_assert!(amount.checked_sub(discount).unwrap().minor() >= 0);
        }

        #[test]
        fn display_parses_back(minor in -1_000_000_000i64..1_000_000_000) {
            let m = usd(minor);
            let text = m.to_string().replace(['$', ','], "");
            prop_assert_eq!(Money::parse(&text, Currency::Usd).unwrap(), m);
        }

        #[test]
        fn add_then_sub_is_identity(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
            prop_assert_eq!(usd(a).checked_add(usd(b)).unwrap().checked_sub(usd(b)).unwrap(), usd(a));
        }
    }
}
