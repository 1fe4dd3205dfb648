//! Stripe-format events: the envelope every delivery must have, and the few event types the
//! shop acts on, read from `data.object` whatever the API version (ids may be strings or
//! expanded objects; an invoice's subscription may be top-level or under `parent`).

use serde_json::Value;

/// Why a delivery is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// A required field is missing or of the wrong type.
    #[error("the event has no valid `{0}`")]
    Missing(&'static str),
}

/// What every event carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `evt_…` (the inbox key: a delivery stored twice is one row).
    pub id: String,
    /// `checkout.session.completed`, …
    pub event_type: String,
    /// When Stripe created the event (unix seconds).
    pub created: i64,
    /// `data.object`.
    pub object: Value,
}

/// The Stripe API version whose event shape [`Envelope::to_json`] writes.
pub const API_VERSION: &str = "2025-08-27.basil";

impl Envelope {
    /// The delivery body Stripe would send for this event (the inverse of [`parse_envelope`]):
    /// `{"id", "object": "event", "api_version", "created", "livemode": false,
    /// "pending_webhooks": 1, "type", "data": {"object"}}`.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.created,
            "livemode": false,
            "pending_webhooks": 1,
            "type": self.event_type,
            "data": {"object": self.object},
        })
        .to_string()
    }
}

/// Reads the envelope of a delivery.
///
/// # Errors
/// [`EventError`] naming the missing field.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(EventError::Missing("id"))?;
    let event_type = v
        .get("type")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(EventError::Missing("type"))?;
    let created = v
        .get("created")
        .and_then(Value::as_i64)
        .ok_or(EventError::Missing("created"))?;
    let object = v
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or(EventError::Missing("data.object"))?
        .clone();
    Ok(Envelope {
        id: id.to_owned(),
        event_type: event_type.to_owned(),
        created,
        object,
    })
}

/// The event types the shop acts on; every other type is stored as ignored.
pub const HANDLED: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.expired",
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
    "customer.subscription.deleted",
    "customer.subscription.updated",
    "charge.dispute.created",
    "charge.dispute.closed",
];

/// An event the shop acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Checkout finished (paid, or awaiting an asynchronous payment).
    CheckoutCompleted {
        /// `cs_…`.
        session: String,
        /// Our order id (`client_reference_id`).
        order: Option<i64>,
        /// `payment_status` is `paid` or `no_payment_required`.
        paid: bool,
        /// PaymentIntent.
        payment_intent: Option<String>,
        /// Subscription.
        subscription: Option<String>,
        /// Customer.
        customer: Option<String>,
        /// Charged, minor units.
        amount_total: Option<i64>,
        /// ISO 4217 code of `amount_total` (lowercase, as Stripe sends it).
        currency: Option<String>,
    },
    /// The session expired unpaid.
    CheckoutExpired {
        /// `cs_…`.
        session: String,
        /// Our order id.
        order: Option<i64>,
    },
    /// A subscription invoice was paid.
    InvoicePaid {
        /// `sub_…`.
        subscription: String,
        /// Start of the paid service period (unix seconds), when given.
        period_start: Option<i64>,
        /// End of the paid service period (unix seconds).
        period_end: i64,
        /// Paid, minor units.
        amount_paid: i64,
        /// The order the subscription's metadata names (`order_id`): after a plan change, the
        /// change's order.
        order: Option<i64>,
    },
    /// A subscription invoice failed.
    InvoicePaymentFailed {
        /// `sub_…`.
        subscription: String,
        /// End of the service period the invoice was for.
        period_end: i64,
    },
    /// A charge was refunded (fully or partly).
    ChargeRefunded {
        /// `pi_…`.
        payment_intent: String,
        /// Charged.
        amount: i64,
        /// Refunded so far (cumulative).
        amount_refunded: i64,
        /// Fully refunded.
        refunded: bool,
    },
    /// A subscription ended.
    SubscriptionDeleted {
        /// `sub_…`.
        subscription: String,
    },
    /// A subscription changed (status, period, plan).
    SubscriptionUpdated {
        /// `sub_…`.
        subscription: String,
        /// `active`, `past_due`, `canceled`, …
        status: String,
        /// Current period end.
        period_end: Option<i64>,
        /// The plan SKU now (metadata `sku`, else the price's lookup key).
        sku: Option<String>,
        /// The order the subscription's metadata names (`order_id`).
        order: Option<i64>,
        /// Whether it ends at the end of the paid period (the portal's "cancel").
        cancel_at_period_end: Option<bool>,
    },
    /// A payment was disputed (a chargeback opened).
    DisputeCreated {
        /// `dp_…`.
        dispute: String,
        /// The disputed payment.
        payment_intent: Option<String>,
        /// Disputed, minor units.
        amount: i64,
        /// The card network's reason (`fraudulent`, `product_not_received`, …).
        reason: String,
    },
    /// A dispute closed: `won`, `lost` or `warning_closed`.
    DisputeClosed {
        /// `dp_…`.
        dispute: String,
        /// The disputed payment.
        payment_intent: Option<String>,
        /// The outcome.
        status: String,
    },
    /// Not acted on.
    Ignored,
}

fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_i64()
}

fn first_line(v: &Value) -> Option<&Value> {
    v.get("lines")?.get("data")?.as_array()?.first()
}

/// Interprets an envelope.
///
/// # Errors
/// [`EventError`] when a handled type lacks a field it needs.
pub fn interpret(env: &Envelope) -> Result<Event, EventError> {
    let o = &env.object;
    let session = || {
        o.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(EventError::Missing("data.object.id"))
    };
    let order = || {
        o.get("client_reference_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .or_else(|| str_at(o, &["metadata", "order_id"]).and_then(|s| s.parse().ok()))
    };
    Ok(match env.event_type.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => Event::CheckoutCompleted {
            session: session()?,
            order: order(),
            paid: matches!(
                o.get("payment_status").and_then(Value::as_str),
                Some("paid" | "no_payment_required")
            ),
            payment_intent: id_of(o.get("payment_intent")),
            subscription: id_of(o.get("subscription")),
            customer: id_of(o.get("customer")),
            amount_total: o.get("amount_total").and_then(Value::as_i64),
            currency: o.get("currency").and_then(Value::as_str).map(str::to_owned),
        },
        "checkout.session.expired" => Event::CheckoutExpired {
            session: session()?,
            order: order(),
        },
        "invoice.paid" | "invoice.payment_failed" => {
            let subscription = id_of(o.get("subscription"))
                .or_else(|| {
                    id_of(
                        o.get("parent")
                            .and_then(|p| p.get("subscription_details")?.get("subscription")),
                    )
                })
                .ok_or(EventError::Missing("data.object.subscription"))?;
            let period_end = first_line(o)
                .and_then(|l| i64_at(l, &["period", "end"]))
                .or_else(|| o.get("period_end").and_then(Value::as_i64))
                .ok_or(EventError::Missing("data.object.lines.data[0].period.end"))?;
            if env.event_type == "invoice.paid" {
                // The subscription's metadata, wherever this API version puts it on an invoice.
                let order = [
                    &["parent", "subscription_details", "metadata", "order_id"][..],
                    &["subscription_details", "metadata", "order_id"][..],
                ]
                .iter()
                .find_map(|path| str_at(o, path))
                .or_else(|| first_line(o).and_then(|l| str_at(l, &["metadata", "order_id"])))
                .and_then(|s| s.parse().ok());
                Event::InvoicePaid {
                    subscription,
                    period_start: first_line(o).and_then(|l| i64_at(l, &["period", "start"])),
                    period_end,
                    amount_paid: o.get("amount_paid").and_then(Value::as_i64).unwrap_or(0),
                    order,
                }
            } else {
                Event::InvoicePaymentFailed {
                    subscription,
                    period_end,
                }
            }
        }
        "charge.refunded" => Event::ChargeRefunded {
            payment_intent: id_of(o.get("payment_intent")).ok_or(EventError::Missing("data.object.payment_intent"))?,
            amount: o
                .get("amount")
                .and_then(Value::as_i64)
                .ok_or(EventError::Missing("data.object.amount"))?,
            amount_refunded: o
                .get("amount_refunded")
                .and_then(Value::as_i64)
                .ok_or(EventError::Missing("data.object.amount_refunded"))?,
            refunded: o.get("refunded").and_then(Value::as_bool).unwrap_or(false),
        },
        "charge.dispute.created" => Event::DisputeCreated {
            dispute: session()?,
            payment_intent: id_of(o.get("payment_intent")),
            amount: o
                .get("amount")
                .and_then(Value::as_i64)
                .ok_or(EventError::Missing("data.object.amount"))?,
            reason: o.get("reason").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
        },
        "charge.dispute.closed" => Event::DisputeClosed {
            dispute: session()?,
            payment_intent: id_of(o.get("payment_intent")),
            status: o
                .get("status")
                .and_then(Value::as_str)
                .ok_or(EventError::Missing("data.object.status"))?
                .to_owned(),
        },
        "customer.subscription.deleted" => Event::SubscriptionDeleted {
            subscription: session()?,
        },
        "customer.subscription.updated" => {
            let item = o
                .get("items")
                .and_then(|i| i.get("data"))
                .and_then(Value::as_array)
                .and_then(|a| a.first());
            Event::SubscriptionUpdated {
                subscription: session()?,
                status: o.get("status").and_then(Value::as_str).unwrap_or("").to_owned(),
                period_end: o
                    .get("current_period_end")
                    .and_then(Value::as_i64)
                    .or_else(|| item.and_then(|i| i.get("current_period_end")).and_then(Value::as_i64)),
                sku: str_at(o, &["metadata", "sku"])
                    .or_else(|| item.and_then(|i| str_at(i, &["price", "lookup_key"])))
                    .map(str::to_owned),
                order: str_at(o, &["metadata", "order_id"]).and_then(|s| s.parse().ok()),
                cancel_at_period_end: o.get("cancel_at_period_end").and_then(Value::as_bool),
            }
        }
        _ => Event::Ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(t: &str, object: Value) -> Envelope {
        let body = serde_json::json!({"id": "evt_1", "type": t, "created": 5, "data": {"object": object}});
        parse_envelope(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn envelopes_need_id_type_created_and_an_object() {
        assert!(matches!(parse_envelope(b"nope"), Err(EventError::NotJson(_))));
        for (body, field) in [
            (r#"{"type":"x","created":1,"data":{"object":{}}}"#, "id"),
            (r#"{"id":"evt","created":1,"data":{"object":{}}}"#, "type"),
            (r#"{"id":"evt","type":"x","data":{"object":{}}}"#, "created"),
            (r#"{"id":"evt","type":"x","created":1,"data":{}}"#, "data.object"),
        ] {
            assert_eq!(
                parse_envelope(body.as_bytes()),
                Err(EventError::Missing(field)),
                "{body}"
            );
        }
    }

    #[test]
    fn events_are_read_whatever_the_api_version() {
        let e = env(
            "checkout.session.completed",
            serde_json::json!({"id": "cs_1", "client_reference_id": "42", "payment_status": "paid",
                "payment_intent": {"id": "pi_1"}, "customer": "cus_1", "subscription": null, "amount_total": 3028, "currency": "usd"}),
        );
        assert_eq!(
            interpret(&e).unwrap(),
            Event::CheckoutCompleted {
                session: "cs_1".into(),
                order: Some(42),
                paid: true,
                payment_intent: Some("pi_1".into()),
                subscription: None,
                customer: Some("cus_1".into()),
                amount_total: Some(3028),
                currency: Some("usd".into()),
            }
        );
        let old = env(
            "invoice.paid",
            serde_json::json!({"id": "in_1", "subscription": "sub_1", "amount_paid": 2900,
                "lines": {"data": [{"period": {"start": 1, "end": 99}}]}}),
        );
        let new = env(
            "invoice.paid",
            serde_json::json!({"id": "in_1", "amount_paid": 2900, "parent": {"subscription_details": {"subscription": "sub_1"}},
                "lines": {"data": [{"period": {"start": 1, "end": 99}}]}}),
        );
        let want = Event::InvoicePaid {
            subscription: "sub_1".into(),
            period_start: Some(1),
            period_end: 99,
            amount_paid: 2900,
            order: None,
        };
        assert_eq!(interpret(&old).unwrap(), want);
        assert_eq!(interpret(&new).unwrap(), want);
        assert_eq!(
            interpret(&env("invoice.paid", serde_json::json!({"id": "in_1"}))),
            Err(EventError::Missing("data.object.subscription"))
        );
        assert_eq!(
            interpret(&env("customer.created", serde_json::json!({}))).unwrap(),
            Event::Ignored
        );
        let upd = env(
            "customer.subscription.updated",
            serde_json::json!({"id": "sub_1", "status": "active", "items": {"data": [{"current_period_end": 77,
                "price": {"lookup_key": "plan:scale:monthly"}}]}}),
        );
        assert_eq!(
            interpret(&upd).unwrap(),
            Event::SubscriptionUpdated {
                subscription: "sub_1".into(),
                status: "active".into(),
                period_end: Some(77),
                sku: Some("plan:scale:monthly".into()),
                order: None,
                cancel_at_period_end: None,
            }
        );
        // Disputes: the payment they are about, the reason, the outcome.
        let opened = env(
            "charge.dispute.created",
            serde_json::json!({"id": "dp_1", "object": "dispute", "amount": 1900, "payment_intent": "pi_1",
                "reason": "fraudulent", "status": "needs_response"}),
        );
        assert_eq!(
            interpret(&opened).unwrap(),
            Event::DisputeCreated {
                dispute: "dp_1".into(),
                payment_intent: Some("pi_1".into()),
                amount: 1900,
                reason: "fraudulent".into()
            }
        );
        let closed = env(
            "charge.dispute.closed",
            serde_json::json!({"id": "dp_1", "object": "dispute", "payment_intent": {"id": "pi_1"}, "status": "lost"}),
        );
        assert!(matches!(
            interpret(&closed).unwrap(),
            Event::DisputeClosed { ref status, ref payment_intent, .. } if status == "lost" && payment_intent.as_deref() == Some("pi_1")
        ));
        // A plan change's invoice names the change's order through the subscription metadata.
        let change = env(
            "invoice.paid",
            serde_json::json!({"id": "in_2", "amount_paid": 1701, "billing_reason": "subscription_update",
                "parent": {"subscription_details": {"subscription": "sub_1", "metadata": {"order_id": "42", "sku": "plan:operator:monthly"}}},
                "lines": {"data": [{"period": {"start": 10, "end": 20}}]}}),
        );
        assert!(matches!(
            interpret(&change).unwrap(),
            Event::InvoicePaid {
                order: Some(42),
                period_start: Some(10),
                period_end: 20,
                amount_paid: 1701,
                ..
            }
        ));
    }
}
