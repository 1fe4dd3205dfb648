//! Our types in Stripe's wire format: the only place amounts, currencies, intervals and SKUs are
//! converted.

use pricing::{Currency, Interval, Money};
use stripe_product::price::CreatePriceRecurringInterval;
use stripe_product::{Price, RecurringInterval};

/// Stripe's currency (lowercase ISO code on the wire: `usd`).
pub(crate) fn currency(currency: Currency) -> stripe_types::Currency {
    match currency {
        Currency::Usd => stripe_types::Currency::USD,
        Currency::Eur => stripe_types::Currency::EUR,
        Currency::Gbp => stripe_types::Currency::GBP,
        Currency::Jpy => stripe_types::Currency::JPY,
    }
}

/// The Product id of a SKU: `keys-` + the SKU with `:` replaced by `-` (`key:foo` → `keys-key-foo`).
pub(crate) fn product_id(sku: &str) -> String {
    format!("keys-{}", sku.replace(':', "-"))
}

/// The one-off credit coupon of an order.
pub(crate) fn coupon_id(order_id: i64) -> String {
    format!("keys-credit-{order_id}")
}

/// The recurring interval of a new Price.
pub(crate) fn price_interval(interval: Interval) -> CreatePriceRecurringInterval {
    match interval {
        Interval::Monthly => CreatePriceRecurringInterval::Month,
        Interval::Annual => CreatePriceRecurringInterval::Year,
    }
}

/// The interval as it appears in idempotency keys.
pub(crate) fn interval_text(interval: Option<Interval>) -> &'static str {
    match interval {
        None => "once",
        Some(Interval::Monthly) => "month",
        Some(Interval::Annual) => "year",
    }
}

/// The Price charges exactly `amount` (same minor units, same currency).
pub(crate) fn same_amount(price: &Price, amount: Money) -> bool {
    price.unit_amount == Some(amount.minor()) && price.currency == currency(amount.currency())
}

/// The Price bills the way `interval` says: once, or every one month / one year.
pub(crate) fn same_interval(price: &Price, interval: Option<Interval>) -> bool {
    match (&price.recurring, interval) {
        (None, None) => true,
        (Some(recurring), Some(interval)) => {
            recurring.interval_count == 1
                && matches!(
                    (&recurring.interval, interval),
                    (RecurringInterval::Month, Interval::Monthly) | (RecurringInterval::Year, Interval::Annual)
                )
        }
        _ => false,
    }
}

/// Stripe ids are letters, digits, `_` and `-`; anything else must never reach a URL path.
pub(crate) fn is_path_safe(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_replace_colons() {
        assert_eq!(product_id("key:node-starter"), "keys-key-node-starter");
        assert_eq!(product_id("plan:pro:annual"), "keys-plan-pro-annual");
        assert!(is_path_safe(&product_id("bundle:ops-pack")));
    }

    #[test]
    fn currencies_are_lowercase_on_the_wire() {
        assert_eq!(currency(Currency::Usd).to_string(), "usd");
        assert_eq!(currency(Currency::Eur).to_string(), "eur");
        assert_eq!(currency(Currency::Gbp).to_string(), "gbp");
        assert_eq!(currency(Currency::Jpy).to_string(), "jpy");
    }

    #[test]
    fn interval_texts() {
        assert_eq!(interval_text(None), "once");
        assert_eq!(interval_text(Some(Interval::Monthly)), "month");
        assert_eq!(interval_text(Some(Interval::Annual)), "year");
    }

    #[test]
    fn path_safety() {
        for ok in ["cs_test_a1B2", "keys-key-x", "prod_Q"] {
            assert!(is_path_safe(ok), "{ok}");
        }
        for bad in ["", "../customers/cus_1", "cs_1?expand[]=x", "cs 1", "cs/1", "cs%2F1"] {
            assert!(!is_path_safe(bad), "{bad}");
        }
        assert!(!is_path_safe(&"a".repeat(256)));
    }
}
