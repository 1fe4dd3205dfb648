//! [`SignalRepository`] on sea-orm: `discovery_signals`, `discovery_profiles`, and co-purchase
//! counts from paid orders.

use std::collections::BTreeMap;

use async_trait::async_trait;
use catalog::Slug;
use chrono::{DateTime, Utc};
use discovery::{Profile, Recall, Signal, SignalKind, SignalRepository, SignalStoreError, Subject};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};

use crate::entities::{discovery_profiles as profiles, discovery_signals as signals};

/// Discovery storage.
#[derive(Debug, Clone)]
pub struct SqlSignalRepository {
    db: DatabaseConnection,
}

impl SqlSignalRepository {
    /// Wraps a connection returned by [`crate::connect`].
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn err(e: impl std::fmt::Display) -> SignalStoreError {
    SignalStoreError(e.to_string())
}

/// Parses `slug|time,slug|time,…` (time: epoch microseconds, or RFC 3339 text) into views,
/// newest first (a KEY viewed more than once appears more than once; the rules keep its latest).
/// Malformed entries are skipped.
fn parse_views(folded: &str) -> Vec<Signal> {
    let mut views: Vec<Signal> = folded
        .split(',')
        .filter_map(|entry| {
            let (slug, time) = entry.split_once('|')?;
            let at = match time.parse::<i64>() {
                Ok(micros) => DateTime::from_timestamp_micros(micros)?,
                Err(_) => DateTime::parse_from_rfc3339(time)
                    .or_else(|_| DateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S%.f%:z"))
                    .ok()?
                    .with_timezone(&Utc),
            };
            Some(Signal {
                kind: SignalKind::View(slug.parse().ok()?),
                at,
            })
        })
        .collect();
    // Usually already in order (the fold reads the index newest first): a stable sort is a
    // single pass then.
    views.sort_by_key(|s| std::cmp::Reverse(s.at));
    views
}

#[async_trait]
impl SignalRepository for SqlSignalRepository {
    async fn record(&self, subject: &Subject, signal: &Signal) -> Result<(), SignalStoreError> {
        let (kind, target) = signal.kind.parts();
        signals::Entity::insert(signals::ActiveModel {
            subject: Set(subject.key()),
            signal: Set(serde_json::to_string(&signal.kind).map_err(err)?),
            at: Set(signal.at),
            kind: Set(kind.to_owned()),
            target: Set(target.to_owned()),
            ..Default::default()
        })
        .exec_without_returning(&self.db)
        .await
        .map(|_| ())
        .map_err(err)
    }

    async fn record_many(&self, batch: &[(Subject, Signal)]) -> Result<(), SignalStoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(batch.len());
        for (subject, signal) in batch {
            let (kind, target) = signal.kind.parts();
            rows.push(signals::ActiveModel {
                subject: Set(subject.key()),
                signal: Set(serde_json::to_string(&signal.kind).map_err(err)?),
                at: Set(signal.at),
                kind: Set(kind.to_owned()),
                target: Set(target.to_owned()),
                ..Default::default()
            });
        }
        let txn = self.db.begin().await.map_err(err)?;
        if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // Signals are recommendations' hints, not money: a crash may lose the last batch
            // (at most the buffer's size), so this commit does not wait for the WAL flush.
            txn.execute_unprepared("SET LOCAL synchronous_commit = off")
                .await
                .map_err(err)?;
        }
        // Bounded statements: at most 500 rows (5 parameters each) per insert.
        for chunk in rows.chunks(500) {
            signals::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(err)?;
        }
        txn.commit().await.map_err(err)
    }

