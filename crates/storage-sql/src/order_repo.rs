//! [`OrderRepository`] on sea-orm: orders, credit uses and the entitlements each order granted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entitlements::ports::NewGrant;
use entitlements::{AuditEntry, Entitlement, EntitlementId, Holder};
use pricing::{Currency, Money};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Statement, TransactionTrait,
};
use upgrades::ports::{
    Channel, Fulfilment, LivePlan, NewOrder, Order, OrderRef, OrderRepository, OrderStatus, OrderStoreError,
    PaymentRefs, RecordOrderError, ledger_of,
};
use upgrades::{CreditUse, PlannedUse, PurchaseId};

use crate::entities::{credit_uses, order_entitlements, orders, payment_customers};
use crate::entitlement_repo::{grant_in, holder_columns, holder_from, update_in};

/// The `orders`, `credit_uses` and `order_entitlements` tables.
#[derive(Debug, Clone)]
pub struct SqlOrderRepository {
    db: DatabaseConnection,
}

impl SqlOrderRepository {
    /// Wraps a connection returned by [`crate::connect`].
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn err(e: impl std::fmt::Display) -> OrderStoreError {
    OrderStoreError(e.to_string())
}

fn corrupt(id: i64, what: &str, e: impl std::fmt::Display) -> OrderStoreError {
    OrderStoreError(format!("order {id}: stored {what} cannot be read: {e}"))
}

fn from_row(r: &orders::Model) -> Result<Order, OrderStoreError> {
    let currency: Currency =
        serde_json::from_str(&format!("\"{}\"", r.currency)).map_err(|e| corrupt(r.id, "currency", e))?;
    let money = |minor: i64| Money::from_minor(minor, currency);
    Ok(Order {
        id: PurchaseId(r.id),
        holder: holder_from(&r.holder_kind, r.holder_id).map_err(|e| corrupt(r.id, "holder", e))?,
        buyer: entitlements::UserId(r.buyer_id),
        sku: r.sku.parse().map_err(|e| corrupt(r.id, "sku", e))?,
        status: OrderStatus::parse(&r.status).ok_or_else(|| corrupt(r.id, "status", &r.status))?,
        list_price: money(r.list_minor),
        amount_due: money(r.due_minor),
        cash_paid: money(r.cash_paid_minor),
        credit_applied: money(r.credit_applied_minor),
        refunded: money(r.refunded_minor),
        allocations: serde_json::from_str(&r.allocations).map_err(|e| corrupt(r.id, "allocations", e))?,
        explanation: r.quote.clone(),
        channel: Channel::parse(&r.channel).ok_or_else(|| corrupt(r.id, "channel", &r.channel))?,
        period: r.period_start.zip(r.period_end),
        created_at: r.created_at,
        paid_at: r.paid_at,
        refs: PaymentRefs {
            replaces: r.replaces_order.map(PurchaseId),
            checkout_session: r.checkout_session.clone(),
            payment_intent: r.payment_intent.clone(),
            subscription: r.subscription_ref.clone(),
            customer: r.customer_ref.clone(),
        },
        quote_id: r.quote_id.clone(),
    })
}

pub(crate) async fn history_on<C: ConnectionTrait>(
    c: &C,
    holder: Holder,
) -> Result<(Vec<Order>, Vec<CreditUse>), OrderStoreError> {
    let (kind, id) = holder_columns(holder);
    let rows = orders::Entity::find()
        .filter(orders::Column::HolderKind.eq(kind))
        .filter(orders::Column::HolderId.eq(id))
        .order_by_asc(orders::Column::Id)
        .all(c)
        .await
        .map_err(err)?;
    let list = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let currency = list.first().map(|o| o.cash_paid.currency());
    let uses = if ids.is_empty() {
        Vec::new()
    } else {
        credit_uses::Entity::find()
            .filter(credit_uses::Column::FromOrder.is_in(ids))
            .order_by_asc(credit_uses::Column::Id)
            .all(c)
            .await
            .map_err(err)?
            .into_iter()
            .map(|u| {
                Ok(CreditUse {
                    from: PurchaseId(u.from_order),
                    slug: u.slug.parse().map_err(|e| corrupt(u.id, "credit slug", e))?,
                    amount: Money::from_minor(u.amount_minor, currency.unwrap_or(Currency::Usd)),
                    by: PurchaseId(u.by_order),
                })
            })
            .collect::<Result<Vec<_>, OrderStoreError>>()?
    };
    Ok((list, uses))
}

/// Serialises writers of one holder's orders: Postgres takes a transaction-scoped advisory
/// lock; SQLite takes the database write lock before anything is read.
pub(crate) async fn lock_holder<C: ConnectionTrait>(c: &C, holder: Holder) -> Result<(), OrderStoreError> {
    if c.get_database_backend() != DatabaseBackend::Postgres {
        // SQLite: the database's write lock, taken before the transaction reads — a deferred
        // transaction that reads, then writes after another writer committed, fails at once
        // ("database is locked") instead of waiting; taking it first waits (busy timeout).
        return crate::write_first(c).await.map_err(err);
    }
    let (kind, id) = holder_columns(holder);
    let key = (if kind == "user" { 1_i64 << 40 } else { 2_i64 << 40 }) ^ id;
    c.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await
    .map(|_| ())
    .map_err(err)
}

async fn load<C: ConnectionTrait>(c: &C, id: i64) -> Result<Order, OrderStoreError> {
    let row = orders::Entity::find_by_id(id)
        .one(c)
        .await
        .map_err(err)?
        .ok_or_else(|| OrderStoreError(format!("order {id} vanished")))?;
    from_row(&row)
}

/// Inserts an order and its credit uses after re-checking, under the holder's lock, that every
/// credit is still available. Returns the new id.
async fn insert_order<C: ConnectionTrait>(
    txn: &C,
    order: &NewOrder,
    uses: &[PlannedUse],
    status: OrderStatus,
) -> Result<i64, RecordOrderError> {
    lock_holder(txn, order.holder).await?;
    let (kind, holder_id) = holder_columns(order.holder);
    if status == OrderStatus::Pending {
        // One open checkout per holder and SKU: the caller cancels (or expires) an earlier one
        // first, so a second here means a concurrent checkout got in between.
        if let Some(open) = orders::Entity::find()
            .filter(orders::Column::HolderKind.eq(kind))
            .filter(orders::Column::HolderId.eq(holder_id))
            .filter(orders::Column::Sku.eq(order.sku.to_string()))
            .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
            .one(txn)
            .await
            .map_err(err)?
        {
            return Err(RecordOrderError::PendingExists(PurchaseId(open.id)));
        }
    }
    let paid = status == OrderStatus::Paid;
    let inserted = orders::Entity::insert(orders::ActiveModel {
        holder_kind: Set(kind.to_owned()),
        holder_id: Set(holder_id),
        buyer_id: Set(order.buyer.0),
        sku: Set(order.sku.to_string()),
        status: Set(status.as_str().to_owned()),
        currency: Set(order.cash_paid.currency().code().to_owned()),
        list_minor: Set(order.list_price.minor()),
        due_minor: Set(order.amount_due.minor()),
        cash_paid_minor: Set(if paid { order.cash_paid.minor() } else { 0 }),
        credit_applied_minor: Set(order.credit_applied.minor()),
        refunded_minor: Set(0),
        allocations: Set(serde_json::to_string(&order.allocations).map_err(err)?),
        quote: Set(order.explanation.clone()),
        channel: Set(order.channel.as_str().to_owned()),
        period_start: Set(order.period.map(|p| p.0)),
        period_end: Set(order.period.map(|p| p.1)),
        created_at: Set(order.at),
        paid_at: Set(paid.then_some(order.at)),
        quote_id: Set(order.quote_id.clone()),
        ..Default::default()
    })
    .exec(txn)
    .await
    .map_err(err)?;
    let new_id = inserted.last_insert_id;

    // Re-check every credit under the lock: another order may have used it since the quote.
    let (orders_now, uses_now) = history_on(txn, order.holder).await?;
    let ledger = ledger_of(&orders_now, &uses_now);
    let mut planned: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for u in uses {
        *planned.entry((u.from.0, u.slug.to_string())).or_default() += u.amount.minor();
    }
    for ((from, slug), amount) in &planned {
        let available = slug
            .parse()
            .ok()
            .and_then(|s| ledger.available(PurchaseId(*from), &s))
            .map_or(0, |m| m.minor());
        if *amount > available {
            return Err(RecordOrderError::CreditTaken);
        }
    }
    if !uses.is_empty() {
        credit_uses::Entity::insert_many(uses.iter().map(|u| credit_uses::ActiveModel {
            from_order: Set(u.from.0),
            slug: Set(u.slug.to_string()),
            amount_minor: Set(u.amount.minor()),
            by_order: Set(new_id),
            ..Default::default()
        }))
        .exec(txn)
        .await
        .map_err(err)?;
    }
    Ok(new_id)
}

async fn grant_for_order<C: ConnectionTrait>(
    txn: &C,
    order_id: i64,
    grants: &[NewGrant],
) -> Result<Vec<Entitlement>, OrderStoreError> {
    let mut granted = Vec::new();
    for g in grants {
        let e = grant_in(txn, g).await.map_err(err)?;
        order_entitlements::Entity::insert(order_entitlements::ActiveModel {
            order_id: Set(order_id),
            entitlement_id: Set(e.id.0),
        })
        .exec_without_returning(txn)
        .await
        .map_err(err)?;
        granted.push(e);
    }
    Ok(granted)
}

pub(crate) async fn set_refs_on<C: ConnectionTrait>(
    c: &C,
    id: PurchaseId,
    refs: &PaymentRefs,
) -> Result<(), OrderStoreError> {
    let mut m = orders::ActiveModel::default();
    if let Some(v) = refs.replaces {
        m.replaces_order = Set(Some(v.0));
    }
    if let Some(v) = &refs.checkout_session {
        m.checkout_session = Set(Some(v.clone()));
    }
    if let Some(v) = &refs.payment_intent {
        m.payment_intent = Set(Some(v.clone()));
    }
    if let Some(v) = &refs.subscription {
        m.subscription_ref = Set(Some(v.clone()));
    }
    if let Some(v) = &refs.customer {
        m.customer_ref = Set(Some(v.clone()));
    }
    if !sea_orm::ActiveModelTrait::is_changed(&m) {
        return Ok(());
    }
    orders::Entity::update_many()
        .set(m)
        .filter(orders::Column::Id.eq(id.0))
        .exec(c)
        .await
        .map(|_| ())
        .map_err(err)
}

pub(crate) async fn find_by_ref_on<C: ConnectionTrait>(c: &C, by: &OrderRef) -> Result<Option<Order>, OrderStoreError> {
    let q = orders::Entity::find();
    let q = match by {
        OrderRef::Id(id) => q.filter(orders::Column::Id.eq(id.0)),
        OrderRef::CheckoutSession(s) => q.filter(orders::Column::CheckoutSession.eq(s.as_str())),
        OrderRef::PaymentIntent(s) => q.filter(orders::Column::PaymentIntent.eq(s.as_str())),
        // A subscription's orders: its first, then each plan change that replaced the one before
        // (same subscription). The live one answers, else the newest.
        OrderRef::Subscription(s) => q
            .filter(orders::Column::SubscriptionRef.eq(s.as_str()))
            .order_by_desc(orders::Column::LivePlanOf.is_not_null())
            .order_by_desc(orders::Column::Id),
    };
    q.order_by_asc(orders::Column::Id)
        .one(c)
        .await
        .map_err(err)?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Pending → paid with grants, on `txn`. An order already paid (or refunded, cancelled) is
/// left as it is: `(order, false)`.
pub(crate) async fn fulfil_in<C: ConnectionTrait>(
    txn: &C,
    id: PurchaseId,
    f: &Fulfilment,
    grants: &[NewGrant],
) -> Result<(Order, bool), OrderStoreError> {
    let changed = fulfil_fast(txn, id, f, grants, OrderStatus::Pending).await?;
    Ok((load(txn, id.0).await?, changed))
}

/// [`fulfil_in`] without reading the order back: one `UPDATE … WHERE status = 'pending'` that
/// also records the references and period, then the grants. `false` when it was not pending
/// (its references are still merged).
/// `from` (pending, or cancelled for a late payment) → paid, with its grants; `false` when the
/// order was not in `from` (its references are still merged).
pub(crate) async fn fulfil_fast<C: ConnectionTrait>(
    txn: &C,
    id: PurchaseId,
    f: &Fulfilment,
    grants: &[NewGrant],
    from: OrderStatus,
) -> Result<bool, OrderStoreError> {
    let mut m = orders::ActiveModel {
        status: Set(OrderStatus::Paid.as_str().to_owned()),
        cash_paid_minor: Set(f.cash_paid.minor()),
        paid_at: Set(Some(f.at)),
        ..Default::default()
    };
    if let Some(v) = &f.refs.checkout_session {
        m.checkout_session = Set(Some(v.clone()));
    }
    if let Some(v) = &f.refs.payment_intent {
        m.payment_intent = Set(Some(v.clone()));
    }
    if let Some(v) = &f.refs.subscription {
        m.subscription_ref = Set(Some(v.clone()));
    }
    if let Some(v) = &f.refs.customer {
        m.customer_ref = Set(Some(v.clone()));
    }
    if let Some((start, end)) = f.period {
        m.period_start = Set(Some(start));
        m.period_end = Set(Some(end));
    }
    let updated = orders::Entity::update_many()
        .set(m)
        .filter(orders::Column::Id.eq(id.0))
        .filter(orders::Column::Status.eq(from.as_str()))
        .exec(txn)
        .await
        .map_err(err)?;
    if updated.rows_affected == 0 {
        set_refs_on(txn, id, &f.refs).await?;
        return Ok(false);
    }
    grant_for_order(txn, id.0, grants).await?;
    Ok(true)
}

/// The holder text of the live-plan marker (`user:3`, `organisation:7`).
fn live_key(holder: Holder) -> String {
    let (kind, id) = holder_columns(holder);
    format!("{kind}:{id}")
}

/// Makes plan order `id` its holder's one live subscription. The holder's earlier live order
/// is released first when it is the one `id` replaces or its period has ended at `now`;
/// `false` (nothing changed) when another live subscription remains — the caller refuses the
/// event. The UNIQUE index on `live_plan_of` is the backstop for concurrent writers.
pub(crate) async fn make_live_on<C: ConnectionTrait>(
    c: &C,
    id: PurchaseId,
    now: DateTime<Utc>,
) -> Result<bool, OrderStoreError> {
    let order = load(c, id.0).await?;
    let key = live_key(order.holder);
    let current = orders::Entity::find()
        .filter(orders::Column::LivePlanOf.eq(key.as_str()))
        .one(c)
        .await
        .map_err(err)?;
    if let Some(other) = current {
        if other.id == id.0 {
            return Ok(true);
        }
        let replaced = order.refs.replaces == Some(PurchaseId(other.id));
        let ended = other.period_end.is_none_or(|end| end <= now) || other.status != OrderStatus::Paid.as_str();
        if !(replaced || ended) {
            return Ok(false);
        }
        end_live_on(c, PurchaseId(other.id)).await?;
    }
    orders::Entity::update_many()
        .set(orders::ActiveModel {
            live_plan_of: Set(Some(key)),
            ..Default::default()
        })
        .filter(orders::Column::Id.eq(id.0))
        .exec(c)
        .await
        .map_err(err)?;
    Ok(true)
}

/// Clears plan order `id`'s live marker (its subscription ended or was replaced).
pub(crate) async fn end_live_on<C: ConnectionTrait>(c: &C, id: PurchaseId) -> Result<(), OrderStoreError> {
    orders::Entity::update_many()
        .set(orders::ActiveModel {
            live_plan_of: Set(None),
            ..Default::default()
        })
        .filter(orders::Column::Id.eq(id.0))
        .exec(c)
        .await
        .map(|_| ())
        .map_err(err)
}

/// The holder's live plan order, if any.
pub(crate) async fn live_plan_on<C: ConnectionTrait>(
    c: &C,
    holder: Holder,
) -> Result<Option<LivePlan>, OrderStoreError> {
    let Some(row) = orders::Entity::find()
        .filter(orders::Column::LivePlanOf.eq(live_key(holder)))
        .one(c)
        .await
        .map_err(err)?
    else {
        return Ok(None);
    };
    Ok(Some(LivePlan {
        order: from_row(&row)?,
        cancel_at_period_end: row.cancel_at_period_end,
        scheduled: row.scheduled_sku.as_deref().and_then(|s| s.parse().ok()),
    }))
}

/// Records (or clears) the plan order `id` becomes at its next renewal.
pub(crate) async fn set_scheduled_plan_on<C: ConnectionTrait>(
    c: &C,
    id: PurchaseId,
    sku: Option<&upgrades::Sku>,
) -> Result<(), OrderStoreError> {
    orders::Entity::update_many()
        .set(orders::ActiveModel {
            scheduled_sku: Set(sku.map(|s| s.to_string())),
            ..Default::default()
        })
        .filter(orders::Column::Id.eq(id.0))
        .exec(c)
        .await
        .map(|_| ())
        .map_err(err)
}

/// The plan order `id` becomes at its next renewal, if one is scheduled.
pub(crate) async fn scheduled_plan_on<C: ConnectionTrait>(
    c: &C,
    id: PurchaseId,
) -> Result<Option<upgrades::Sku>, OrderStoreError> {
    Ok(orders::Entity::find_by_id(id.0)
        .one(c)
        .await
        .map_err(err)?
        .and_then(|r| r.scheduled_sku)
        .and_then(|s| s.parse().ok()))
}

/// Records whether plan order `id`'s subscription ends at the end of its period.
pub(crate) async fn set_cancel_at_period_end_on<C: ConnectionTrait>(
    c: &C,
    id: PurchaseId,
    cancel: bool,
) -> Result<(), OrderStoreError> {
    orders::Entity::update_many()
        .set(orders::ActiveModel {
            cancel_at_period_end: Set(cancel),
            ..Default::default()
        })
        .filter(orders::Column::Id.eq(id.0))
        .exec(c)
        .await
        .map(|_| ())
        .map_err(err)
}

/// Pending → cancelled (releasing its credit reservation), only while no payment has started
/// (no payment intent or subscription recorded); `false` otherwise.
pub(crate) async fn cancel_pending_on<C: ConnectionTrait>(c: &C, id: PurchaseId) -> Result<bool, OrderStoreError> {
    let done = orders::Entity::update_many()
        .set(orders::ActiveModel {
            status: Set(OrderStatus::Cancelled.as_str().to_owned()),
            ..Default::default()
        })
        .filter(orders::Column::Id.eq(id.0))
        .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
        .filter(orders::Column::PaymentIntent.is_null())
        .filter(orders::Column::SubscriptionRef.is_null())
        .exec(c)
        .await
        .map_err(err)?;
    Ok(done.rows_affected == 1)
}

/// Records an order's refunded total and status.
pub(crate) async fn set_refund_on<C: ConnectionTrait>(
    c: &C,
    id: PurchaseId,
    refunded: Money,
    status: OrderStatus,
) -> Result<(), OrderStoreError> {
    let updated = orders::Entity::update_many()
        .set(orders::ActiveModel {
            refunded_minor: Set(refunded.minor()),
            status: Set(status.as_str().to_owned()),
            ..Default::default()
        })
        .filter(orders::Column::Id.eq(id.0))
        .exec(c)
        .await
        .map_err(err)?;
    if updated.rows_affected == 1 {
        Ok(())
    } else {
        Err(OrderStoreError(format!("no order {id}")))
    }
}

#[async_trait]
impl OrderRepository for SqlOrderRepository {
    async fn history(&self, holder: Holder) -> Result<(Vec<Order>, Vec<CreditUse>), OrderStoreError> {
        history_on(&self.db, holder).await
    }

    async fn find(&self, id: PurchaseId) -> Result<Option<Order>, OrderStoreError> {
        orders::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(err)?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn record_paid(
        &self,
        order: &NewOrder,
        uses: &[PlannedUse],
        grants: &[NewGrant],
    ) -> Result<(Order, Vec<Entitlement>), RecordOrderError> {
        let txn = self.db.begin().await.map_err(err)?;
        let new_id = insert_order(&txn, order, uses, OrderStatus::Paid).await?;
        let granted = grant_for_order(&txn, new_id, grants).await?;
        let stored = load(&txn, new_id).await?;
        txn.commit().await.map_err(err)?;
        Ok((stored, granted))
    }

    async fn create_pending(&self, order: &NewOrder, uses: &[PlannedUse]) -> Result<Order, RecordOrderError> {
        let txn = self.db.begin().await.map_err(err)?;
        let new_id = insert_order(&txn, order, uses, OrderStatus::Pending).await?;
        let stored = load(&txn, new_id).await?;
        txn.commit().await.map_err(err)?;
        Ok(stored)
    }

    async fn set_refs(&self, id: PurchaseId, refs: &PaymentRefs) -> Result<(), OrderStoreError> {
        set_refs_on(&self.db, id, refs).await
    }

    async fn cancel_pending(&self, id: PurchaseId) -> Result<bool, OrderStoreError> {
        cancel_pending_on(&self.db, id).await
    }

    async fn start_payment(&self, id: PurchaseId, refs: &PaymentRefs) -> Result<bool, OrderStoreError> {
        let done = orders::Entity::update_many()
            .set(orders::ActiveModel {
                payment_intent: Set(refs.payment_intent.clone()),
                subscription_ref: Set(refs.subscription.clone()),
                ..Default::default()
            })
            .filter(orders::Column::Id.eq(id.0))
            .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
            .filter(orders::Column::PaymentIntent.is_null())
            .filter(orders::Column::SubscriptionRef.is_null())
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(done.rows_affected == 1)
    }

    async fn expire_pending(&self, channel: Channel, created_before: DateTime<Utc>) -> Result<u64, OrderStoreError> {
        Ok(orders::Entity::update_many()
            .set(orders::ActiveModel {
                status: Set(OrderStatus::Cancelled.as_str().to_owned()),
                ..Default::default()
            })
            .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
            .filter(orders::Column::Channel.eq(channel.as_str()))
            .filter(orders::Column::CreatedAt.lt(created_before))
            .filter(orders::Column::PaymentIntent.is_null())
            .filter(orders::Column::SubscriptionRef.is_null())
            .exec(&self.db)
            .await
            .map_err(err)?
            .rows_affected)
    }

    async fn find_by_ref(&self, by: &OrderRef) -> Result<Option<Order>, OrderStoreError> {
        find_by_ref_on(&self.db, by).await
    }

    async fn set_cancel_at_period_end(&self, id: PurchaseId, cancel: bool) -> Result<(), OrderStoreError> {
        set_cancel_at_period_end_on(&self.db, id, cancel).await
    }

    async fn set_scheduled_plan(&self, id: PurchaseId, sku: Option<upgrades::Sku>) -> Result<(), OrderStoreError> {
        set_scheduled_plan_on(&self.db, id, sku.as_ref()).await
    }

    async fn live_plan(&self, holder: Holder) -> Result<Option<LivePlan>, OrderStoreError> {
        live_plan_on(&self.db, holder).await
    }

    async fn fulfil(
        &self,
        id: PurchaseId,
        fulfilment: &Fulfilment,
        grants: &[NewGrant],
    ) -> Result<(Order, bool), OrderStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        let out = fulfil_in(&txn, id, fulfilment, grants).await?;
        txn.commit().await.map_err(err)?;
        Ok(out)
    }

    async fn customer(&self, holder: Holder) -> Result<Option<String>, OrderStoreError> {
        let (kind, id) = holder_columns(holder);
        Ok(payment_customers::Entity::find_by_id((kind.to_owned(), id))
            .one(&self.db)
            .await
            .map_err(err)?
            .map(|c| c.customer_id))
    }

    async fn save_customer(&self, holder: Holder, customer: &str) -> Result<String, OrderStoreError> {
        let (kind, id) = holder_columns(holder);
        let insert = payment_customers::Entity::insert(payment_customers::ActiveModel {
            holder_kind: Set(kind.to_owned()),
            holder_id: Set(id),
            customer_id: Set(customer.to_owned()),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                payment_customers::Column::HolderKind,
                payment_customers::Column::HolderId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await;
        if let Err(e) = insert
            && !matches!(e, DbErr::RecordNotInserted)
        {
            return Err(err(e));
        }
        Ok(self.customer(holder).await?.unwrap_or_else(|| customer.to_owned()))
    }

    async fn granted_by(&self, id: PurchaseId) -> Result<Vec<EntitlementId>, OrderStoreError> {
        Ok(order_entitlements::Entity::find()
            .filter(order_entitlements::Column::OrderId.eq(id.0))
            .order_by_asc(order_entitlements::Column::EntitlementId)
            .all(&self.db)
            .await
            .map_err(err)?
            .into_iter()
            .map(|r| EntitlementId(r.entitlement_id))
            .collect())
    }

    async fn record_refund(
        &self,
        id: PurchaseId,
        refunded: Money,
        status: OrderStatus,
        revocations: &[(Entitlement, AuditEntry)],
    ) -> Result<(), OrderStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        set_refund_on(&txn, id, refunded, status).await?;
        for (e, audit) in revocations {
            update_in(&txn, e, audit).await.map_err(err)?;
        }
        txn.commit().await.map_err(|e: DbErr| err(e))
    }
}
