//! The account ports (`AccountRepository`, `SessionRepository`, `ThrottleRepository`,
//! `TokenRepository`, `OrgRepository`) on sea-orm. Sessions, throttling records, tokens and
//! invites live in the database, so every server instance sees the same ones.

use accounts::ports::{
    Account, AccountId, AccountRepository, AccountStoreError, AdminChange, CreateAccountError, OperatorAudit, Session,
    SessionRepository, StoredAccount, ThrottleRepository,
};
use accounts::{Attempt, AttemptTicket, Email, ThrottleCheck, ThrottleDecision, decide_all};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, SqlErr, Statement, TransactionTrait,
};

use crate::entities::{accounts as account_rows, login_failures, operator_audit, sessions};

/// Accounts, sessions and throttling records.
#[derive(Debug, Clone)]
pub struct SqlAccountStore {
    db: DatabaseConnection,
}

impl SqlAccountStore {
    /// Wraps a connection returned by [`crate::connect`].
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn err(e: DbErr) -> AccountStoreError {
    AccountStoreError(e.to_string())
}

fn account_from(r: &account_rows::Model) -> Result<Account, AccountStoreError> {
    Ok(Account {
        id: AccountId(r.id),
        email: r
            .email
            .parse()
            .map_err(|e| AccountStoreError(format!("stored email cannot be read: {e}")))?,
        created_at: r.created_at,
        admin: r.is_admin,
    })
}

/// Throttling keys are stored at most this long (a longer key is cut, never refused).
const MAX_KEY_CHARS: usize = 300;

fn stored_key(key: &str) -> String {
    key.chars().take(MAX_KEY_CHARS).collect()
}

#[async_trait]
impl AccountRepository for SqlAccountStore {
    async fn create(
        &self,
        email: &Email,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Account, CreateAccountError> {
        let inserted = account_rows::Entity::insert(account_rows::ActiveModel {
            email: Set(email.as_str().to_owned()),
            password_hash: Set(password_hash.to_owned()),
            created_at: Set(at),
            is_admin: Set(false),
            admin_since: Set(None),
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => CreateAccountError::EmailTaken,
            _ => CreateAccountError::Store(err(e)),
        })?;
        Ok(Account {
            id: AccountId(inserted.last_insert_id),
            email: email.clone(),
            created_at: at,
            admin: false,
        })
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<StoredAccount>, AccountStoreError> {
        let row = account_rows::Entity::find()
            .filter(account_rows::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(err)?;
        row.map(|r| {
            Ok(StoredAccount {
                account: account_from(&r)?,
                password_hash: r.password_hash,
            })
        })
        .transpose()
    }

    async fn find_by_id(&self, id: AccountId) -> Result<Option<Account>, AccountStoreError> {
        let row = account_rows::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(err)?;
        row.as_ref().map(account_from).transpose()
    }

    async fn set_admin(
        &self,
        email: &Email,
        admin: bool,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<AdminChange, AccountStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        crate::write_first(&txn).await.map_err(err)?;
        let Some(row) = account_rows::Entity::find()
            .filter(account_rows::Column::Email.eq(email.as_str()))
            .one(&txn)
            .await
            .map_err(err)?
        else {
            return Ok(AdminChange::NoSuchAccount);
        };
        if row.is_admin == admin {
            return Ok(AdminChange::Unchanged(account_from(&row)?));
        }
        account_rows::Entity::update_many()
            .col_expr(account_rows::Column::IsAdmin, Expr::value(admin))
            .col_expr(account_rows::Column::AdminSince, Expr::value(admin.then_some(at)))
            .filter(account_rows::Column::Id.eq(row.id))
            .exec(&txn)
            .await
            .map_err(err)?;
        operator_audit::Entity::insert(operator_audit::ActiveModel {
            action: Set(if admin { "admin_grant" } else { "admin_revoke" }.to_owned()),
            subject: Set(email.as_str().to_owned()),
            actor: Set(actor.chars().take(100).collect()),
            at: Set(at),
            ..Default::default()
        })
        .exec_without_returning(&txn)
        .await
        .map_err(err)?;
        txn.commit().await.map_err(err)?;
        Ok(AdminChange::Changed(Account {
            admin,
            ..account_from(&row)?
        }))
    }

    async fn admins(&self) -> Result<Vec<Account>, AccountStoreError> {
        account_rows::Entity::find()
            .filter(account_rows::Column::IsAdmin.eq(true))
            .order_by_asc(account_rows::Column::Email)
            .all(&self.db)
            .await
            .map_err(err)?
            .iter()
            .map(account_from)
            .collect()
    }

    async fn operator_audit(&self) -> Result<Vec<OperatorAudit>, AccountStoreError> {
        Ok(operator_audit::Entity::find()
            .order_by_asc(operator_audit::Column::Id)
            .all(&self.db)
            .await
            .map_err(err)?
            .into_iter()
            .map(|r| OperatorAudit {
                action: r.action,
                subject: r.subject,
                actor: r.actor,
                at: r.at,
            })
            .collect())
    }

    async fn set_password(&self, id: AccountId, password_hash: &str) -> Result<(), AccountStoreError> {
        account_rows::Entity::update_many()
            .col_expr(account_rows::Column::PasswordHash, Expr::value(password_hash))
            .filter(account_rows::Column::Id.eq(id.0))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(err)
    }
}

#[async_trait]
impl SessionRepository for SqlAccountStore {
    async fn create(&self, s: &Session) -> Result<(), AccountStoreError> {
        sessions::Entity::insert(sessions::ActiveModel {
            token_digest: Set(s.token_digest.clone()),
            account_id: Set(s.account.0),
            csrf_token: Set(s.csrf_token.clone()),
            created_at: Set(s.created_at),
            expires_at: Set(s.expires_at),
            revoked_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .map(|_| ())
        .map_err(err)
    }

    async fn find(&self, token_digest: &str, now: DateTime<Utc>) -> Result<Option<Session>, AccountStoreError> {
        let row = sessions::Entity::find_by_id(token_digest.to_owned())
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await
            .map_err(err)?;
        Ok(row.map(|r| Session {
            token_digest: r.token_digest,
            account: AccountId(r.account_id),
            csrf_token: r.csrf_token,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }))
    }

    async fn revoke(&self, token_digest: &str, at: DateTime<Utc>) -> Result<(), AccountStoreError> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(at))
            .filter(sessions::Column::TokenDigest.eq(token_digest))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn revoke_all(
        &self,
        account: AccountId,
        keep: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<u64, AccountStoreError> {
        let mut q = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(at))
            .filter(sessions::Column::AccountId.eq(account.0))
            .filter(sessions::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            q = q.filter(sessions::Column::TokenDigest.ne(keep));
        }
        q.exec(&self.db).await.map(|r| r.rows_affected).map_err(err)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, AccountStoreError> {
        sessions::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(sessions::Column::ExpiresAt.lte(before))
                    .add(sessions::Column::RevokedAt.lte(before)),
            )
            .exec(&self.db)
            .await
            .map(|r| r.rows_affected)
            .map_err(err)
    }
}

/// Postgres: a transaction-scoped advisory lock per throttling key (in key order, so two
/// attempts never wait on each other crosswise).
async fn lock_keys<C: ConnectionTrait>(c: &C, keys: &[String]) -> Result<(), AccountStoreError> {
    if c.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    for key in sorted {
        c.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7260301002))",
            [key.clone().into()],
        ))
        .await
        .map_err(err)?;
    }
    Ok(())
}

#[async_trait]
impl ThrottleRepository for SqlAccountStore {
    async fn begin_attempt(&self, checks: &[ThrottleCheck], now: DateTime<Utc>) -> Result<Attempt, AccountStoreError> {
        let keys: Vec<String> = checks.iter().map(|c| stored_key(&c.key)).collect();
        let txn = self.db.begin().await.map_err(err)?;
        crate::write_first(&txn).await.map_err(err)?;
        // The attempt is written first: on SQLite the first write takes the database's write
        // lock, so everything below runs one attempt at a time; on Postgres the advisory locks
        // serialise attempts on the same keys (uncommitted rows of others are not counted).
        let mut ids = Vec::with_capacity(keys.len());
        for key in &keys {
            let r = login_failures::Entity::insert(login_failures::ActiveModel {
                key: Set(key.clone()),
                at: Set(now),
                ..Default::default()
            })
            .exec(&txn)
            .await
            .map_err(err)?;
            ids.push(r.last_insert_id);
        }
        lock_keys(&txn, &keys).await?;
        let oldest = checks.iter().map(|c| c.policy.window).max().unwrap_or_default();
        let rows = login_failures::Entity::find()
            .filter(login_failures::Column::Key.is_in(keys.clone()))
            .filter(login_failures::Column::At.gt(now - oldest))
            .filter(login_failures::Column::Id.is_not_in(ids.clone()))
            .all(&txn)
            .await
            .map_err(err)?;
        let per_key: Vec<Vec<DateTime<Utc>>> = keys
            .iter()
            .map(|k| rows.iter().filter(|r| &r.key == k).map(|r| r.at).collect())
            .collect();
        match decide_all(checks.iter().zip(per_key.iter().map(Vec::as_slice)), now) {
            ThrottleDecision::Allowed => {
                txn.commit().await.map_err(err)?;
                Ok(Attempt::Allowed(AttemptTicket { ids }))
            }
            ThrottleDecision::WaitUntil(until) => {
                txn.rollback().await.map_err(err)?;
                Ok(Attempt::Throttled { until })
            }
        }
    }

