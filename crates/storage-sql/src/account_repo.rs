//! The account ports (`AccountRepository`, `SessionRepository`, `ThrottleRepository`) on
//! sea-orm. Sessions and throttle counters live in the database, so every server instance sees
//! the same ones.

use accounts::Email;
use accounts::ports::{
    Account, AccountId, AccountRepository, AccountStoreError, CreateAccountError, Session, SessionRepository,
    StoredAccount, ThrottleRepository,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, SqlErr};

use crate::entities::{accounts as account_rows, login_failures, sessions};

/// Accounts, sessions and failed sign-ins.
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
        id: AccountId(i64::from(r.id)),
        email: r
            .email
            .parse()
            .map_err(|e| AccountStoreError(format!("stored email cannot be read: {e}")))?,
        created_at: r.created_at,
    })
}

fn account_id(id: AccountId) -> Result<i32, AccountStoreError> {
    i32::try_from(id.0).map_err(|_| AccountStoreError(format!("account id {} out of range", id.0)))
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
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => CreateAccountError::EmailTaken,
            _ => CreateAccountError::Store(err(e)),
        })?;
        Ok(Account {
            id: AccountId(i64::from(inserted.last_insert_id)),
            email: email.clone(),
            created_at: at,
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
        let row = account_rows::Entity::find_by_id(account_id(id)?)
            .one(&self.db)
            .await
            .map_err(err)?;
        row.as_ref().map(account_from).transpose()
    }
}

