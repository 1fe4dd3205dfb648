//! Discovery signals get their kind and target as columns (besides the JSON `signal`), so the
//! recently-viewed read is one indexed `GROUP BY` in the database — the latest view per KEY —
//! instead of decoding every stored signal. Existing rows are filled from their JSON.

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
        let backfill = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "UPDATE discovery_signals SET kind = COALESCE(signal::jsonb->>'kind', ''), \
                 target = COALESCE(signal::jsonb->>'value', '')"
            }
            _ => {
                "UPDATE discovery_signals SET kind = COALESCE(json_extract(signal, '$.kind'), ''), \
                 target = COALESCE(json_extract(signal, '$.value'), '')"
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
