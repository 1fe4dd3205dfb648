//! What each event changes, decided here and carried out through [`PaymentTx`] — the storage
//! adapter's view of ONE database transaction, which also marks the inbox row done, so an event
//! and its effects commit together or not at all.
//!
//! **Duplicates** have the effect of one delivery: the inbox keys events by id, and every rule
//! is idempotent besides (fulfilling a paid order changes nothing; renewing only moves a period
//! end forward; revoking a revoked entitlement is skipped).
//!
//! **Order does not matter** (documented rule):
//! * an event whose order is not known yet — an `invoice.paid` before its
//!   `checkout.session.completed` — is *retried later* ([`ApplyError::Retry`]), never dropped;
//! * period ends only move forward, so a stale `invoice.paid` never shortens access, and it does
//!   not clear a later `past_due` (an invoice for a period already covered changes nothing);
//! * an `invoice.payment_failed` for a period already paid is ignored;
//! * revocation (refund, subscription deleted, grace expired) is final: later renewals of a
//!   revoked grant are ignored.
//!
//! **Money integrity**: a payment is only ever matched to an order through the Checkout
//! Session the shop stored on it; `client_reference_id` alone may only mean "retry later"
//! (the session id is stored just after the session opens). A session that is not the order's,
//! an amount or currency that is not the order's amount due, or a payment for an order that was
//! cancelled meanwhile and cannot be revived (the buyer already paid for the same thing, or its
//! credit was spent) is **rejected**: the event is parked as dead with the reason, for an
//! operator (`keys-webhook-worker list --state dead`), never silently dropped.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use entitlements::{Actor, AuditEntry, Entitlement, RevokeReason, Status, Term};
use pricing::Money;
use upgrades::ports::{Fulfilment, Order, OrderRef, OrderStatus, PaymentRefs, ledger_of};
use upgrades::service::grants_for;
use upgrades::{PurchaseId, Sku};

use crate::events::Event;

use crate::ports::DisputeRecord;
pub use crate::ports::{PaymentTx, TxError};

use mail::{Notice, NoticeKind};

/// Settings of the rules.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long a past-due subscription keeps access.
    pub grace: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            grace: Duration::days(7),
        }
    }
}

/// Why an event could not be applied now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Its order is not known (yet): retry later.
    #[error("retry later: {0}")]
    Retry(String),
    /// It must never be applied as it is (a foreign session, a wrong amount, a conflicting
    /// late payment): park it as dead at once with this reason, for an operator.
    #[error("rejected: {0}")]
    Reject(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] TxError),
}

/// What an applied event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Changed something (a summary for the log).
    Changed(String),
    /// Nothing to do (a duplicate, a stale event, an unhandled type), and why.
    Ignored(String),
}

fn ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

async fn order_or_retry(tx: &dyn PaymentTx, by: OrderRef, what: &str) -> Result<Order, ApplyError> {
    tx.order(&by)
        .await?
        .ok_or_else(|| ApplyError::Retry(format!("no order for {what} yet")))
}

/// The time-bound (plan) entitlements an order granted that are not revoked.
async fn live_plan_grants(tx: &dyn PaymentTx, order: &Order) -> Result<Vec<Entitlement>, ApplyError> {
    Ok(tx
        .entitlements_of(order.id)
        .await?
        .into_iter()
        .filter(|e| matches!(e.term, Term::TimeBound { .. }) && !matches!(e.status, Status::Revoked { .. }))
        .collect())
}