    async fn attempt_succeeded(&self, ticket: &AttemptTicket, forget: &[String]) -> Result<(), AccountStoreError> {
        let forget: Vec<String> = forget.iter().map(|k| stored_key(k)).collect();
        login_failures::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(login_failures::Column::Id.is_in(ticket.ids.clone()))
                    .add(login_failures::Column::Key.is_in(forget)),
            )
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn attempt_abandoned(&self, ticket: &AttemptTicket) -> Result<(), AccountStoreError> {
        login_failures::Entity::delete_many()
            .filter(login_failures::Column::Id.is_in(ticket.ids.clone()))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, AccountStoreError> {
        login_failures::Entity::delete_many()
            .filter(login_failures::Column::At.lt(before))
            .exec(&self.db)
            .await
            .map(|r| r.rows_affected)
            .map_err(err)
    }
}

use crate::entities::api_tokens;
use accounts::TokenScope;
use accounts::ports::{ApiToken, TokenOwner, TokenRepository};

fn token_from(r: api_tokens::Model) -> Result<ApiToken, AccountStoreError> {
    Ok(ApiToken {
        id: r.id,
        account: AccountId(r.account_id),
        name: r.name,
        scope: TokenScope::parse(&r.scope)
            .ok_or_else(|| AccountStoreError(format!("token {} has an unknown scope `{}`", r.id, r.scope)))?,
        created_at: r.created_at,
        expires_at: r.expires_at,
    })
}

fn live_tokens(now: DateTime<Utc>) -> Condition {
    Condition::all().add(api_tokens::Column::RevokedAt.is_null()).add(
        Condition::any()
            .add(api_tokens::Column::ExpiresAt.is_null())
            .add(api_tokens::Column::ExpiresAt.gt(now)),
    )
}

#[async_trait]
impl TokenRepository for SqlAccountStore {
    async fn create(
        &self,
        account: AccountId,
        name: &str,
        scope: TokenScope,
        expires_at: DateTime<Utc>,
        digest: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, AccountStoreError> {
        let inserted = api_tokens::Entity::insert(api_tokens::ActiveModel {
            account_id: Set(account.0),
            name: Set(name.to_owned()),
            token_digest: Set(digest.to_owned()),
            created_at: Set(at),
            revoked_at: Set(None),
            scope: Set(scope.as_str().to_owned()),
            expires_at: Set(Some(expires_at)),
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .map_err(err)?;
        Ok(ApiToken {
            id: inserted.last_insert_id,
            account,
            name: name.to_owned(),
            scope,
            created_at: at,
            expires_at: Some(expires_at),
        })
    }

    async fn list(&self, account: AccountId, now: DateTime<Utc>) -> Result<Vec<ApiToken>, AccountStoreError> {
        api_tokens::Entity::find()
            .filter(api_tokens::Column::AccountId.eq(account.0))
            .filter(live_tokens(now))
            .order_by_asc(api_tokens::Column::Id)
            .all(&self.db)
            .await
            .map_err(err)?
            .into_iter()
            .map(token_from)
            .collect()
    }

    async fn revoke(&self, account: AccountId, id: i64, at: DateTime<Utc>) -> Result<bool, AccountStoreError> {
        let r = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::value(at))
            .filter(api_tokens::Column::Id.eq(id))
            .filter(api_tokens::Column::AccountId.eq(account.0))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(r.rows_affected == 1)
    }

    async fn owner(&self, digest: &str, now: DateTime<Utc>) -> Result<Option<TokenOwner>, AccountStoreError> {
        let row = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenDigest.eq(digest))
            .filter(live_tokens(now))
            .one(&self.db)
            .await
            .map_err(err)?;
        row.map(|r| {
            token_from(r).map(|t| TokenOwner {
                account: t.account,
                scope: t.scope,
            })
        })
        .transpose()
    }
}

use crate::entities::{invites, memberships, organisations};
use accounts::ports::{Invite, MemberInfo, OrgRepository, Organisation};
use accounts::{Membership, OrgId, OrgRole, invite_id};

fn role(s: &str) -> Result<OrgRole, AccountStoreError> {
    OrgRole::parse(s).ok_or_else(|| AccountStoreError(format!("unknown role `{s}`")))
}

fn invite_from(r: &invites::Model) -> Result<Invite, AccountStoreError> {
    Ok(Invite {
        id: invite_id(&r.token_digest),
        org: OrgId(r.org_id),
        role: role(&r.role)?,
        created_by: AccountId(r.created_by),
        created_at: r.created_at,
        expires_at: r.expires_at,
    })
}

fn live_invites(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(invites::Column::UsedAt.is_null())
        .add(invites::Column::RevokedAt.is_null())
        .add(invites::Column::ExpiresAt.gt(now))
}

/// The digest prefix an invite id stands for (`None`: not an invite id).
fn digest_prefix(id: &str) -> Option<String> {
    let hex = id.strip_prefix("inv_")?;
    (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())).then(|| hex.to_owned())
}

#[async_trait]
impl OrgRepository for SqlAccountStore {
    async fn create(&self, name: &str, owner: AccountId, at: DateTime<Utc>) -> Result<Organisation, AccountStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        crate::write_first(&txn).await.map_err(err)?;
        let org = organisations::Entity::insert(organisations::ActiveModel {
            name: Set(name.to_owned()),
            created_at: Set(at),
            ..Default::default()
        })
        .exec(&txn)
        .await
        .map_err(err)?;
        memberships::Entity::insert(memberships::ActiveModel {
            org_id: Set(org.last_insert_id),
            account_id: Set(owner.0),
            role: Set(OrgRole::Owner.as_str().to_owned()),
            created_at: Set(at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(err)?;
        txn.commit().await.map_err(err)?;
        Ok(Organisation {
            id: OrgId(org.last_insert_id),
            name: name.to_owned(),
        })
    }

    async fn memberships_of(&self, account: AccountId) -> Result<Vec<(Organisation, OrgRole)>, AccountStoreError> {
        let ms = memberships::Entity::find()
            .filter(memberships::Column::AccountId.eq(account.0))
            .order_by_asc(memberships::Column::OrgId)
            .all(&self.db)
            .await
            .map_err(err)?;
        if ms.is_empty() {
            return Ok(Vec::new());
        }
        let orgs = organisations::Entity::find()
            .filter(organisations::Column::Id.is_in(ms.iter().map(|m| m.org_id)))
            .all(&self.db)
            .await
            .map_err(err)?;
        ms.iter()
            .filter_map(|m| orgs.iter().find(|o| o.id == m.org_id).map(|o| (o, m)))
            .map(|(o, m)| {
                Ok((
                    Organisation {
                        id: OrgId(o.id),
                        name: o.name.clone(),
                    },
                    role(&m.role)?,
                ))
            })
            .collect()
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Membership>, AccountStoreError> {
        let ms = memberships::Entity::find()
            .filter(memberships::Column::OrgId.eq(org.0))
            .order_by_asc(memberships::Column::AccountId)
            .all(&self.db)
            .await
            .map_err(err)?;
        ms.iter()
            .map(|m| {
                Ok(Membership {
                    org,
                    account: AccountId(m.account_id),
                    role: role(&m.role)?,
                })
            })
            .collect()
    }

    async fn member_list(&self, org: OrgId) -> Result<Vec<MemberInfo>, AccountStoreError> {
        let ms = memberships::Entity::find()
            .filter(memberships::Column::OrgId.eq(org.0))
            .all(&self.db)
            .await
            .map_err(err)?;
        if ms.is_empty() {
            return Ok(Vec::new());
        }
        let people = account_rows::Entity::find()
            .filter(account_rows::Column::Id.is_in(ms.iter().map(|m| m.account_id)))
            .all(&self.db)
            .await
            .map_err(err)?;
        let mut list = ms
            .iter()
            .filter_map(|m| people.iter().find(|a| a.id == m.account_id).map(|a| (m, a)))
            .map(|(m, a)| {
                Ok(MemberInfo {
                    account: AccountId(m.account_id),
                    email: account_from(a)?.email,
                    role: role(&m.role)?,
                    joined_at: m.created_at,
                })
            })
            .collect::<Result<Vec<_>, AccountStoreError>>()?;
        list.sort_by(|a, b| (a.role, &a.email).cmp(&(b.role, &b.email)));
        Ok(list)
    }

    async fn remove(&self, org: OrgId, account: AccountId, at: DateTime<Utc>) -> Result<bool, AccountStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        crate::write_first(&txn).await.map_err(err)?;
        let r = memberships::Entity::delete_many()
            .filter(memberships::Column::OrgId.eq(org.0))
            .filter(memberships::Column::AccountId.eq(account.0))
            .exec(&txn)
            .await
            .map_err(err)?;
        // A bearer invite must not outlive its creator's membership.
        invites::Entity::update_many()
            .col_expr(invites::Column::RevokedAt, Expr::value(at))
            .filter(invites::Column::OrgId.eq(org.0))
            .filter(invites::Column::CreatedBy.eq(account.0))
            .filter(invites::Column::UsedAt.is_null())
            .filter(invites::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(err)?;
        txn.commit().await.map_err(err)?;
        Ok(r.rows_affected == 1)
    }

    async fn create_invite(
        &self,
        digest: &str,
        org: OrgId,
        r: OrgRole,
        by: AccountId,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        mail: Option<mail::Notice>,
    ) -> Result<Invite, AccountStoreError> {
        let row = invites::Model {
            token_digest: digest.to_owned(),
            org_id: org.0,
            role: r.as_str().to_owned(),
            created_by: by.0,
            expires_at,
            used_at: None,
            created_at: Some(at),
            revoked_at: None,
        };
        let txn = self.db.begin().await.map_err(err)?;
        crate::write_first(&txn).await.map_err(err)?;
        invites::Entity::insert(invites::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await
            .map_err(err)?;
        if let Some(notice) = &mail {
            crate::mail_outbox::insert_notice(&txn, notice, at).await.map_err(err)?;
        }
        txn.commit().await.map_err(err)?;
        invite_from(&row)
    }

    async fn invites(&self, org: OrgId, now: DateTime<Utc>) -> Result<Vec<Invite>, AccountStoreError> {
        invites::Entity::find()
            .filter(invites::Column::OrgId.eq(org.0))
            .filter(live_invites(now))
            .order_by_asc(invites::Column::ExpiresAt)
            .all(&self.db)
            .await
            .map_err(err)?
            .iter()
            .map(invite_from)
            .collect()
    }

    async fn find_invite(&self, digest: &str, now: DateTime<Utc>) -> Result<Option<Invite>, AccountStoreError> {
        invites::Entity::find_by_id(digest.to_owned())
            .filter(live_invites(now))
            .one(&self.db)
            .await
            .map_err(err)?
            .as_ref()
            .map(invite_from)
            .transpose()
    }

    async fn revoke_invite(&self, org: OrgId, id: &str, at: DateTime<Utc>) -> Result<bool, AccountStoreError> {
        let Some(prefix) = digest_prefix(id) else {
            return Ok(false);
        };
        let r = invites::Entity::update_many()
            .col_expr(invites::Column::RevokedAt, Expr::value(at))
            .filter(invites::Column::OrgId.eq(org.0))
            .filter(invites::Column::TokenDigest.starts_with(prefix))
            .filter(live_invites(at))
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(r.rows_affected >= 1)
    }

    async fn accept_invite(
        &self,
        digest: &str,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Option<Membership>, AccountStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        crate::write_first(&txn).await.map_err(err)?;
        // Claim the invite: only one concurrent acceptance can flip used_at, and only while it
        // is live and its creator is still a member (a removal revokes it in the same
        // transaction as the removal, so the two never interleave badly).
        let creator_is_member = Expr::exists(
            sea_orm::sea_query::Query::select()
                .expr(Expr::val(1))
                .from(memberships::Entity)
                .and_where(
                    Expr::col((memberships::Entity, memberships::Column::OrgId))
                        .equals((invites::Entity, invites::Column::OrgId)),
                )
                .and_where(
                    Expr::col((memberships::Entity, memberships::Column::AccountId))
                        .equals((invites::Entity, invites::Column::CreatedBy)),
                )
                .to_owned(),
        );
        let claimed = invites::Entity::update_many()
            .col_expr(invites::Column::UsedAt, Expr::value(now))
            .filter(invites::Column::TokenDigest.eq(digest))
            .filter(live_invites(now))
            .filter(creator_is_member)
            .exec(&txn)
            .await
            .map_err(err)?;
        if claimed.rows_affected != 1 {
            return Ok(None);
        }
        let invite = invites::Entity::find_by_id(digest.to_owned())
            .one(&txn)
            .await
            .map_err(err)?
            .ok_or_else(|| AccountStoreError("invite vanished".into()))?;
        let r = role(&invite.role)?;
        let existing = memberships::Entity::find_by_id((invite.org_id, account.0))
            .one(&txn)
            .await
            .map_err(err)?;
        if existing.is_none() {
            memberships::Entity::insert(memberships::ActiveModel {
                org_id: Set(invite.org_id),
                account_id: Set(account.0),
                role: Set(r.as_str().to_owned()),
                created_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(err)?;
        }
        txn.commit().await.map_err(err)?;
        let role_now = existing.map_or(Ok(r), |m| role(&m.role))?;
        Ok(Some(Membership {
            org: OrgId(invite.org_id),
            account,
            role: role_now,
        }))
    }
}
