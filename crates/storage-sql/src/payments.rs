//! The webhook inbox and the worker's transaction.
//!
//! * [`SqlInbox::intake`] stores a verified event keyed by its id (`INSERT … ON CONFLICT DO
//!   NOTHING`: a delivery stored twice is one row). Unhandled types are stored as `ignored`.
//! * [`SqlInbox::process_next`] claims one due `pending` row — on Postgres with
//!   `FOR UPDATE SKIP LOCKED`, so several workers run side by side — and applies it with
//!   [`payments::apply::apply`] in the SAME transaction that marks it `done`: a worker killed
//!   mid-event leaves the row pending and nothing applied. A failure rolls back and schedules a
//!   retry with exponential backoff; after `max_attempts` the row is parked as `dead` until an
//!   operator replays it ([`SqlInbox::replay`]).
//! * [`SqlInbox::sweep`] revokes past-due entitlements whose grace ran out.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use entitlements::ports::NewGrant;
use entitlements::{AuditEntry, Entitlement};
use payments::apply::{Applied, ApplyError, PaymentTx, Policy, TxError, apply};
use payments::events::{Envelope, HANDLED, interpret};
use payments::ports::{DisputeRecord, InboxEntry, InboxError, InboxRepository, Processed};
use pricing::Money;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use upgrades::ports::{Fulfilment, Order, OrderRef, OrderStatus, PaymentRefs};
use upgrades::{PurchaseId, Sku};

use crate::entities::{disputes, entitlements as ent_rows, order_entitlements, orders, webhook_inbox as inbox};
use crate::entitlement_repo::{from_row as ent_from_row, grant_in, update_in};
use crate::order_repo::{
    cancel_pending_on, end_live_on, find_by_ref_on, fulfil_fast, history_on, lock_holder, make_live_on, set_refs_on,
    set_refund_on,
};

/// Inbox row states.
pub mod status {
    /// Waiting to be applied (or retried).
    pub const PENDING: &str = "pending";
    /// Applied.
    pub const DONE: &str = "done";
    /// A type the shop does not act on; acknowledged and kept.
    pub const IGNORED: &str = "ignored";
    /// Failed `max_attempts` times; waits for an operator's replay.
    pub const DEAD: &str = "dead";
}

fn err(e: impl std::fmt::Display) -> InboxError {
    InboxError(e.to_string())
}

fn tx_err(e: impl std::fmt::Display) -> TxError {
    TxError(e.to_string())
}

/// The inbox on sea-orm.
#[derive(Debug, Clone)]
pub struct SqlInbox {
    db: DatabaseConnection,
    policy: Policy,
    max_attempts: i32,
}

impl SqlInbox {
    /// Wraps a connection returned by [`crate::connect`].
    #[must_use]
    pub fn new(db: DatabaseConnection, policy: Policy, max_attempts: i32) -> Self {
        Self {
            db,
            policy,
            max_attempts: max_attempts.max(1),
        }
    }
}

