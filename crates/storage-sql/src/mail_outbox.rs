//! The mail outbox ([`mail::ports::Outbox`]), password resets
//! ([`accounts::ports::PasswordResetRepository`]) and email confirmation
//! ([`accounts::ports::EmailVerificationRepository`]).
//!
//! Notices are inserted with `ON CONFLICT (dedupe_key) DO NOTHING` — by [`insert_notice`] on
//! any connection or transaction, so a fact and its notice commit together. Workers claim due
//! rows in a short transaction (Postgres: `FOR UPDATE SKIP LOCKED`; SQLite serialises writers)
//! that sets a lease, then send outside any transaction; only the lease holder records the
//! outcome.

use accounts::ports::{AccountId, AccountStoreError, EmailVerificationRepository, PasswordResetRepository};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use mail::Notice;
use mail::ports::{Outbox, OutboxCounts, OutboxError, Queued};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::entities::{
    account_confirmation as confirmation, accounts as account_rows, email_verifications as verifications,
    mail_outbox as outbox, password_resets as resets, sessions,
};

const PENDING: &str = "pending";
const SENT: &str = "sent";
const DEAD: &str = "dead";

fn err(e: DbErr) -> OutboxError {
    OutboxError(e.to_string())
}

/// Queues `notice` on `conn` (a connection or a transaction); `false` when its dedupe key was
/// already queued.
///
/// # Errors
/// The database error.
pub async fn insert_notice<C: ConnectionTrait>(conn: &C, notice: &Notice, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let res = outbox::Entity::insert(outbox::ActiveModel {
        kind: Set(notice.kind.as_str().to_owned()),
        account_id: Set(notice.account),
        to_addr: Set(notice.to.clone()),
        order_id: Set(notice.order),
        detail: Set(notice.detail.chars().take(255).collect()),
        secret: Set(notice.secret.clone()),
        dedupe_key: Set(notice.dedupe.chars().take(255).collect()),
        state: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_by: Set(None),
        claimed_until: Set(None),
        last_error: Set(None),
        subject: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    })
    .on_conflict(OnConflict::column(outbox::Column::DedupeKey).do_nothing().to_owned())
    .exec_without_returning(conn)
    .await;
    match res {
        Ok(n) => Ok(n > 0),
        Err(DbErr::RecordNotInserted) => Ok(false),
        Err(e) => Err(e),
    }
}

fn notice_of(row: &outbox::Model) -> Result<Notice, OutboxError> {
    Ok(Notice {
        kind: row
            .kind
            .parse()
            .map_err(|e: mail::UnknownKind| OutboxError(format!("outbox row {}: {e}", row.id)))?,
        account: row.account_id,
        to: row.to_addr.clone(),
        order: row.order_id,
        detail: row.detail.clone(),
        secret: row.secret.clone(),
        dedupe: row.dedupe_key.clone(),
    })
}

/// The outbox on the shop's database.
#[derive(Debug, Clone)]
pub struct SqlOutbox {
    db: DatabaseConnection,
}

