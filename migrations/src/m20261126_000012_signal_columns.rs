//! Discovery signals get their kind and target as columns (besides the JSON `signal`), so the
//! recent-views read is one backwards scan of a `(subject, kind, at, target)` index that the
//! index alone can answer, instead of decoding every stored signal. Existing rows are filled
//! from their JSON; a row whose JSON is not a signal gets empty columns instead of failing the
//! migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DiscoverySignals {
    Table,
    Subject,
    Kind,
    Target,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [DiscoverySignals::Kind, DiscoverySignals::Target] {
            manager
                .alter_table(
                    Table::alter()
                        .table(DiscoverySignals::Table)
                        .add_column(ColumnDef::new(column).text().not_null().default(""))
                        .to_owned(),
                )
                .await?;
        }
        // Signals are written as `{"kind":"…","value":"…"}`; anything else is left empty.
        let backfill = match manager.get_database_backend() {
            // Pattern matching, not a `::jsonb` cast, which would abort on one malformed row.
            DatabaseBackend::Postgres => {
                "UPDATE discovery_signals SET \
                 kind = COALESCE(substring(signal from '^\\{\"kind\":\"([a-z_]+)\"'), ''), \
                 target = COALESCE(substring(signal from '\"value\":\"([^\"]*)\"\\}$'), '')"
            }
            _ => {
                "UPDATE discovery_signals SET \
                 kind = CASE WHEN json_valid(signal) THEN COALESCE(json_extract(signal, '$.kind'), '') ELSE '' END, \
                 target = CASE WHEN json_valid(signal) THEN COALESCE(json_extract(signal, '$.value'), '') ELSE '' END"
            }
        };
        manager.get_connection().execute_unprepared(backfill).await?;
        manager
            .create_index(
                Index::create()
                    .name("discovery_signals_subject_kind_at")
                    .table(DiscoverySignals::Table)
                    .col(DiscoverySignals::Subject)
                    .col(DiscoverySignals::Kind)
                    .col(DiscoverySignals::At)
                    .col(DiscoverySignals::Target)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("discovery_signals_subject_kind_at")
                    .table(DiscoverySignals::Table)
                    .to_owned(),
            )
            .await?;
        for column in [DiscoverySignals::Target, DiscoverySignals::Kind] {
            manager
                .alter_table(
                    Table::alter()
                        .table(DiscoverySignals::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
