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
    CreditLine, CreditSource, LineKind, PlannedUse, Quote, QuoteContext, QuoteError, QuoteLine,
    RECENT_PURCHASE_WINDOW_DAYS, SettleError, Target, quote, settle,
};
pub use sku::{Sku, SkuError, interval_as_str, parse_interval};