/// Applies `change` to each entitlement and stores those it changed (it answers the audit entry
/// of a change, `None` for no change). Returns how many changed.
async fn change_each(
    tx: &dyn PaymentTx,
    list: Vec<Entitlement>,
    mut change: impl FnMut(&mut Entitlement) -> Option<AuditEntry>,
) -> Result<usize, ApplyError> {
    let mut changed = 0;
    for mut e in list {
        if let Some(audit) = change(&mut e) {
            tx.update(&e, &audit).await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The order whose stored Checkout Session is `session`. The order id the event carries
/// (`client_reference_id`) is only a hint: when it names an order that has no session yet (the
/// session was opened a moment ago and its id is being stored), try again later; when it names
/// an order with another session, or one that never had a checkout, the event is rejected.
async fn order_of_session(tx: &dyn PaymentTx, session: &str, hint: Option<i64>) -> Result<Order, ApplyError> {
    if let Some(o) = tx.order(&OrderRef::CheckoutSession(session.to_owned())).await? {
        return Ok(o);
    }
    let Some(id) = hint else {
        return Err(ApplyError::Retry(format!(
            "no order for checkout session {session} yet"
        )));
    };
    match tx.order(&OrderRef::Id(PurchaseId(id))).await? {
        Some(o) => match (&o.refs.checkout_session, o.status) {
            (None, OrderStatus::Pending) => Err(ApplyError::Retry(format!(
                "order {id} has no checkout session recorded yet"
            ))),
            (Some(theirs), _) => Err(ApplyError::Reject(format!(
                "checkout session {session} names order {id}, whose checkout session is {theirs}: \
                 not a checkout this shop opened for that order"
            ))),
            (None, status) => Err(ApplyError::Reject(format!(
                "checkout session {session} names order {id}, which is {} and never had a checkout session",
                status.as_str()
            ))),
        },
        None => Err(ApplyError::Retry(format!(
            "no order for checkout session {session} yet"
        ))),
    }
}

/// Whether a payment that completed for a cancelled order can still be fulfilled: not when the
/// holder meanwhile bought the same thing (a live plan for a plan), and not when the credit the
/// order used was spent by another order. `Err(Reject)` says which.
async fn late_payment_conflict(
    tx: &dyn PaymentTx,
    o: &Order,
    payment_intent: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApplyError> {
    let (orders, uses) = tx.holder_history(o.holder).await?;
    let twice = orders.iter().find(|x| {
        x.id != o.id
            && match o.sku {
                Sku::Plan { .. } => x.subscription(now).is_some(),
                _ => x.sku == o.sku && x.was_paid() && x.status != OrderStatus::Refunded,
            }
    });
    if let Some(other) = twice {
        return Err(ApplyError::Reject(format!(
            "order {} was paid after it was cancelled, but order {} already bought {}: the buyer paid twice; \
             refund payment {}",
            o.id,
            other.id,
            other.sku,
            payment_intent.unwrap_or("(see the checkout session)")
        )));
    }
    let ledger = ledger_of(&orders, &uses);
    let mut planned: BTreeMap<(PurchaseId, catalog::Slug), i64> = BTreeMap::new();
    for u in uses.iter().filter(|u| u.by == o.id) {
        *planned.entry((u.from, u.slug.clone())).or_default() += u.amount.minor();
    }
    for ((from, slug), amount) in planned {
        let left = ledger.available(from, &slug).map_or(0, |m| m.minor());
        if amount > left {
            return Err(ApplyError::Reject(format!(
                "order {} was paid after it was cancelled, but the credit it used from order {from} for {slug} \
                 was spent by another order meanwhile: refund the payment",
                o.id
            )));
        }
    }
    Ok(())
}

/// A plan change's invoice was paid: the change's order becomes the subscription's order —
/// paid exactly its quoted amount due, granted the new plan for the invoice's period — and the
/// order it replaces ends now (its plan grants revoked, its period cut, its live marker moved).
/// An amount that is not the quote, or a change naming another subscription, is rejected.
async fn apply_plan_change(
    tx: &dyn PaymentTx,
    change: &Order,
    subscription: &str,
    period: (DateTime<Utc>, DateTime<Utc>),
    amount_paid: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let Some(old_id) = change.refs.replaces else {
        return Err(ApplyError::Reject(format!("order {} is not a plan change", change.id)));
    };
    let old = tx.order(&OrderRef::Id(old_id)).await?.ok_or_else(|| {
        ApplyError::Reject(format!(
            "plan change order {} replaces unknown order {old_id}",
            change.id
        ))
    })?;
    if old.refs.subscription.as_deref() != Some(subscription) || old.holder != change.holder {
        return Err(ApplyError::Reject(format!(
            "invoice of subscription {subscription} names plan change order {}, which changes another subscription",
            change.id
        )));
    }
    if amount_paid != change.amount_due.minor() {
        return Err(ApplyError::Reject(format!(
            "plan change order {} is due {}, but its invoice charged {amount_paid} minor units: nothing changed; \
             refund the difference or record the change by hand",
            change.id, change.amount_due
        )));
    }
    if change.status != OrderStatus::Pending {
        return Err(ApplyError::Reject(format!(
            "plan change order {} was {} when its invoice was paid: nothing changed; refund invoice of {subscription}",
            change.id,
            change.status.as_str()
        )));
    }
    // The old plan ends now.
    change_each(tx, live_plan_grants(tx, &old).await?, |e| {
        e.revoke(RevokeReason::SubscriptionEnded, actor.clone(), "plan changed", now)
            .ok()
    })
    .await?;
    if let Some((start, end)) = old.period
        && end > now
    {
        tx.set_plan(old.id, &old.sku, (start, now.max(start))).await?;
    }
    let grants = grants_for(
        &change.sku,
        &[],
        change.holder,
        false,
        Some(period),
        actor,
        "plan change paid",
        now,
    );
    let f = Fulfilment {
        cash_paid: change.amount_due,
        refs: PaymentRefs {
            subscription: Some(subscription.to_owned()),
            ..PaymentRefs::default()
        },
        period: Some(period),
        at: now,
    };
    if !tx.fulfil(change.id, &f, &grants).await? {
        return Ok(Applied::Ignored(format!(
            "plan change order {} changed meanwhile",
            change.id
        )));
    }
    if !tx.make_live(change.id, now).await? {
        return Err(ApplyError::Reject(format!(
            "plan change order {} cannot become the live subscription: another one is live",
            change.id
        )));
    }
    tx.notify(&receipt(change, String::new())).await?;
    Ok(Applied::Changed(format!(
        "order {} replaced order {} on subscription {subscription}: {} until {}",
        change.id, old.id, change.sku, period.1
    )))
}

/// The receipt of order `o` (`detail`: empty for a purchase, `renewal <end> <amount>` for a
/// renewal), queued once per order (and per period for renewals).
fn receipt(o: &Order, detail: String) -> Notice {
    let dedupe = if detail.is_empty() {
        format!("receipt:order:{}", o.id.0)
    } else {
        format!("receipt:order:{}:{detail}", o.id.0)
    };
    Notice::about_order(NoticeKind::Receipt, o.buyer.0, o.id.0, detail, dedupe)
}

/// "Your access ended" for order `o`, `why` being `refund`, `subscription_ended` or
/// `dispute_lost`.
fn access_ended(o: &Order, why: &str) -> Notice {
    Notice::about_order(
        NoticeKind::AccessEnded,
        o.buyer.0,
        o.id.0,
        why,
        format!("access-ended:{why}:order:{}", o.id.0),
    )
}

/// Applies one event.
///
/// # Errors
/// [`ApplyError::Retry`] when its order is not known yet; [`ApplyError::Store`].
#[allow(clippy::too_many_lines)]
pub async fn apply(
    event: &Event,
    event_id: &str,
    tx: &dyn PaymentTx,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let actor = Actor::Stripe {
        event_id: event_id.to_owned(),
    };
    match event {
        Event::Ignored => Ok(Applied::Ignored("event type not handled".into())),
        Event::DisputeCreated {
            dispute,
            payment_intent,
            amount,
            reason,
        } => {
            let Some(pi) = payment_intent else {
                return Err(ApplyError::Reject(format!("dispute {dispute} names no payment")));
            };
            let o = order_or_retry(tx, OrderRef::PaymentIntent(pi.clone()), pi).await?;
            // Closed already (the events crossed): the outcome stands.
            if let Some(known) = tx.dispute(dispute).await?
                && known.status != "open"
            {
                return Ok(Applied::Ignored(format!(
                    "dispute {dispute} already closed: {}",
                    known.status
                )));
            }
            let suspended = change_each(tx, tx.entitlements_of(o.id).await?, |e| {
                e.suspend(dispute, actor.clone(), "charge.dispute.created", now).ok()
            })
            .await?;
            tx.record_dispute(&DisputeRecord {
                id: dispute.clone(),
                order: o.id,
                payment_intent: pi.clone(),
                amount: Money::from_minor(*amount, o.cash_paid.currency()),
                reason: reason.clone(),
                status: "open".into(),
                opened_at: now,
                closed_at: None,
            })
            .await?;
            Ok(Applied::Changed(format!(
                "order {}: dispute {dispute} opened, {suspended} entitlement(s) suspended",
                o.id
            )))
        }
        Event::DisputeClosed {
            dispute,
            payment_intent,
            status,
        } => {
            let Some(pi) = payment_intent else {
                return Err(ApplyError::Reject(format!("dispute {dispute} names no payment")));
            };
            let o = order_or_retry(tx, OrderRef::PaymentIntent(pi.clone()), pi).await?;
            let known = tx.dispute(dispute).await?;
            if known.as_ref().is_some_and(|d| d.status != "open") {
                return Ok(Applied::Ignored(format!("dispute {dispute} already closed")));
            }
            let outcome = match status.as_str() {
                "won" | "warning_closed" => "won",
                "lost" => "lost",
                other => return Ok(Applied::Ignored(format!("dispute {dispute} closed as {other}"))),
            };
            let list = tx.entitlements_of(o.id).await?;
            let changed = if outcome == "won" {
                change_each(tx, list, |e| {
                    e.restore(dispute, actor.clone(), "charge.dispute.closed: won", now)
                        .ok()
                })
                .await?
            } else {
                // A chargeback: the money went back to the buyer, so what it bought is revoked
                // and the order counts as refunded — its value is no credit for later orders.
                let revoked = change_each(tx, list, |e| {
                    e.revoke(
                        RevokeReason::Chargeback,
                        actor.clone(),
                        "charge.dispute.closed: lost",
                        now,
                    )
                    .ok()
                })
                .await?;
                tx.set_refund(o.id, o.cash_paid, OrderStatus::Refunded).await?;
                if revoked > 0 {
                    tx.notify(&access_ended(&o, "dispute_lost")).await?;
                }
                revoked
            };
            tx.record_dispute(&DisputeRecord {
                id: dispute.clone(),
                order: o.id,
                payment_intent: pi.clone(),
                amount: known.as_ref().map_or(o.cash_paid, |d| d.amount),
                reason: known
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), |d| d.reason.clone()),
                status: outcome.into(),
                opened_at: known.as_ref().map_or(now, |d| d.opened_at),
                closed_at: Some(now),
            })
            .await?;
            Ok(Applied::Changed(format!(
                "order {}: dispute {dispute} {outcome}, {changed} entitlement(s) {}",
                o.id,
                if outcome == "won" {
                    "restored"
                } else {
                    "revoked (chargeback)"
                }
            )))
        }
        Event::CheckoutCompleted {
            session,
            order,
            paid,
            payment_intent,
            subscription,
            customer,
            amount_total,
            currency,
        } => {
            let o = order_of_session(tx, session, *order).await?;
            let refs = PaymentRefs {
                replaces: None,
                checkout_session: Some(session.clone()),
                payment_intent: payment_intent.clone(),
                subscription: subscription.clone(),
                customer: customer.clone(),
            };
            if !paid {
                tx.set_refs(o.id, &refs).await?;
                return Ok(Applied::Ignored(format!(
                    "order {} awaits an asynchronous payment",
                    o.id
                )));
            }
            let due = o.amount_due;
            let currency_ok = currency
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(due.currency().code()));
            if *amount_total != Some(due.minor()) || !currency_ok {
                return Err(ApplyError::Reject(format!(
                    "checkout session {session} charged {} {}, but order {} is due {due}: nothing granted; \
                     refund the payment or record the order by hand",
                    amount_total.map_or_else(|| "an unknown amount".to_owned(), |a| a.to_string()),
                    currency.as_deref().unwrap_or("(no currency)"),
                    o.id
                )));
            }
            if o.was_paid() {
                return Ok(Applied::Ignored(format!(
                    "order {} was already {}",
                    o.id,
                    o.status.as_str()
                )));
            }
            let period = match o.sku {
                Sku::Plan { interval, .. } => Some((now, upgrades::service::period_end(now, interval))),
                _ => None,
            };
            let free = o.amount_due.minor() == 0 && matches!(o.sku, Sku::Bundle(_));
            let grants = grants_for(
                &o.sku,
                &o.allocations,
                o.holder,
                free,
                period,
                &actor,
                "checkout.session.completed",
                now,
            );
            let f = Fulfilment {
                cash_paid: due,
                refs,
                period,
                at: now,
            };
            // One live subscription per holder: a second one is refused, never granted.
            if matches!(o.sku, Sku::Plan { .. }) && !tx.make_live(o.id, now).await? {
                return Err(ApplyError::Reject(format!(
                    "order {} would be a second live subscription of {:?}: nothing granted; cancel subscription {} \
                     and refund the payment (plan changes go through checkout, which changes the live subscription)",
                    o.id,
                    o.holder,
                    f.refs.subscription.as_deref().unwrap_or("(see the checkout session)")
                )));
            }
            if o.status == OrderStatus::Cancelled {
                late_payment_conflict(tx, &o, payment_intent.as_deref(), now).await?;
                return Ok(if tx.revive(o.id, &f, &grants).await? {
                    tx.notify(&receipt(&o, String::new())).await?;
                    Applied::Changed(format!(
                        "order {} was paid after it was cancelled: nothing conflicted, so it is fulfilled",
                        o.id
                    ))
                } else {
                    Applied::Ignored(format!("order {} changed meanwhile", o.id))
                });
            }
            if tx.fulfil(o.id, &f, &grants).await? {
                tx.notify(&receipt(&o, String::new())).await?;
                Ok(Applied::Changed(format!("order {} paid and fulfilled", o.id)))
            } else {
                Ok(Applied::Ignored(format!(
                    "order {} was already {}",
                    o.id,
                    o.status.as_str()
                )))
            }
        }
        Event::CheckoutExpired { session, order } => {
            let o = order_of_session(tx, session, *order).await?;
            if tx.cancel_pending(o.id).await? {
                Ok(Applied::Changed(format!("order {} cancelled", o.id)))
            } else {
                Ok(Applied::Ignored(format!("order {} is {}", o.id, o.status.as_str())))
            }
        }
        Event::InvoicePaid {
            subscription,
            period_start,
            period_end,
            amount_paid,
            order,
        } => {
            // A plan change's invoice names the change's pending order.
            if let Some(id) = order
                && let Some(change) = tx.order(&OrderRef::Id(PurchaseId(*id))).await?
                && change.refs.replaces.is_some()
                && !change.was_paid()
            {
                let period = (period_start.map_or(now, ts), ts(*period_end));
                return apply_plan_change(tx, &change, subscription, period, *amount_paid, &actor, now).await;
            }
            let o = order_or_retry(tx, OrderRef::Subscription(subscription.clone()), subscription).await?;
            if !o.was_paid() {
                return Err(ApplyError::Retry(format!("order {} is not fulfilled yet", o.id)));
            }
            let end = ts(*period_end);
            // The renewal of a subscription with a change scheduled for it (a downgrade): the
            // new period is the new plan's — the old plan's grants end, the new plan's start.
            if let (Some((_, old_end)), Some(next)) = (o.period, tx.scheduled_plan(o.id).await?)
                && end > old_end
            {
                change_each(tx, live_plan_grants(tx, &o).await?, |e| {
                    e.revoke(
                        RevokeReason::SubscriptionEnded,
                        actor.clone(),
                        "scheduled plan change",
                        now,
                    )
                    .ok()
                })
                .await?;
                let grants = grants_for(
                    &next,
                    &[],
                    o.holder,
                    false,
                    Some((old_end, end)),
                    &actor,
                    "scheduled plan change",
                    now,
                );
                for g in &grants {
                    tx.grant(o.id, g).await?;
                }
                tx.set_plan(o.id, &next, (old_end, end)).await?;
                tx.set_scheduled_plan(o.id, None).await?;
                tx.notify(&receipt(&o, format!("renewal {} {amount_paid}", end.date_naive())))
                    .await?;
                return Ok(Applied::Changed(format!(
                    "order {}: renewed as {next} until {end} (scheduled change)",
                    o.id
                )));
            }
            // A stale invoice, or the first one, is already covered.
            let changed = change_each(tx, live_plan_grants(tx, &o).await?, |e| match e.term {
                Term::TimeBound { period_end: current } if end > current => {
                    e.renew(end, actor.clone(), "invoice.paid", now).ok()
                }
                _ => None,
            })
            .await?;
            if let Some((start, old_end)) = o.period
                && end > old_end
            {
                tx.set_plan(o.id, &o.sku, (start, end)).await?;
            }
            if changed > 0 {
                tx.notify(&receipt(&o, format!("renewal {} {amount_paid}", end.date_naive())))
                    .await?;
            }
            Ok(if changed > 0 {
                Applied::Changed(format!("order {} renewed until {end}", o.id))
            } else {
                Applied::Ignored(format!("order {}: period already covered", o.id))
            })
        }
        Event::InvoicePaymentFailed {
            subscription,
            period_end,
        } => {
            let o = order_or_retry(tx, OrderRef::Subscription(subscription.clone()), subscription).await?;
            if !o.was_paid() {
                return Err(ApplyError::Retry(format!("order {} is not fulfilled yet", o.id)));
            }
            let end = ts(*period_end);
            // A failure for a period already paid changes nothing (see `mark_unpaid`).
            let changed = change_each(tx, live_plan_grants(tx, &o).await?, |e| {
                e.mark_unpaid(end, policy.grace, actor.clone(), "invoice.payment_failed", now)
                    .ok()
                    .flatten()
            })
            .await?;
            if changed > 0 {
                let until = (end + policy.grace).date_naive();
                tx.notify(&Notice::about_order(
                    NoticeKind::PaymentFailed,
                    o.buyer.0,
                    o.id.0,
                    until.to_string(),
                    format!("payment-failed:order:{}:{}", o.id.0, end.date_naive()),
                ))
                .await?;
            }
            Ok(if changed > 0 {
                Applied::Changed(format!("order {} past due", o.id))
            } else {
                Applied::Ignored(format!("order {}: failed invoice already superseded", o.id))
            })
        }
        Event::ChargeRefunded {
            payment_intent,
            amount,
            amount_refunded,
            refunded,
        } => {
            let o = order_or_retry(tx, OrderRef::PaymentIntent(payment_intent.clone()), payment_intent).await?;
            if o.status == OrderStatus::Refunded {
                return Ok(Applied::Ignored(format!("order {} already refunded", o.id)));
            }
            let full = *refunded || amount_refunded >= amount;
            let value = o.cash_paid.checked_add(o.credit_applied).unwrap_or(o.cash_paid);
            if full {
                change_each(tx, tx.entitlements_of(o.id).await?, |e| {
                    e.revoke(RevokeReason::Refund, actor.clone(), "charge.refunded", now)
                        .ok()
                })
                .await?;
                tx.set_refund(o.id, value, OrderStatus::Refunded).await?;
                tx.notify(&access_ended(&o, "refund")).await?;
                Ok(Applied::Changed(format!("order {} refunded, access revoked", o.id)))
            } else {
                // Partial refund: access stays; the order's credit shrinks by the cash refunded.
                let refunded = Money::from_minor((*amount_refunded).min(value.minor()), value.currency());
                if refunded.minor() <= o.refunded.minor() {
                    return Ok(Applied::Ignored(format!("order {}: refund already recorded", o.id)));
                }
                tx.set_refund(o.id, refunded, OrderStatus::PartiallyRefunded).await?;
                Ok(Applied::Changed(format!(
                    "order {} partially refunded ({refunded})",
                    o.id
                )))
            }
        }
        Event::SubscriptionDeleted { subscription } => {
            let o = order_or_retry(tx, OrderRef::Subscription(subscription.clone()), subscription).await?;
            tx.end_live(o.id).await?;
            let changed = change_each(tx, live_plan_grants(tx, &o).await?, |e| {
                e.revoke(
                    RevokeReason::SubscriptionEnded,
                    actor.clone(),
                    "customer.subscription.deleted",
                    now,
                )
                .ok()
            })
            .await?;
            if changed > 0 {
                tx.notify(&access_ended(&o, "subscription_ended")).await?;
            }
            Ok(if changed > 0 {
                Applied::Changed(format!("order {}: subscription ended", o.id))
            } else {
                Applied::Ignored(format!("order {}: subscription already ended", o.id))
            })
        }
        Event::SubscriptionUpdated {
            subscription,
            status,
            period_end,
            sku,
            order,
            cancel_at_period_end,
        } => {
            // A plan change of ours: its invoice carries it out (retried until that is applied).
            if let Some(id) = order
                && let Some(change) = tx.order(&OrderRef::Id(PurchaseId(*id))).await?
                && change.refs.replaces.is_some()
                && change.status == OrderStatus::Pending
            {
                return Err(ApplyError::Retry(format!(
                    "plan change order {} waits for its invoice",
                    change.id
                )));
            }
            let o = order_or_retry(tx, OrderRef::Subscription(subscription.clone()), subscription).await?;
            if !o.was_paid() {
                return Err(ApplyError::Retry(format!("order {} is not fulfilled yet", o.id)));
            }
            // Cancelled (or resumed) for the end of the paid period: access continues until
            // then; `customer.subscription.deleted` ends it.
            if let Some(flag) = cancel_at_period_end {
                tx.set_cancel_at_period_end(o.id, *flag).await?;
            }
            let new_sku = sku.as_deref().and_then(|s| s.parse::<Sku>().ok());
            let live = live_plan_grants(tx, &o).await?;
            match (status.as_str(), new_sku) {
                ("canceled" | "incomplete_expired" | "unpaid", _) => {
                    tx.end_live(o.id).await?;
                    change_each(tx, live, |e| {
                        e.revoke(
                            RevokeReason::SubscriptionEnded,
                            actor.clone(),
                            "customer.subscription.updated",
                            now,
                        )
                        .ok()
                    })
                    .await?;
                    Ok(Applied::Changed(format!("order {}: subscription {status}", o.id)))
                }
                (_, Some(new @ Sku::Plan { tier, .. })) if new != o.sku => {
                    // Plan change: the old plan's grant ends, the new plan's starts, same period.
                    let end = period_end.map_or_else(|| o.period.map_or(now, |p| p.1), ts);
                    change_each(tx, live, |e| {
                        e.revoke(RevokeReason::SubscriptionEnded, actor.clone(), "plan changed", now)
                            .ok()
                    })
                    .await?;
                    let grants = grants_for(
                        &new,
                        &[],
                        o.holder,
                        false,
                        Some((now, end)),
                        &actor,
                        "plan changed",
                        now,
                    );
                    for g in &grants {
                        tx.grant(o.id, g).await?;
                    }
                    tx.set_plan(o.id, &new, (now, end)).await?;
                    Ok(Applied::Changed(format!("order {}: plan changed to {tier}", o.id)))
                }
                ("past_due", _) => {
                    change_each(tx, live, |e| {
                        e.mark_past_due(policy.grace, actor.clone(), "customer.subscription.updated", now)
                            .ok()
                    })
                    .await?;
                    Ok(Applied::Changed(format!("order {}: past due", o.id)))
                }
                _ => {
                    let Some(end) = period_end.map(ts) else {
                        return Ok(match cancel_at_period_end {
                            Some(flag) => Applied::Changed(format!(
                                "order {}: cancel at the end of the period {}",
                                o.id,
                                if *flag { "set" } else { "cleared" }
                            )),
                            None => Applied::Ignored(format!("order {}: nothing to change", o.id)),
                        });
                    };
                    let changed = change_each(tx, live, |e| match e.term {
                        Term::TimeBound { period_end: current } if end > current => {
                            e.renew(end, actor.clone(), "customer.subscription.updated", now).ok()
                        }
                        _ => None,
                    })
                    .await?;
                    Ok(if changed > 0 {
                        Applied::Changed(format!("order {} renewed until {end}", o.id))
                    } else {
                        Applied::Ignored(format!("order {}: period already covered", o.id))
                    })
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "apply_table.rs"]
mod apply_table;
