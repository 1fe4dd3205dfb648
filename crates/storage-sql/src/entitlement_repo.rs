//! [`EntitlementRepository`] on sea-orm.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entitlements::ports::{Credential, EntitlementRepository, EntitlementStoreError, NewGrant};
use entitlements::{
    AuditAction, AuditEntry, Entitlement, EntitlementId, Holder, OrgId, Principal, Source, Term, UserId,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, Statement, TransactionTrait,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::entities::{entitlement_audit, entitlements as rows};

/// The `entitlements` and `entitlement_audit` tables.
#[derive(Debug, Clone)]
pub struct SqlEntitlementRepository {
    db: DatabaseConnection,
}

impl SqlEntitlementRepository {
    /// Wraps a connection returned by [`crate::connect`].
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// Who owns a live session: `(owner)` rows filtered by `?` digest and `?` now.
const SESSION_OWNER: &str =
    "SELECT account_id AS owner FROM sessions WHERE token_digest = ? AND revoked_at IS NULL AND expires_at > ?";
/// Who owns a live (not revoked, not expired) API token.
const TOKEN_OWNER: &str = "SELECT account_id AS owner FROM api_tokens WHERE token_digest = ? AND revoked_at IS NULL \
     AND (expires_at IS NULL OR expires_at > ?)";
/// Who owns a live API token whose scope allows downloads.
const DOWNLOAD_TOKEN_OWNER: &str = "SELECT account_id AS owner FROM api_tokens WHERE token_digest = ? \
     AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND scope IN ('download', 'admin')";

const ENTITLEMENT_COLUMNS: &str = "e.id, e.holder_kind, e.holder_id, e.scope, e.source, e.term, e.status, \
     e.period_end, e.granted_at, e.updated_at";

/// One statement: the credential's owner joined to their own entitlements (a `LEFT JOIN`, so
/// an owner without any still yields one row) and, through current memberships, to their
/// organisations' entitlements. Both halves read by index; no `OR` across holders.
fn credential_sql(owner: &str, backend: sea_orm::DatabaseBackend) -> String {
    let sql = format!(
        "SELECT c.owner, {ENTITLEMENT_COLUMNS} FROM ({owner}) c \
         LEFT JOIN entitlements e ON e.holder_kind = 'user' AND e.holder_id = c.owner \
         UNION ALL \
         SELECT c.owner, {ENTITLEMENT_COLUMNS} FROM ({owner}) c \
         JOIN memberships m ON m.account_id = c.owner \
         JOIN entitlements e ON e.holder_kind = 'organisation' AND e.holder_id = m.org_id"
    );
    if backend == sea_orm::DatabaseBackend::Postgres {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        out
    } else {
        sql
    }
}

fn err(e: DbErr) -> EntitlementStoreError {
    EntitlementStoreError(e.to_string())
}

fn json<T: Serialize>(v: &T) -> Result<String, EntitlementStoreError> {
    serde_json::to_string(v).map_err(|e| EntitlementStoreError(e.to_string()))
}

fn parse<T: DeserializeOwned>(what: &str, s: &str) -> Result<T, EntitlementStoreError> {
    serde_json::from_str(s).map_err(|e| EntitlementStoreError(format!("stored {what} cannot be read: {e}")))
}

pub(crate) fn holder_columns(h: Holder) -> (&'static str, i64) {
    match h {
        Holder::User(UserId(id)) => ("user", id),
        Holder::Organisation(OrgId(id)) => ("organisation", id),
    }
}

pub(crate) fn holder_from(kind: &str, id: i64) -> Result<Holder, EntitlementStoreError> {
    match kind {
        "user" => Ok(Holder::User(UserId(id))),
        "organisation" => Ok(Holder::Organisation(OrgId(id))),
        other => Err(EntitlementStoreError(format!("unknown holder kind `{other}`"))),
    }
}

fn source_str(s: Source) -> Result<String, EntitlementStoreError> {
    Ok(json(&s)?.trim_matches('"').to_owned())
}

pub(crate) fn from_row(r: &rows::Model) -> Result<Entitlement, EntitlementStoreError> {
    Ok(Entitlement {
        id: EntitlementId(r.id),
        holder: holder_from(&r.holder_kind, r.holder_id)?,
        scope: parse("scope", &r.scope)?,
        source: parse("source", &format!("\"{}\"", r.source))?,
        term: parse("term", &r.term)?,
        status: parse("status", &r.status)?,
        granted_at: r.granted_at,
        updated_at: r.updated_at,
    })
}

fn period_end(term: Term) -> Option<chrono::DateTime<chrono::Utc>> {
    match term {
        Term::Perpetual => None,
        Term::TimeBound { period_end } => Some(period_end),
    }
}

fn audit_row(a: &AuditEntry) -> Result<entitlement_audit::ActiveModel, EntitlementStoreError> {
    let (kind, id) = holder_columns(a.holder);
    Ok(entitlement_audit::ActiveModel {
        entitlement_id: Set(a.entitlement.0),
        holder_kind: Set(kind.to_owned()),
        holder_id: Set(id),
        action: Set(json(&a.action)?),
        actor: Set(json(&a.actor)?),
        cause: Set(a.cause.clone()),
        at: Set(a.at),
        ..Default::default()
    })
}

fn holder_condition(h: Holder) -> Condition {
    let (kind, id) = holder_columns(h);
    Condition::all()
        .add(rows::Column::HolderKind.eq(kind))
        .add(rows::Column::HolderId.eq(id))
}

/// Inserts a grant and its audit line on `c` (part of the caller's transaction).
pub(crate) async fn grant_in<C: ConnectionTrait>(c: &C, g: &NewGrant) -> Result<Entitlement, EntitlementStoreError> {
    let (kind, id) = holder_columns(g.holder);
    let status = entitlements::Status::Active;
    let inserted = rows::Entity::insert(rows::ActiveModel {
        holder_kind: Set(kind.to_owned()),
        holder_id: Set(id),
        scope: Set(json(&g.scope)?),
        source: Set(source_str(g.source)?),
        term: Set(json(&g.term)?),
        status: Set(json(&status)?),
        period_end: Set(period_end(g.term)),
        granted_at: Set(g.at),
        updated_at: Set(g.at),
        ..Default::default()
    })
    .exec(c)
    .await
    .map_err(err)?;
    let entitlement = Entitlement {
        id: EntitlementId(inserted.last_insert_id),
        holder: g.holder,
        scope: g.scope.clone(),
        source: g.source,
        term: g.term,
        status,
        granted_at: g.at,
        updated_at: g.at,
    };
    let audit = AuditEntry {
        entitlement: entitlement.id,
        holder: g.holder,
        action: AuditAction::Grant,
        actor: g.actor.clone(),
        cause: g.cause.clone(),
        at: g.at,
    };
    entitlement_audit::Entity::insert(audit_row(&audit)?)
        .exec_without_returning(c)
        .await
        .map_err(err)?;
    Ok(entitlement)
}

/// Saves an entitlement's new state and its audit line on `c`.
pub(crate) async fn update_in<C: ConnectionTrait>(
    c: &C,
    e: &Entitlement,
    audit: &AuditEntry,
) -> Result<(), EntitlementStoreError> {
    let id = e.id.0;
    let updated = rows::Entity::update_many()
        .set(rows::ActiveModel {
            term: Set(json(&e.term)?),
            status: Set(json(&e.status)?),
            period_end: Set(period_end(e.term)),
            updated_at: Set(e.updated_at),
            ..Default::default()
        })
        .filter(rows::Column::Id.eq(id))
        .exec(c)
        .await
        .map_err(err)?;
    if updated.rows_affected != 1 {
        return Err(EntitlementStoreError(format!("no entitlement {}", e.id.0)));
    }
    entitlement_audit::Entity::insert(audit_row(audit)?)
        .exec_without_returning(c)
        .await
        .map_err(err)?;
    Ok(())
}

#[async_trait]
impl EntitlementRepository for SqlEntitlementRepository {
    async fn for_principal(&self, principal: &Principal) -> Result<Vec<Entitlement>, EntitlementStoreError> {
        let mut any = Condition::any().add(holder_condition(Holder::User(principal.user)));
        if !principal.organisations.is_empty() {
            any = any.add(
                Condition::all()
                    .add(rows::Column::HolderKind.eq("organisation"))
                    .add(rows::Column::HolderId.is_in(principal.organisations.iter().map(|o| o.0))),
            );
        }
        let found = rows::Entity::find()
            .filter(any)
            .order_by_asc(rows::Column::Id)
            .all(&self.db)
            .await
            .map_err(err)?;
        found.iter().map(from_row).collect()
    }

    async fn for_credential<'a>(
        &self,
        credential: Credential<'a>,
        now: DateTime<Utc>,
    ) -> Result<Option<(Principal, Vec<Entitlement>)>, EntitlementStoreError> {
        let backend = self.db.get_database_backend();
        let (sql, digest) = match credential {
            Credential::Session(d) => (credential_sql(SESSION_OWNER, backend), d),
            Credential::Token(d) => (credential_sql(TOKEN_OWNER, backend), d),
            Credential::DownloadToken(d) => (credential_sql(DOWNLOAD_TOKEN_OWNER, backend), d),
        };
        let values: Vec<sea_orm::Value> = vec![digest.into(), now.into(), digest.into(), now.into()];
        let found = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(err)?;
        let Some(first) = found.first() else { return Ok(None) };
        let account: i64 = first.try_get("", "owner").map_err(err)?;
        let mut principal = Principal {
            user: UserId(account),
            organisations: Vec::new(),
        };
        let mut list = Vec::new();
        for row in &found {
            let id: Option<i64> = row.try_get("", "id").map_err(err)?;
            if id.is_none() {
                continue; // the owner row of an account without personal entitlements
            }
            let model = rows::Model::from_query_result(row, "").map_err(err)?;
            let e = from_row(&model)?;
            if let Holder::Organisation(o) = e.holder
                && !principal.organisations.contains(&o)
            {
                principal.organisations.push(o);
            }
            list.push(e);
        }
        list.sort_by_key(|e| e.id);
        Ok(Some((principal, list)))
    }

    async fn find(&self, id: EntitlementId) -> Result<Option<Entitlement>, EntitlementStoreError> {
        rows::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(err)?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    async fn for_holder(&self, holder: Holder) -> Result<Vec<Entitlement>, EntitlementStoreError> {
        let found = rows::Entity::find()
            .filter(holder_condition(holder))
            .order_by_asc(rows::Column::Id)
            .all(&self.db)
            .await
            .map_err(err)?;
        found.iter().map(from_row).collect()
    }

    async fn grant(&self, g: &NewGrant) -> Result<Entitlement, EntitlementStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        let entitlement = grant_in(&txn, g).await?;
        txn.commit().await.map_err(err)?;
        Ok(entitlement)
    }

    async fn update(&self, e: &Entitlement, audit: &AuditEntry) -> Result<(), EntitlementStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        update_in(&txn, e, audit).await?;
        txn.commit().await.map_err(err)
    }

    async fn audit_trail(&self, holder: Holder) -> Result<Vec<AuditEntry>, EntitlementStoreError> {
        let (kind, id) = holder_columns(holder);
        let found = entitlement_audit::Entity::find()
            .filter(entitlement_audit::Column::HolderKind.eq(kind))
            .filter(entitlement_audit::Column::HolderId.eq(id))
            .order_by_asc(entitlement_audit::Column::Id)
            .all(&self.db)
            .await
            .map_err(err)?;
        found
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    entitlement: EntitlementId(r.entitlement_id),
                    holder: holder_from(&r.holder_kind, r.holder_id)?,
                    action: parse("audit action", &r.action)?,
                    actor: parse("audit actor", &r.actor)?,
                    cause: r.cause.clone(),
                    at: r.at,
                })
            })
            .collect()
    }
}