#[async_trait]
impl InboxRepository for SqlInbox {
    async fn intake(&self, env: &Envelope, payload: &str, now: DateTime<Utc>) -> Result<bool, InboxError> {
        let handled = HANDLED.contains(&env.event_type.as_str());
        let res = inbox::Entity::insert(inbox::ActiveModel {
            event_id: Set(env.id.clone()),
            event_type: Set(env.event_type.clone()),
            payload: Set(payload.to_owned()),
            object_created: Set(object_created(env)),
            received_at: Set(now),
            status: Set(if handled { status::PENDING } else { status::IGNORED }.to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            last_error: Set(None),
            processed_at: Set((!handled).then_some(now)),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(inbox::Column::EventId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await;
        match res {
            Ok(n) => Ok(n > 0),
            Err(DbErr::RecordNotInserted) => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    async fn process_next(&self, now: DateTime<Utc>) -> Result<Option<Processed>, InboxError> {
        Ok(self.process_batch(now, 1).await?.into_iter().next())
    }

    async fn process_batch(&self, now: DateTime<Utc>, max: usize) -> Result<Vec<Processed>, InboxError> {
        let txn = self.db.begin().await.map_err(err)?;
        let rows = claim(&txn, now, max.max(1)).await?;
        if rows.is_empty() {
            txn.rollback().await.map_err(err)?;
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            // Each event in its own savepoint: its effects and its `done` mark commit together
            // with the batch, or roll back alone when it fails.
            let sp = txn.begin().await.map_err(err)?;
            let result = match payments::events::parse_envelope(row.payload.as_bytes()) {
                Ok(env) => match interpret(&env) {
                    Ok(event) => apply(&event, &row.event_id, &TxPort { txn: &sp, now }, &self.policy, now).await,
                    Err(e) => Err(ApplyError::Retry(format!("unreadable event: {e}"))),
                },
                Err(e) => Err(ApplyError::Retry(format!("unreadable event: {e}"))),
            };
            match result {
                Ok(applied) => {
                    let summary = match &applied {
                        Applied::Changed(s) | Applied::Ignored(s) => s.clone(),
                    };
                    inbox::Entity::update_many()
                        .set(inbox::ActiveModel {
                            status: Set(status::DONE.to_owned()),
                            attempts: Set(row.attempts + 1),
                            last_error: Set(None),
                            processed_at: Set(Some(now)),
                            ..Default::default()
                        })
                        .filter(inbox::Column::EventId.eq(row.event_id.as_str()))
                        .exec(&sp)
                        .await
                        .map_err(err)?;
                    sp.commit().await.map_err(err)?;
                    out.push(Processed {
                        event_id: row.event_id,
                        event_type: row.event_type,
                        outcome: Ok(summary),
                        dead: false,
                    });
                }
                Err(e) => {
                    sp.rollback().await.map_err(err)?;
                    let attempts = row.attempts + 1;
                    let dead = attempts >= self.max_attempts || matches!(e, ApplyError::Reject(_));
                    // 2 s, 4 s, 8 s, … capped at one hour.
                    let backoff = Duration::seconds(1_i64 << attempts.clamp(0, 12)).min(Duration::hours(1));
                    inbox::Entity::update_many()
                        .set(inbox::ActiveModel {
                            status: Set(if dead { status::DEAD } else { status::PENDING }.to_owned()),
                            attempts: Set(attempts),
                            next_attempt_at: Set(now + backoff),
                            last_error: Set(Some(e.to_string())),
                            ..Default::default()
                        })
                        .filter(inbox::Column::EventId.eq(row.event_id.as_str()))
                        .exec(&txn)
                        .await
                        .map_err(err)?;
                    out.push(Processed {
                        event_id: row.event_id,
                        event_type: row.event_type,
                        outcome: Err(e.to_string()),
                        dead,
                    });
                }
            }
        }
        txn.commit().await.map_err(err)?;
        Ok(out)
    }

    async fn replay(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, InboxError> {
        let r = inbox::Entity::update_many()
            .set(inbox::ActiveModel {
                status: Set(status::PENDING.to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                ..Default::default()
            })
            .filter(inbox::Column::EventId.eq(event_id))
            .filter(inbox::Column::Status.ne(status::DONE))
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(r.rows_affected == 1)
    }

    async fn list(&self, state: &str, limit: u64) -> Result<Vec<InboxEntry>, InboxError> {
        Ok(inbox::Entity::find()
            .filter(inbox::Column::Status.eq(state))
            .order_by_asc(inbox::Column::ReceivedAt)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(err)?
            .into_iter()
            .map(|r| InboxEntry {
                event_id: r.event_id,
                event_type: r.event_type,
                status: r.status,
                attempts: r.attempts,
                last_error: r.last_error,
            })
            .collect())
    }

    async fn disputes(&self, open_only: bool) -> Result<Vec<DisputeRecord>, InboxError> {
        let mut q = disputes::Entity::find();
        if open_only {
            q = q.filter(disputes::Column::Status.eq("open"));
        }
        q.order_by_desc(disputes::Column::OpenedAt)
            .all(&self.db)
            .await
            .map_err(err)?
            .iter()
            .map(|r| dispute_from_row(r).map_err(|e| InboxError(e.0)))
            .collect()
    }

    async fn counts(&self) -> Result<Vec<(String, i64)>, InboxError> {
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT status, COUNT(*) AS n FROM webhook_inbox GROUP BY status ORDER BY status",
            ))
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "status").map_err(err)?, r.try_get("", "n").map_err(err)?)))
            .collect()
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<usize, InboxError> {
        let candidates = ent_rows::Entity::find()
            .filter(ent_rows::Column::Status.like("%past_due%"))
            .all(&self.db)
            .await
            .map_err(err)?;
        let mut revoked = 0;
        for row in &candidates {
            let mut e = ent_from_row(row).map_err(err)?;
            if let Ok(audit) = e.expire_grace(now) {
                let txn = self.db.begin().await.map_err(err)?;
                update_in(&txn, &e, &audit).await.map_err(err)?;
                txn.commit().await.map_err(err)?;
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

fn object_created(env: &Envelope) -> i64 {
    env.object
        .get("created")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(env.created)
}

/// Claims up to `max` of the oldest due pending rows inside `txn` (Postgres: `FOR UPDATE SKIP
/// LOCKED`, so concurrent workers take different rows; SQLite: the write lock is taken at once).
async fn claim(txn: &DatabaseTransaction, now: DateTime<Utc>, max: usize) -> Result<Vec<inbox::Model>, InboxError> {
    let mut q = inbox::Entity::find()
        .filter(inbox::Column::Status.eq(status::PENDING))
        .filter(inbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(inbox::Column::ObjectCreated)
        .order_by_asc(inbox::Column::ReceivedAt)
        .limit(max as u64);
    let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
    if postgres {
        q = q.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let rows = q.all(txn).await.map_err(err)?;
    if let Some(r) = rows.first()
        && !postgres
    {
        // SQLite: take the write lock now (one writer at a time).
        inbox::Entity::update_many()
            .set(inbox::ActiveModel {
                attempts: Set(r.attempts),
                ..Default::default()
            })
            .filter(inbox::Column::EventId.eq(r.event_id.as_str()))
            .exec(txn)
            .await
            .map_err(err)?;
    }
    Ok(rows)
}

fn dispute_from_row(r: &disputes::Model) -> Result<DisputeRecord, TxError> {
    let currency: pricing::Currency = serde_json::from_str(&format!("\"{}\"", r.currency))
        .map_err(|e| TxError(format!("dispute {}: stored currency cannot be read: {e}", r.id)))?;
    Ok(DisputeRecord {
        id: r.id.clone(),
        order: PurchaseId(r.order_id),
        payment_intent: r.payment_intent.clone(),
        amount: Money::from_minor(r.amount_minor, currency),
        reason: r.reason.clone(),
        status: r.status.clone(),
        opened_at: r.opened_at,
        closed_at: r.closed_at,
    })
}

struct TxPort<'a> {
    txn: &'a DatabaseTransaction,
    /// When the event is applied (the time notices are queued at).
    now: DateTime<Utc>,
}

#[async_trait]
impl PaymentTx for TxPort<'_> {
    async fn notify(&self, notice: &mail::Notice) -> Result<(), TxError> {
        crate::mail_outbox::insert_notice(self.txn, notice, self.now)
            .await
            .map(|_| ())
            .map_err(tx_err)
    }

    async fn order(&self, by: &OrderRef) -> Result<Option<Order>, TxError> {
        find_by_ref_on(self.txn, by).await.map_err(tx_err)
    }

    async fn fulfil(&self, id: PurchaseId, f: &Fulfilment, grants: &[NewGrant]) -> Result<bool, TxError> {
        fulfil_fast(self.txn, id, f, grants, OrderStatus::Pending)
            .await
            .map_err(tx_err)
    }

    async fn revive(&self, id: PurchaseId, f: &Fulfilment, grants: &[NewGrant]) -> Result<bool, TxError> {
        fulfil_fast(self.txn, id, f, grants, OrderStatus::Cancelled)
            .await
            .map_err(tx_err)
    }

    async fn holder_history(
        &self,
        holder: entitlements::Holder,
    ) -> Result<(Vec<Order>, Vec<upgrades::CreditUse>), TxError> {
        lock_holder(self.txn, holder).await.map_err(tx_err)?;
        history_on(self.txn, holder).await.map_err(tx_err)
    }

    async fn set_refs(&self, id: PurchaseId, refs: &PaymentRefs) -> Result<(), TxError> {
        set_refs_on(self.txn, id, refs).await.map_err(tx_err)
    }

    async fn cancel_pending(&self, id: PurchaseId) -> Result<bool, TxError> {
        cancel_pending_on(self.txn, id).await.map_err(tx_err)
    }

    async fn make_live(&self, id: PurchaseId, now: DateTime<Utc>) -> Result<bool, TxError> {
        make_live_on(self.txn, id, now).await.map_err(tx_err)
    }

    async fn scheduled_plan(&self, id: PurchaseId) -> Result<Option<Sku>, TxError> {
        crate::order_repo::scheduled_plan_on(self.txn, id).await.map_err(tx_err)
    }

    async fn set_scheduled_plan(&self, id: PurchaseId, sku: Option<Sku>) -> Result<(), TxError> {
        crate::order_repo::set_scheduled_plan_on(self.txn, id, sku.as_ref())
            .await
            .map_err(tx_err)
    }

    async fn dispute(&self, id: &str) -> Result<Option<DisputeRecord>, TxError> {
        disputes::Entity::find_by_id(id.to_owned())
            .one(self.txn)
            .await
            .map_err(|e| TxError(e.to_string()))?
            .as_ref()
            .map(dispute_from_row)
            .transpose()
    }

    async fn record_dispute(&self, d: &DisputeRecord) -> Result<(), TxError> {
        let row = disputes::ActiveModel {
            id: Set(d.id.clone()),
            order_id: Set(d.order.0),
            payment_intent: Set(d.payment_intent.clone()),
            amount_minor: Set(d.amount.minor()),
            currency: Set(d.amount.currency().code().to_owned()),
            reason: Set(d.reason.clone()),
            status: Set(d.status.clone()),
            opened_at: Set(d.opened_at),
            closed_at: Set(d.closed_at),
        };
        let exists = disputes::Entity::find_by_id(d.id.clone())
            .one(self.txn)
            .await
            .map_err(|e| TxError(e.to_string()))?
            .is_some();
        if exists {
            disputes::Entity::update(row).exec(self.txn).await.map(|_| ())
        } else {
            disputes::Entity::insert(row).exec(self.txn).await.map(|_| ())
        }
        .map_err(|e| TxError(e.to_string()))
    }

    async fn set_cancel_at_period_end(&self, id: PurchaseId, cancel: bool) -> Result<(), TxError> {
        crate::order_repo::set_cancel_at_period_end_on(self.txn, id, cancel)
            .await
            .map_err(tx_err)
    }

    async fn end_live(&self, id: PurchaseId) -> Result<(), TxError> {
        end_live_on(self.txn, id).await.map_err(tx_err)
    }

    async fn entitlements_of(&self, id: PurchaseId) -> Result<Vec<Entitlement>, TxError> {
        let ids: Vec<i64> = order_entitlements::Entity::find()
            .filter(order_entitlements::Column::OrderId.eq(id.0))
            .all(self.txn)
            .await
            .map_err(tx_err)?
            .into_iter()
            .map(|r| r.entitlement_id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ent_rows::Entity::find()
            .filter(ent_rows::Column::Id.is_in(ids))
            .order_by_asc(ent_rows::Column::Id)
            .all(self.txn)
            .await
            .map_err(tx_err)?
            .iter()
            .map(|r| ent_from_row(r).map_err(tx_err))
            .collect()
    }

    async fn update(&self, e: &Entitlement, audit: &AuditEntry) -> Result<(), TxError> {
        update_in(self.txn, e, audit).await.map_err(tx_err)
    }

    async fn grant(&self, order: PurchaseId, g: &NewGrant) -> Result<Entitlement, TxError> {
        let e = grant_in(self.txn, g).await.map_err(tx_err)?;
        order_entitlements::Entity::insert(order_entitlements::ActiveModel {
            order_id: Set(order.0),
            entitlement_id: Set(e.id.0),
        })
        .exec_without_returning(self.txn)
        .await
        .map_err(tx_err)?;
        Ok(e)
    }

    async fn set_refund(&self, id: PurchaseId, refunded: Money, status: OrderStatus) -> Result<(), TxError> {
        set_refund_on(self.txn, id, refunded, status).await.map_err(tx_err)
    }

    async fn set_plan(&self, id: PurchaseId, sku: &Sku, period: (DateTime<Utc>, DateTime<Utc>)) -> Result<(), TxError> {
        orders::Entity::update_many()
            .set(orders::ActiveModel {
                sku: Set(sku.to_string()),
                period_start: Set(Some(period.0)),
                period_end: Set(Some(period.1)),
                ..Default::default()
            })
            .filter(orders::Column::Id.eq(id.0))
            .exec(self.txn)
            .await
            .map(|_| ())
            .map_err(tx_err)
    }
}