impl SqlOutbox {
    /// The outbox on `db`.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Outbox for SqlOutbox {
    async fn enqueue(&self, notice: &Notice, now: DateTime<Utc>) -> Result<bool, OutboxError> {
        insert_notice(&self.db, notice, now).await.map_err(err)
    }

    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Queued>, OutboxError> {
        let free = sea_orm::Condition::any()
            .add(outbox::Column::ClaimedUntil.is_null())
            .add(outbox::Column::ClaimedUntil.lt(now));
        // Nothing due (the usual case): answer from a plain read, without taking a write lock.
        let due = outbox::Entity::find()
            .filter(outbox::Column::State.eq(PENDING))
            .filter(outbox::Column::NextAttemptAt.lte(now))
            .filter(free.clone())
            .count(&self.db)
            .await
            .map_err(err)?;
        if due == 0 {
            return Ok(Vec::new());
        }
        let txn = self.db.begin().await.map_err(err)?;
        let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
        let mut q = outbox::Entity::find()
            .filter(outbox::Column::State.eq(PENDING))
            .filter(outbox::Column::NextAttemptAt.lte(now))
            .filter(free.clone())
            .order_by_asc(outbox::Column::Id)
            .limit(max.max(1) as u64);
        if postgres {
            q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        } else {
            // SQLite: two claimers run one after the other.
            crate::write_first(&txn).await.map_err(err)?;
        }
        let rows = q.all(&txn).await.map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            // Only a row still free is taken (the filter repeats the claim's condition).
            let taken = outbox::Entity::update_many()
                .col_expr(outbox::Column::ClaimedBy, Expr::value(worker.to_owned()))
                .col_expr(outbox::Column::ClaimedUntil, Expr::value(now + lease))
                .filter(outbox::Column::Id.eq(row.id))
                .filter(outbox::Column::State.eq(PENDING))
                .filter(free.clone())
                .exec(&txn)
                .await
                .map_err(err)?;
            if taken.rows_affected == 1 {
                out.push(Queued {
                    id: row.id,
                    notice: notice_of(&row)?,
                    attempts: row.attempts,
                });
            }
        }
        txn.commit().await.map_err(err)?;
        Ok(out)
    }

    async fn sent(&self, id: i64, worker: &str, subject: &str, now: DateTime<Utc>) -> Result<(), OutboxError> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::State, Expr::value(SENT))
            .col_expr(
                outbox::Column::Subject,
                Expr::value(subject.chars().take(255).collect::<String>()),
            )
            .col_expr(outbox::Column::SentAt, Expr::value(now))
            .col_expr(outbox::Column::Secret, Expr::value(Option::<String>::None))
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::ClaimedBy.eq(worker))
            .filter(outbox::Column::State.eq(PENDING))
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        let mut q = outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(error.chars().take(2_000).collect::<String>()),
            )
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None));
        q = match retry_at {
            Some(at) => q.col_expr(outbox::Column::NextAttemptAt, Expr::value(at)),
            None => q
                .col_expr(outbox::Column::State, Expr::value(DEAD))
                .col_expr(outbox::Column::Secret, Expr::value(Option::<String>::None))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(now)),
        };
        q.filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::ClaimedBy.eq(worker))
            .filter(outbox::Column::State.eq(PENDING))
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn counts(&self) -> Result<OutboxCounts, OutboxError> {
        let count = |state: &'static str| {
            outbox::Entity::find()
                .filter(outbox::Column::State.eq(state))
                .count(&self.db)
        };
        Ok(OutboxCounts {
            pending: count(PENDING).await.map_err(err)?,
            sent: count(SENT).await.map_err(err)?,
            dead: count(DEAD).await.map_err(err)?,
        })
    }
}

fn store(e: DbErr) -> AccountStoreError {
    AccountStoreError(e.to_string())
}

/// Password resets on the shop's database.
#[derive(Debug, Clone)]
pub struct SqlPasswordResets {
    db: DatabaseConnection,
}

