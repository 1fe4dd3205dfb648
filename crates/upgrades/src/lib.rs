//! # upgrades — what a holder pays to move up, and why
//!
//! A pure domain crate (no I/O, no floats): [`Sku`] names what can be bought
//! (`key:<slug>`, `bundle:<slug>`, `plan:<tier>:<monthly|annual>`); the [`Ledger`] records what a
//! holder bought and which credit later orders used; [`quote()`] prices a [`Target`] (KEY, bundle
//! or plan) with every credit the holder is owed, and [`settle`] turns the paid quote into the
//! [`Settlement`] the ledger records. The rules, with worked examples, are in [`quote`'s
//! module](mod@crate::quote#rules-each-with-its-worked-example-the-tests-named-prove-them) docs and
//! the ledger's in [`ledger`](mod@crate::ledger).
//!
//! Money is [`pricing::Money`] throughout: integer minor units, one currency per quote, every
//! division rounded down so credit never exceeds what was paid and kept.
//!
//! ```
//! use catalog::Tier;
//! use chrono::{TimeZone, Utc};
//! use pricing::{BasisPoints, Bundle, Offers, PriceList};
//! use upgrades::{Ledger, PurchaseId, QuoteContext, Sku, quote, resolve, settle};
//! let prices = PriceList::parse(r#"currency = "USD"
//! [single]
//! starter = "19.00"
//! operator = "49.00"
//! scale = "99.00"
//! enterprise = "249.00"
//! [plans.starter]
//! monthly = "12.00"
//! annual = "120.00"
//! [plans.operator]
//! monthly = "29.00"
//! annual = "290.00"
//! [plans.scale]
//! monthly = "59.00"
//! annual = "590.00"
//! [plans.enterprise]
//! monthly = "199.00"
//! annual = "1990.00"
//! "#, "pricing.toml").unwrap();
//! let (pg, k8s) = ("postgres-failover".parse().unwrap(), "k8s-incident".parse().unwrap());
//! let bundle = Bundle::new("ops".parse().unwrap(), "Ops", BasisPoints::new(2_000).unwrap(), vec![pg, k8s]);
//! let tiers = [("postgres-failover".parse().unwrap(), Tier::Operator), ("k8s-incident".parse().unwrap(), Tier::Operator)];
//! let offers = Offers::new(prices, vec![bundle], tiers.into_iter().collect());
//! let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
//!
//! // The buyer paid $49.00 for one member (order #7), recorded in their ledger.
//! let mut ctx = QuoteContext::new(Ledger::default(), now);
//! let key = resolve(&"key:postgres-failover".parse::<Sku>().unwrap(), &offers).unwrap();
//! let paid = quote(&key, &ctx).unwrap();
//! ctx.ledger.apply(settle(&paid, PurchaseId(7), &key, paid.amount_due, now).unwrap()).unwrap();
//!
//! // The bundle: $98.00 less 20 % = $78.40, less the $49.00 they paid = $29.40.
//! let bundle = resolve(&"bundle:ops".parse::<Sku>().unwrap(), &offers).unwrap();
//! let q = quote(&bundle, &ctx).unwrap();
//! assert_eq!(q.amount_due.to_string(), "$29.40");
//! assert_eq!(q.credit_total.to_string(), "$49.00");
//! // The member they own is not sold to them again.
//! assert!(quote(&key, &ctx).is_err());
//! ```

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod ledger;
pub mod model_doc;
pub mod ports;
pub mod quote;
pub mod service;
pub mod sku;

#[cfg(test)]
mod tests;

pub use ledger::{
    Allocation, ApplyError, CreditUse, Ledger, Purchase, PurchaseId, RefundError, Settlement, Subscription, allocate,
};
pub use quote::{
    CreditLine, CreditSource, LineKind, PlanMove, PlannedUse, Quote, QuoteContext, QuoteError, QuoteLine,
    RECENT_PURCHASE_WINDOW_DAYS, SettleError, Target, plan_move, quote, settle,
};
pub use service::{Buying, Commerce, ReadError, list_price_quote, order_for, owned_keys, resolve};
pub use sku::{Sku, SkuError, interval_as_str, parse_interval};
