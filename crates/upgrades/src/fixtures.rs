//! Ready-made, realistic values for tests and examples (feature `fixtures`, which turns on
//! `catalog/fixtures` and `pricing/fixtures`): offers over the sample catalog with the shipped
//! price list and one bundle, and paid orders built exactly as the shop builds them (quote →
//! settlement → order), so their allocations and credit are true.
//!
//! ```
//! use upgrades::fixtures;
//! let offers = fixtures::offers();
//! let order = fixtures::paid_order(12, fixtures::user(3), "key:on-call-handbook", &offers);
//! assert_eq!(order.cash_paid.to_string(), "$9.00");
//! assert_eq!(order.allocations.len(), 1);
//! ```

use entitlements::{Holder, UserId};
use pricing::Offers;

use crate::ports::{Channel, Order, OrderStatus};
use crate::service::{Buying, order_for, resolve};
use crate::{Ledger, PurchaseId, QuoteContext, Sku, quote};

/// The incident-response bundle of the fixtures: On-Call Handbook, Kubernetes Incident
/// Response and PostgreSQL Failover, 20 % off.
pub const BUNDLE: &str = "incident-response";

/// A user holder.
#[must_use]
pub fn user(id: i64) -> Holder {
    Holder::User(UserId(id))
}

/// The sample catalog ([`catalog::fixtures::sample_catalog`]) priced by the shipped price list,
/// with the [`BUNDLE`] bundle.
#[must_use]
pub fn offers() -> Offers {
    let keys = catalog::fixtures::sample_catalog();
    let bundle = pricing::fixtures::bundle(
        BUNDLE,
        &[
            "on-call-handbook",
            "kubernetes-incident-response",
            "postgres-failover-runbook",
        ],
        20,
    );
    Offers::for_keys(
        pricing::fixtures::price_list(),
        vec![bundle],
        keys.iter().map(|k| &k.meta),
    )
}

/// A paid order `id` of `holder` for `sku`, bought at list price (no earlier purchases) at
/// [`catalog::fixtures::now`], through Stripe, the holder's own user paying (user 1 for an
/// organisation).
///
/// # Panics
/// When `sku` does not parse or names nothing in `offers` (a mistake in the test).
#[must_use]
pub fn paid_order(id: i64, holder: Holder, sku: &str, offers: &Offers) -> Order {
    let sku: Sku = sku.parse().unwrap_or_else(|e| panic!("fixture SKU {sku:?}: {e}"));
    let now = catalog::fixtures::now();
    let target = resolve(&sku, offers).unwrap_or_else(|e| panic!("fixture SKU {sku}: {e}"));
    let mut ctx = QuoteContext::new(Ledger::default(), now);
    if matches!(holder, Holder::Organisation(_)) {
        ctx = ctx.for_organisation();
    }
    let q = quote(&target, &ctx).unwrap_or_else(|e| panic!("fixture quote {sku}: {e}"));
    let buyer = match holder {
        Holder::User(u) => u,
        Holder::Organisation(_) => UserId(1),
    };
    let buying = Buying {
        holder,
        buyer,
        sku: &sku,
        offers,
        channel: Channel::Stripe,
        now,
    };
    order_for(&buying, &target, &q)
        .unwrap_or_else(|e| panic!("fixture settlement {sku}: {e}"))
        .into_order(PurchaseId(id), OrderStatus::Paid)
}
