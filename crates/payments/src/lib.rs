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
//!
//! ```
//! use payments::events::{Event, interpret, parse_envelope};
//! use payments::signature::{sign, verify};
//! // A delivery as Stripe sends it: the body and its `Stripe-Signature` header.
//! let body = r#"{"id":"evt_1","object":"event","created":1764700000,"type":"checkout.session.completed",
//!   "data":{"object":{"id":"cs_1","object":"checkout.session","client_reference_id":"42",
//!   "payment_status":"paid","status":"complete","amount_total":4900,"currency":"usd",
//!   "payment_intent":"pi_1","customer":"cus_1","subscription":null,"mode":"payment"}}}"#;
//! let now = 1_764_700_005;
//! let header = sign(body.as_bytes(), "whsec_live", now - 5);
//! // 1. Only a delivery signed with a configured secret, recently, is accepted.
//! verify(body.as_bytes(), Some(&header), &["whsec_live".to_owned()], now).unwrap();
//! // 2. The envelope (the inbox key is its id), then what it means for the shop.
//! let envelope = parse_envelope(body.as_bytes()).unwrap();
//! assert_eq!(envelope.id, "evt_1");
//! match interpret(&envelope).unwrap() {
//!     Event::CheckoutCompleted { order, paid, amount_total, currency, .. } => {
//!         assert_eq!((order, paid, amount_total), (Some(42), true, Some(4_900)));
//!         assert_eq!(currency.as_deref(), Some("usd"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // 3. `apply::apply` then changes orders and entitlements through one `ports::PaymentTx`
//! //    (mocked as `ports::MockPaymentTx` with the `mock` feature).
//! ```

pub mod apply;
pub mod checkout;
pub mod events;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod intake;
pub mod ports;
/// Stripe-format webhook signatures, from the `stripe-signature` crate (usable on its own).
pub use stripe_signature as signature;

pub use ports::{
    CatalogItem, CheckoutMode, CheckoutRequest, CheckoutSession, GatewayError, PaymentGateway, SessionState, SyncReport,
};
