//! Ready-made Stripe-format deliveries for tests and examples (feature `fixtures`): an event
//! body and the `Stripe-Signature` header Stripe would send with it, and the Checkout Session
//! object of a paid order.
//!
//! ```
//! use payments::{fixtures, intake::receive};
//! let session = fixtures::paid_session("cs_test_1", 42, 4_900, "usd");
//! let (body, header) = fixtures::signed_event("evt_1", "checkout.session.completed", session, "whsec_test", 1_764_700_000);
//! assert!(payments::signature::verify(body.as_bytes(), Some(&header), &["whsec_test".to_owned()], 1_764_700_000).is_ok());
//! let event = payments::events::parse_envelope(body.as_bytes()).unwrap();
//! assert_eq!(event.object["client_reference_id"], "42");
//! # let _ = receive;
//! ```

use serde_json::Value;

use crate::events::Envelope;
use crate::signature;

/// The body of event `id` of type `event_type` about `object`, created at `created` (unix
/// seconds), as Stripe sends it.
#[must_use]
pub fn event(id: &str, event_type: &str, object: Value, created: i64) -> String {
    Envelope {
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        created,
        object,
    }
    .to_json()
}

/// [`event`] and the `Stripe-Signature` header for it, signed with `secret` at `now`.
#[must_use]
pub fn signed_event(id: &str, event_type: &str, object: Value, secret: &str, now: i64) -> (String, String) {
    let body = event(id, event_type, object, now);
    let header = signature::sign(body.as_bytes(), secret, now);
    (body, header)
}

/// A completed, paid Checkout Session `session` for order `order` (its `client_reference_id`)
/// of `amount` minor units in `currency` (lowercase ISO code, as Stripe writes it).
#[must_use]
pub fn paid_session(session: &str, order: i64, amount: i64, currency: &str) -> Value {
    serde_json::json!({
        "id": session,
        "object": "checkout.session",
        "client_reference_id": order.to_string(),
        "payment_status": "paid",
        "status": "complete",
        "amount_total": amount,
        "currency": currency,
        "payment_intent": format!("pi_{session}"),
        "subscription": null,
        "customer": "cus_fixture",
        "mode": "payment",
    })
}