    async fn recall(
        &self,
        subject: &Subject,
        views_since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Recall, SignalStoreError> {
        let backend = self.db.get_database_backend();
        let p = |i: usize| {
            if backend == sea_orm::DatabaseBackend::Postgres {
                format!("${i}")
            } else {
                "?".to_owned()
            }
        };
        // One round trip, at most two rows: the profile, then this subject's most recent views
        // in the window (read backwards off the `(subject, kind, at, target)` index: no sort)
        // folded into one `slug|time,slug|time,…` value, so the driver decodes one value instead
        // of a row per view. The time is epoch microseconds on Postgres and the stored RFC 3339
        // text on SQLite. Columns are read by position: part, value.
        let fold = if backend == sea_orm::DatabaseBackend::Postgres {
            "string_agg(target || '|' || (date_part('epoch', at) * 1000000)::bigint::text, ',')"
        } else {
            "group_concat(target || '|' || at, ',')"
        };
        let sql = format!(
            "SELECT 'p' AS part, profile AS v FROM discovery_profiles WHERE subject = {} \
             UNION ALL \
             SELECT 'v', {fold} FROM (SELECT target, at FROM discovery_signals \
             WHERE subject = {} AND kind = 'view' AND at >= {} ORDER BY at DESC LIMIT {}) AS recent",
            p(1),
            p(2),
            p(3),
            p(4)
        );
        let key = subject.key();
        let values: Vec<sea_orm::Value> = vec![
            key.clone().into(),
            key.into(),
            views_since.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ];
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(err)?;
        let mut recall = Recall::default();
        for r in rows {
            let part: String = r.try_get_by_index(0).map_err(err)?;
            let Some(v) = r.try_get_by_index::<Option<String>>(1).map_err(err)? else {
                continue; // no views
            };
            if part == "p" {
                recall.profile = serde_json::from_str(&v).ok();
            } else {
                recall.views = parse_views(&v).into();
            }
        }
        Ok(recall)
    }

    async fn save_profile(
        &self,
        subject: &Subject,
        profile: &Profile,
        at: DateTime<Utc>,
    ) -> Result<(), SignalStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        profiles::Entity::delete_by_id(subject.key())
            .exec(&txn)
            .await
            .map_err(err)?;
        profiles::Entity::insert(profiles::ActiveModel {
            subject: Set(subject.key()),
            profile: Set(serde_json::to_string(profile).map_err(err)?),
            updated_at: Set(at),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(err)?;
        txn.commit().await.map_err(err)
    }

    async fn merge(&self, from: &Subject, into: &Subject) -> Result<(), SignalStoreError> {
        if from == into {
            return Ok(());
        }
        let txn = self.db.begin().await.map_err(err)?;
        signals::Entity::update_many()
            .col_expr(signals::Column::Subject, sea_orm::sea_query::Expr::value(into.key()))
            .filter(signals::Column::Subject.eq(from.key()))
            .exec(&txn)
            .await
            .map_err(err)?;
        let has_own = profiles::Entity::find_by_id(into.key())
            .one(&txn)
            .await
            .map_err(err)?
            .is_some();
        if let Some(visitor) = profiles::Entity::find_by_id(from.key()).one(&txn).await.map_err(err)? {
            profiles::Entity::delete_by_id(from.key())
                .exec(&txn)
                .await
                .map_err(err)?;
            if !has_own {
                profiles::Entity::insert(profiles::ActiveModel {
                    subject: Set(into.key()),
                    profile: Set(visitor.profile),
                    updated_at: Set(visitor.updated_at),
                })
                .exec_without_returning(&txn)
                .await
                .map_err(err)?;
            }
        }
        txn.commit().await.map_err(err)
    }

    async fn clear(&self, subject: &Subject) -> Result<(), SignalStoreError> {
        let txn = self.db.begin().await.map_err(err)?;
        signals::Entity::delete_many()
            .filter(signals::Column::Subject.eq(subject.key()))
            .exec(&txn)
            .await
            .map_err(err)?;
        profiles::Entity::delete_by_id(subject.key())
            .exec(&txn)
            .await
            .map_err(err)?;
        txn.commit().await.map_err(err)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, SignalStoreError> {
        Ok(signals::Entity::delete_many()
            .filter(signals::Column::At.lt(before))
            .exec(&self.db)
            .await
            .map_err(err)?
            .rows_affected)
    }

    async fn co_purchases(&self, owned: &[Slug]) -> Result<BTreeMap<Slug, Vec<(Slug, u32)>>, SignalStoreError> {
        let mut out: BTreeMap<Slug, Vec<(Slug, u32)>> = BTreeMap::new();
        if owned.is_empty() {
            return Ok(out);
        }
        let backend = self.db.get_database_backend();
        let skus: Vec<String> = owned.iter().map(|s| format!("key:{s}")).collect();
        let placeholders: Vec<String> = (1..=skus.len())
            .map(|i| {
                if backend == sea_orm::DatabaseBackend::Postgres {
                    format!("${i}")
                } else {
                    "?".to_owned()
                }
            })
            .collect();
        let sql = format!(
            "SELECT a.sku AS mine, b.sku AS other, COUNT(DISTINCT b.holder_kind || ':' || b.holder_id) AS n \
             FROM orders a JOIN orders b ON a.holder_kind = b.holder_kind AND a.holder_id = b.holder_id \
             AND b.sku <> a.sku \
             WHERE a.sku IN ({}) AND a.status IN ('paid', 'partially_refunded') \
             AND b.status IN ('paid', 'partially_refunded') AND b.sku LIKE 'key:%' \
             GROUP BY a.sku, b.sku",
            placeholders.join(", ")
        );
        let values: Vec<sea_orm::Value> = skus.into_iter().map(Into::into).collect();
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .map_err(err)?;
        for r in rows {
            let mine: String = r.try_get("", "mine").map_err(err)?;
            let other: String = r.try_get("", "other").map_err(err)?;
            let n: i64 = r.try_get("", "n").map_err(err)?;
            let (Some(mine), Some(other)) = (
                mine.strip_prefix("key:").and_then(|s| s.parse::<Slug>().ok()),
                other.strip_prefix("key:").and_then(|s| s.parse::<Slug>().ok()),
            ) else {
                continue;
            };
            out.entry(other)
                .or_default()
                .push((mine, u32::try_from(n).unwrap_or(u32::MAX)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_views_parse_newest_first_skipping_malformed_entries() {
        let got = parse_views(
            "kit-a|2000000,kit-b|1970-01-01T00:00:03+00:00,kit-a|5000000,bad,kit-c|x,Not A Slug|9000000,\
             kit-d|1970-01-01 00:00:03.000000+00:00,kit-e|1970-01-01T00:00:01.5Z",
        );
        let got: Vec<(String, i64)> = got
            .iter()
            .map(|s| match &s.kind {
                SignalKind::View(slug) => (slug.to_string(), s.at.timestamp_millis()),
                other => panic!("{other:?}"),
            })
            .collect();
        let want: Vec<(String, i64)> = vec![
            ("kit-a".into(), 5_000),
            ("kit-b".into(), 3_000),
            ("kit-d".into(), 3_000),
            ("kit-a".into(), 2_000),
            ("kit-e".into(), 1_500),
        ];
        assert_eq!(got, want);
        assert!(parse_views("").is_empty());
    }
}
