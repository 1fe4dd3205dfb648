//! [`CatalogRepository`] on sea-orm.

use std::collections::HashMap;

use async_trait::async_trait;
use catalog::{
    ArchiveRef, CatalogRepository, Document, Key, KeyChange, KeyMetadata, KeyVersion, Kind, SaveKeyError, SaveOutcome,
    Slug, StorageError, Version,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::de::DeserializeOwned;

use crate::entities::{catalog_documents, catalog_state, key_versions, keys};
use crate::is_postgres;

/// The catalog tables (`keys`, `key_versions`, `catalog_state`).
#[derive(Debug, Clone)]
pub struct SqlCatalogRepository {
    db: DatabaseConnection,
}

impl SqlCatalogRepository {
    /// Wraps a connection returned by [`crate::connect`].
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn storage(e: DbErr) -> StorageError {
    StorageError(e.to_string())
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StorageError {
    StorageError(format!("stored {what} cannot be read: {detail}"))
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json<T: DeserializeOwned>(what: &str, s: &str) -> Result<T, StorageError> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, StorageError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn meta_from_row(row: &keys::Model) -> Result<KeyMetadata, StorageError> {
    Ok(KeyMetadata {
        slug: parse("slug", &row.slug)?,
        name: row.name.clone(),
        kind: parse("kind", &row.kind)?,
        tier: parse("tier", &row.tier)?,
        summary: row.summary.clone(),
        description: row.description.clone(),
        roles: from_json("roles", &row.roles)?,
        intents: from_json("intents", &row.intents)?,
        categories: from_json("categories", &row.categories)?,
        tags: from_json("tags", &row.tags)?,
    })
}

fn version_from_row(row: &key_versions::Model) -> Result<KeyVersion, StorageError> {
    Ok(KeyVersion {
        version: parse("version", &row.version)?,
        released_at: row.released_at,
        changelog: row.changelog.clone(),
        archive: ArchiveRef {
            object_key: row.object_key.clone(),
            sha256: row.sha256.clone(),
            size_bytes: u64::try_from(row.size_bytes).map_err(|e| corrupt("size", e))?,
            content_sha256: row.content_sha256.clone(),
        },
        preview: from_json("preview", &row.preview)?,
    })
}

fn assemble(row: &keys::Model, versions: &[key_versions::Model]) -> Result<Key, StorageError> {
    let mut vs = versions.iter().map(version_from_row).collect::<Result<Vec<_>, _>>()?;
    vs.sort_by_key(|v| v.version);
    Ok(Key {
        meta: meta_from_row(row)?,
        versions: vs,
        updated_at: row.updated_at,
    })
}

fn meta_columns(m: &KeyMetadata) -> keys::ActiveModel {
    keys::ActiveModel {
        slug: Set(m.slug.to_string()),
        name: Set(m.name.clone()),
        kind: Set(m.kind.to_string()),
        tier: Set(m.tier.to_string()),
        summary: Set(m.summary.clone()),
        description: Set(m.description.clone()),
        roles: Set(to_json(&m.roles)),
        intents: Set(to_json(&m.intents)),
        categories: Set(to_json(&m.categories)),
        tags: Set(to_json(&m.tags)),
        ..Default::default()
    }
}

#[async_trait]
impl CatalogRepository for SqlCatalogRepository {
    async fn find_key(&self, slug: &Slug) -> Result<Option<Key>, StorageError> {
        let Some(row) = keys::Entity::find()
            .filter(keys::Column::Slug.eq(slug.as_str()))
            .one(&self.db)
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let versions = key_versions::Entity::find()
            .filter(key_versions::Column::KeyId.eq(row.id))
            .all(&self.db)
            .await
            .map_err(storage)?;
        assemble(&row, &versions).map(Some)
    }

    async fn list_keys(&self) -> Result<Vec<Key>, StorageError> {
        let rows = keys::Entity::find()
            .order_by_asc(keys::Column::Slug)
            .all(&self.db)
            .await
            .map_err(storage)?;
        let mut by_key: HashMap<i64, Vec<key_versions::Model>> = HashMap::with_capacity(rows.len());
        for v in key_versions::Entity::find().all(&self.db).await.map_err(storage)? {
            by_key.entry(v.key_id).or_default().push(v);
        }
        rows.iter()
            .map(|row| assemble(row, by_key.get(&row.id).map_or(&[][..], Vec::as_slice)))
            .collect()
    }

    async fn revision(&self) -> Result<i64, StorageError> {
        catalog_state::Entity::find_by_id(1)
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(|r| r.revision)
            .ok_or_else(|| StorageError("catalog_state row is missing; run the migrations".into()))
    }

    async fn documents(&self) -> Result<Vec<Document>, StorageError> {
        Ok(catalog_documents::Entity::find()
            .order_by_asc(catalog_documents::Column::Name)
            .all(&self.db)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|d| Document {
                name: d.name,
                body: d.body,
            })
            .collect())
    }

    async fn replace_documents(&self, documents: &[Document]) -> Result<bool, StorageError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let stored: HashMap<String, String> = catalog_documents::Entity::find()
            .all(&txn)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|d| (d.name, d.body))
            .collect();
        let wanted: HashMap<&str, &str> = documents.iter().map(|d| (d.name.as_str(), d.body.as_str())).collect();
        if wanted.len() == stored.len()
            && wanted
                .iter()
                .all(|(n, b)| stored.get(*n).map(String::as_str) == Some(*b))
        {
            return Ok(false);
        }
        catalog_documents::Entity::delete_many()
            .exec(&txn)
            .await
            .map_err(storage)?;
        if !documents.is_empty() {
            catalog_documents::Entity::insert_many(documents.iter().map(|d| catalog_documents::ActiveModel {
                name: Set(d.name.clone()),
                body: Set(d.body.clone()),
            }))
            .exec(&txn)
            .await
            .map_err(storage)?;
        }
        catalog_state::Entity::update_many()
            .col_expr(
                catalog_state::Column::Revision,
                Expr::col(catalog_state::Column::Revision).add(1),
            )
            .filter(catalog_state::Column::Id.eq(1))
            .exec(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await.map_err(storage)?;
        Ok(true)
    }

    async fn save_key(&self, change: &KeyChange) -> Result<SaveOutcome, SaveKeyError> {
        let txn = self.db.begin().await.map_err(storage)?;
        let slug = change.meta.slug.as_str();
        let first = change.versions.iter().max_by_key(|v| v.version);
        let (cur_version, cur_sort) = first.map_or_else(
            || (String::new(), String::new()),
            |v| (v.version.to_string(), v.version.sort_key()),
        );

        // 1. Claim the row: create it, or do nothing when it exists (constraint, not luck).
        let mut new_row = meta_columns(&change.meta);
        new_row.current_version = Set(cur_version);
        new_row.current_sort = Set(cur_sort);
        new_row.created_at = Set(change.at);
        new_row.updated_at = Set(change.at);
        let inserted = keys::Entity::insert(new_row)
            .on_conflict_do_nothing_on([keys::Column::Slug])
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
        let created = matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0);

        // 2. Lock it (Postgres; SQLite already holds the database write lock).
        let mut select = keys::Entity::find().filter(keys::Column::Slug.eq(slug));
        if is_postgres(&txn) {
            select = select.lock_exclusive();
        }
        let row = select
            .one(&txn)
            .await
            .map_err(storage)?
            .ok_or_else(|| StorageError(format!("key `{slug}` vanished inside its transaction")))?;
        let stored_kind: Kind = parse("kind", &row.kind)?;
        if stored_kind != change.meta.kind {
            return Err(SaveKeyError::KindChanged {
                slug: change.meta.slug.clone(),
                stored: stored_kind,
                new: change.meta.kind,
            });
        }

        // 3. Versions: insert new ones, refuse changed ones.
        let existing: HashMap<String, key_versions::Model> = key_versions::Entity::find()
            .filter(key_versions::Column::KeyId.eq(row.id))
            .all(&txn)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|v| (v.version.clone(), v))
            .collect();
        let mut outcome = SaveOutcome {
            created,
            ..SaveOutcome::default()
        };
        let mut newest: Option<Version> = parse::<Version>("version", &row.current_version).ok();
        for v in &change.versions {
            let version = v.version.to_string();
            if let Some(stored) = existing.get(&version) {
                let same = if stored.content_sha256.is_empty() || v.archive.content_sha256.is_empty() {
                    stored.sha256 == v.archive.sha256
                } else {
                    stored.content_sha256 == v.archive.content_sha256
                };
                if !same {
                    return Err(SaveKeyError::VersionConflict {
                        slug: change.meta.slug.clone(),
                        version: v.version,
                        stored_sha256: stored.sha256.clone(),
                        new_sha256: v.archive.sha256.clone(),
                    });
                }
                continue;
            }
            key_versions::Entity::insert(key_versions::ActiveModel {
                key_id: Set(row.id),
                version: Set(version),
                sort_key: Set(v.version.sort_key()),
                released_at: Set(v.released_at),
                changelog: Set(v.changelog.clone()),
                object_key: Set(v.archive.object_key.clone()),
                sha256: Set(v.archive.sha256.clone()),
                size_bytes: Set(i64::try_from(v.archive.size_bytes).unwrap_or(i64::MAX)),
                preview: Set(to_json(&v.preview)),
                content_sha256: Set(v.archive.content_sha256.clone()),
                created_at: Set(change.at),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await
            .map_err(storage)?;
            outcome.versions_added.push(v.version);
            newest = Some(newest.map_or(v.version, |n| n.max(v.version)));
        }

        // 4. Metadata and current version (forward only).
        let stored_meta = meta_from_row(&row)?;
        outcome.metadata_changed = !created && stored_meta != change.meta;
        let newest = newest.map(|n| (n.to_string(), n.sort_key()));
        let moves_forward = newest.as_ref().is_some_and(|(_, sort)| *sort > row.current_sort);
        if outcome.metadata_changed || moves_forward {
            let mut update = keys::Entity::update_many().filter(keys::Column::Id.eq(row.id));
            if outcome.metadata_changed {
                update = update.set(meta_columns(&change.meta));
            }
            if let Some((version, sort)) = newest.filter(|_| moves_forward) {
                update = update
                    .col_expr(keys::Column::CurrentVersion, Expr::value(version))
                    .col_expr(keys::Column::CurrentSort, Expr::value(sort.clone()))
                    .filter(keys::Column::CurrentSort.lt(sort));
            }
            update
                .col_expr(keys::Column::UpdatedAt, Expr::value(change.at))
                .exec(&txn)
                .await
                .map_err(storage)?;
        }
        if outcome.changed() {
            catalog_state::Entity::update_many()
                .col_expr(
                    catalog_state::Column::Revision,
                    Expr::col(catalog_state::Column::Revision).add(1),
                )
                .filter(catalog_state::Column::Id.eq(1))
                .exec(&txn)
                .await
                .map_err(storage)?;
        }
        txn.commit().await.map_err(storage)?;
        Ok(outcome)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.db
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(storage)
    }
}
