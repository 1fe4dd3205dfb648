//! # payments — checkout, Stripe-format webhooks, and what each event changes
//!
//! * [`ports::PaymentGateway`]: what the shop needs from a payment provider (customers,
//!   Checkout Sessions, session lookup, refunds, the billing portal, catalog sync). Implemented by
//!   the `stripe-gateway` adapter (async-stripe) and by the local payment mode.
//! * [`checkout::CheckoutService`]: the checkout workflow (open, reconcile a return, cancel,
//!   refund) as an application service over the ports.
//! * [`apply`]: what each event changes, through one transaction port.
//! * [`signature`]: the `Stripe-Signature` header (`t=…,v1=HMAC-SHA256(secret, "t.body")`),
//!   verified against several secrets (rotation) with a tolerance, time from the caller's clock.

pub mod apply;
pub mod checkout;
pub mod events;
pub mod intake;
pub mod ports;
/// Stripe-format webhook signatures, from the `stripe-signature` crate (usable on its own).
pub use stripe_signature as signature;

pub use ports::{
    CatalogItem, CheckoutMode, CheckoutRequest, CheckoutSession, GatewayError, PaymentGateway, SessionState, SyncReport,
};