impl SqlPasswordResets {
    /// Password resets on `db`.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl PasswordResetRepository for SqlPasswordResets {
    async fn begin(
        &self,
        email: &str,
        digest: &str,
        expires_at: DateTime<Utc>,
        notice: &Notice,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountId>, AccountStoreError> {
        let txn = self.db.begin().await.map_err(store)?;
        crate::write_first(&txn).await.map_err(store)?;
        let Some(account) = account_rows::Entity::find()
            .filter(account_rows::Column::Email.eq(email))
            .one(&txn)
            .await
            .map_err(store)?
        else {
            txn.rollback().await.map_err(store)?;
            return Ok(None);
        };
        // One link a minute per account: a flood of requests does not flood the inbox.
        let recent = resets::Entity::find()
            .filter(resets::Column::AccountId.eq(account.id))
            .filter(resets::Column::CreatedAt.gt(now - Duration::seconds(60)))
            .count(&txn)
            .await
            .map_err(store)?;
        if recent > 0 {
            txn.rollback().await.map_err(store)?;
            return Ok(None);
        }
        resets::Entity::insert(resets::ActiveModel {
            digest: Set(digest.to_owned()),
            account_id: Set(account.id),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(store)?;
        let mut notice = notice.clone();
        notice.account = Some(account.id);
        insert_notice(&txn, &notice, now).await.map_err(store)?;
        txn.commit().await.map_err(store)?;
        Ok(Some(AccountId(account.id)))
    }

    async fn usable(&self, digest: &str, now: DateTime<Utc>) -> Result<bool, AccountStoreError> {
        Ok(resets::Entity::find()
            .filter(resets::Column::Digest.eq(digest))
            .filter(resets::Column::UsedAt.is_null())
            .filter(resets::Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await
            .map_err(store)?
            > 0)
    }

    async fn finish(
        &self,
        digest: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountId>, AccountStoreError> {
        let txn = self.db.begin().await.map_err(store)?;
        crate::write_first(&txn).await.map_err(store)?;
        let Some(row) = resets::Entity::find_by_id(digest.to_owned())
            .one(&txn)
            .await
            .map_err(store)?
        else {
            txn.rollback().await.map_err(store)?;
            return Ok(None);
        };
        // Single use, even when two requests race: only the one that marks it used goes on.
        let used = resets::Entity::update_many()
            .col_expr(resets::Column::UsedAt, Expr::value(now))
            .filter(resets::Column::Digest.eq(digest))
            .filter(resets::Column::UsedAt.is_null())
            .filter(resets::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await
            .map_err(store)?;
        if used.rows_affected != 1 {
            txn.rollback().await.map_err(store)?;
            return Ok(None);
        }
        account_rows::Entity::update_many()
            .col_expr(
                account_rows::Column::PasswordHash,
                Expr::value(password_hash.to_owned()),
            )
            .filter(account_rows::Column::Id.eq(row.account_id))
            .exec(&txn)
            .await
            .map_err(store)?;
        // Every session ends: whoever knew the old password is out.
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::AccountId.eq(row.account_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store)?;
        // Other links of the account die too.
        resets::Entity::update_many()
            .col_expr(resets::Column::UsedAt, Expr::value(now))
            .filter(resets::Column::AccountId.eq(row.account_id))
            .filter(resets::Column::UsedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store)?;
        txn.commit().await.map_err(store)?;
        Ok(Some(AccountId(row.account_id)))
    }
}

/// Email confirmation on the shop's database.
#[derive(Debug, Clone)]
pub struct SqlEmailVerifications {
    db: DatabaseConnection,
}

impl SqlEmailVerifications {
    /// Email confirmation on `db`.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

async fn confirmed_on<C: ConnectionTrait>(conn: &C, account: i64) -> Result<bool, DbErr> {
    Ok(confirmation::Entity::find()
        .filter(confirmation::Column::Id.eq(account))
        .filter(confirmation::Column::EmailVerifiedAt.is_not_null())
        .count(conn)
        .await?
        > 0)
}

#[async_trait]
impl EmailVerificationRepository for SqlEmailVerifications {
    async fn begin(
        &self,
        account: AccountId,
        digest: &str,
        expires_at: DateTime<Utc>,
        notice: &Notice,
        now: DateTime<Utc>,
    ) -> Result<bool, AccountStoreError> {
        let txn = self.db.begin().await.map_err(store)?;
        crate::write_first(&txn).await.map_err(store)?;
        let exists = account_rows::Entity::find_by_id(account.0)
            .count(&txn)
            .await
            .map_err(store)?
            > 0;
        let recent = verifications::Entity::find()
            .filter(verifications::Column::AccountId.eq(account.0))
            .filter(verifications::Column::CreatedAt.gt(now - Duration::seconds(60)))
            .count(&txn)
            .await
            .map_err(store)?;
        if !exists || recent > 0 || confirmed_on(&txn, account.0).await.map_err(store)? {
            txn.rollback().await.map_err(store)?;
            return Ok(false);
        }
        verifications::Entity::insert(verifications::ActiveModel {
            digest: Set(digest.to_owned()),
            account_id: Set(account.0),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(store)?;
        insert_notice(&txn, notice, now).await.map_err(store)?;
        txn.commit().await.map_err(store)?;
        Ok(true)
    }

    async fn confirm(&self, digest: &str, now: DateTime<Utc>) -> Result<Option<AccountId>, AccountStoreError> {
        let txn = self.db.begin().await.map_err(store)?;
        crate::write_first(&txn).await.map_err(store)?;
        let Some(row) = verifications::Entity::find_by_id(digest.to_owned())
            .one(&txn)
            .await
            .map_err(store)?
        else {
            txn.rollback().await.map_err(store)?;
            return Ok(None);
        };
        let used = verifications::Entity::update_many()
            .col_expr(verifications::Column::UsedAt, Expr::value(now))
            .filter(verifications::Column::Digest.eq(digest))
            .filter(verifications::Column::UsedAt.is_null())
            .filter(verifications::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await
            .map_err(store)?;
        if used.rows_affected != 1 {
            txn.rollback().await.map_err(store)?;
            return Ok(None);
        }
        confirmation::Entity::update_many()
            .col_expr(confirmation::Column::EmailVerifiedAt, Expr::value(now))
            .filter(confirmation::Column::Id.eq(row.account_id))
            .filter(confirmation::Column::EmailVerifiedAt.is_null())
            .exec(&txn)
            .await
            .map_err(store)?;
        txn.commit().await.map_err(store)?;
        Ok(Some(AccountId(row.account_id)))
    }

    async fn is_confirmed(&self, account: AccountId) -> Result<bool, AccountStoreError> {
        confirmed_on(&self.db, account.0).await.map_err(store)
    }

    async fn mark_confirmed(&self, account: AccountId, now: DateTime<Utc>) -> Result<bool, AccountStoreError> {
        let r = confirmation::Entity::update_many()
            .col_expr(confirmation::Column::EmailVerifiedAt, Expr::value(now))
            .filter(confirmation::Column::Id.eq(account.0))
            .filter(confirmation::Column::EmailVerifiedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(store)?;
        Ok(r.rows_affected == 1)
    }
}