#[async_trait]
impl SessionRepository for SqlAccountStore {
    async fn create(&self, s: &Session) -> Result<(), AccountStoreError> {
        sessions::Entity::insert(sessions::ActiveModel {
            token_digest: Set(s.token_digest.clone()),
            account_id: Set(account_id(s.account)?),
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
            account: AccountId(i64::from(r.account_id)),
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
}

#[async_trait]
impl ThrottleRepository for SqlAccountStore {
    async fn record_failure(&self, key: &str, at: DateTime<Utc>) -> Result<(), AccountStoreError> {
        let key: String = key.chars().take(300).collect();
        login_failures::Entity::insert(login_failures::ActiveModel {
            key: Set(key.clone()),
            at: Set(at),
            ..Default::default()
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(err)?;
        // Keep the table small: failures older than a day no longer matter to any policy.
        login_failures::Entity::delete_many()
            .filter(login_failures::Column::Key.eq(key))
            .filter(login_failures::Column::At.lt(at - Duration::days(1)))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(err)
    }

    async fn failures_since(&self, key: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, AccountStoreError> {
        let key: String = key.chars().take(300).collect();
        let rows = login_failures::Entity::find()
            .filter(login_failures::Column::Key.eq(key))
            .filter(login_failures::Column::At.gte(since))
            .order_by_asc(login_failures::Column::At)
            .all(&self.db)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(|r| r.at).collect())
    }

    async fn clear(&self, key: &str) -> Result<(), AccountStoreError> {
        let key: String = key.chars().take(300).collect();
        login_failures::Entity::delete_many()
            .filter(login_failures::Column::Key.eq(key))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(err)
    }
}

use crate::entities::api_tokens;
use accounts::ports::{ApiToken, TokenRepository};

fn token_from(r: api_tokens::Model) -> ApiToken {
    ApiToken {
        id: i64::from(r.id),
        account: AccountId(i64::from(r.account_id)),
        name: r.name,
        created_at: r.created_at,
    }
}

#[async_trait]
impl TokenRepository for SqlAccountStore {
    async fn create(
        &self,
        account: AccountId,
        name: &str,
        digest: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiToken, AccountStoreError> {
        let inserted = api_tokens::Entity::insert(api_tokens::ActiveModel {
            account_id: Set(account_id(account)?),
            name: Set(name.to_owned()),
            token_digest: Set(digest.to_owned()),
            created_at: Set(at),
            revoked_at: Set(None),
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .map_err(err)?;
        Ok(ApiToken {
            id: i64::from(inserted.last_insert_id),
            account,
            name: name.to_owned(),
            created_at: at,
        })
    }

    async fn list(&self, account: AccountId) -> Result<Vec<ApiToken>, AccountStoreError> {
        let rows = api_tokens::Entity::find()
            .filter(api_tokens::Column::AccountId.eq(account_id(account)?))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .order_by_asc(api_tokens::Column::Id)
            .all(&self.db)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(token_from).collect())
    }

    async fn revoke(&self, account: AccountId, id: i64, at: DateTime<Utc>) -> Result<bool, AccountStoreError> {
        let Ok(id) = i32::try_from(id) else { return Ok(false) };
        let r = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::value(at))
            .filter(api_tokens::Column::Id.eq(id))
            .filter(api_tokens::Column::AccountId.eq(account_id(account)?))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(r.rows_affected == 1)
    }

    async fn owner(&self, digest: &str) -> Result<Option<AccountId>, AccountStoreError> {
        let row = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenDigest.eq(digest))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .one(&self.db)
            .await
            .map_err(err)?;
        Ok(row.map(|r| AccountId(i64::from(r.account_id))))
    }
}

use crate::entities::{invites, memberships, organisations};
use accounts::ports::{OrgRepository, Organisation};
use accounts::{Membership, OrgId, OrgRole};
use sea_orm::TransactionTrait;

fn org_id(id: OrgId) -> Result<i32, AccountStoreError> {
    i32::try_from(id.0).map_err(|_| AccountStoreError(format!("organisation id {} out of range", id.0)))
}

fn role(s: &str) -> Result<OrgRole, AccountStoreError> {
    OrgRole::parse(s).ok_or_else(|| AccountStoreError(format!("unknown role `{s}`")))
}

#[async_trait]
impl OrgRepository for SqlAccountStore {
    async fn create(&self, name: &str, owner: AccountId, at: DateTime<Utc>) -> Result<Organisation, AccountStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
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
            account_id: Set(account_id(owner)?),
            role: Set(OrgRole::Owner.as_str().to_owned()),
            created_at: Set(at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(err)?;
        txn.commit().await.map_err(err)?;
        Ok(Organisation {
            id: OrgId(i64::from(org.last_insert_id)),
            name: name.to_owned(),
        })
    }

    async fn memberships_of(&self, account: AccountId) -> Result<Vec<(Organisation, OrgRole)>, AccountStoreError> {
        let ms = memberships::Entity::find()
            .filter(memberships::Column::AccountId.eq(account_id(account)?))
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
                        id: OrgId(i64::from(o.id)),
                        name: o.name.clone(),
                    },
                    role(&m.role)?,
                ))
            })
            .collect()
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Membership>, AccountStoreError> {
        let ms = memberships::Entity::find()
            .filter(memberships::Column::OrgId.eq(org_id(org)?))
            .order_by_asc(memberships::Column::AccountId)
            .all(&self.db)
            .await
            .map_err(err)?;
        ms.iter()
            .map(|m| {
                Ok(Membership {
                    org,
                    account: AccountId(i64::from(m.account_id)),
                    role: role(&m.role)?,
                })
            })
            .collect()
    }

    async fn remove(&self, org: OrgId, account: AccountId) -> Result<bool, AccountStoreError> {
        let r = memberships::Entity::delete_many()
            .filter(memberships::Column::OrgId.eq(org_id(org)?))
            .filter(memberships::Column::AccountId.eq(account_id(account)?))
            .exec(&self.db)
            .await
            .map_err(err)?;
        Ok(r.rows_affected == 1)
    }

    async fn create_invite(
        &self,
        digest: &str,
        org: OrgId,
        r: OrgRole,
        by: AccountId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), AccountStoreError> {
        invites::Entity::insert(invites::ActiveModel {
            token_digest: Set(digest.to_owned()),
            org_id: Set(org_id(org)?),
            role: Set(r.as_str().to_owned()),
            created_by: Set(account_id(by)?),
            expires_at: Set(expires_at),
            used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .map(|_| ())
        .map_err(err)
    }

    async fn accept_invite(
        &self,
        digest: &str,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Option<Membership>, AccountStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        // Claim the invite: only one concurrent acceptance can flip used_at.
        let claimed = invites::Entity::update_many()
            .col_expr(invites::Column::UsedAt, Expr::value(now))
            .filter(invites::Column::TokenDigest.eq(digest))
            .filter(invites::Column::UsedAt.is_null())
            .filter(invites::Column::ExpiresAt.gt(now))
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
        let existing = memberships::Entity::find_by_id((invite.org_id, account_id(account)?))
            .one(&txn)
            .await
            .map_err(err)?;
        if existing.is_none() {
            memberships::Entity::insert(memberships::ActiveModel {
                org_id: Set(invite.org_id),
                account_id: Set(account_id(account)?),
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
            org: OrgId(i64::from(invite.org_id)),
            account,
            role: role_now,
        }))
    }
}
