//! What an operator watches (the metrics endpoint): inbox and outbox rows by state, the age of
//! the oldest pending event, the connection pool. Read-only, a few indexed queries per scrape.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entities::{mail_outbox, webhook_inbox};

/// Rows by state, and the oldest event still waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpsSnapshot {
    /// Webhook inbox rows by status (`pending`, `done`, `dead`, `ignored`).
    pub inbox: Vec<(String, i64)>,
    /// When the oldest `pending` event was received.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// Outgoing mail by state (`pending`, `sent`, `dead`).
    pub outbox: Vec<(String, i64)>,
}

/// Counts the inbox and the outbox.
///
/// # Errors
/// The database's error.
pub async fn snapshot(db: &DatabaseConnection) -> Result<OpsSnapshot, DbErr> {
    let inbox = webhook_inbox::Entity::find()
        .select_only()
        .column(webhook_inbox::Column::Status)
        .column_as(webhook_inbox::Column::EventId.count(), "n")
        .group_by(webhook_inbox::Column::Status)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?;
    let oldest_pending = webhook_inbox::Entity::find()
        .filter(webhook_inbox::Column::Status.eq(crate::payments::status::PENDING))
        .order_by_asc(webhook_inbox::Column::ReceivedAt)
        .one(db)
        .await?
        .map(|row| row.received_at);
    let outbox = mail_outbox::Entity::find()
        .select_only()
        .column(mail_outbox::Column::State)
        .column_as(mail_outbox::Column::Id.count(), "n")
        .group_by(mail_outbox::Column::State)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?;
    Ok(OpsSnapshot {
        inbox,
        oldest_pending,
        outbox,
    })
}

/// The connection pool right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (in use or idle).
    pub open: u32,
    /// Open connections nobody holds.
    pub idle: u32,
    /// The pool's limit (`database.max_connections`).
    pub max: u32,
}

/// How full the pool is.
#[must_use]
pub fn pool_stats(db: &DatabaseConnection) -> PoolStats {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            PoolStats {
                open: p.size(),
                idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
                max: p.options().get_max_connections(),
            }
        }
        DatabaseBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            PoolStats {
                open: p.size(),
                idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
                max: p.options().get_max_connections(),
            }
        }
        _ => PoolStats::default(),
    }
}
