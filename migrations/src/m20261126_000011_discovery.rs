//! Discovery: buyer signals (views, purchases, profile choices) by subject — an account or an
//! anonymous visitor — and saved profiles.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{pk_auto, string_len, text, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DiscoverySignals {
    Table,
    Id,
    Subject,
    Signal,
    At,
}

#[derive(DeriveIden)]
enum DiscoveryProfiles {
    Table,
    Subject,
    Profile,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DiscoverySignals::Table)
                    .col(pk_auto(DiscoverySignals::Id))
                    .col(string_len(DiscoverySignals::Subject, 160))
                    .col(text(DiscoverySignals::Signal))
                    .col(timestamp_with_time_zone(DiscoverySignals::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("discovery_signals_subject_at")
                    .table(DiscoverySignals::Table)
                    .col(DiscoverySignals::Subject)
                    .col(DiscoverySignals::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("discovery_signals_at")
                    .table(DiscoverySignals::Table)
                    .col(DiscoverySignals::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DiscoveryProfiles::Table)
                    .col(string_len(DiscoveryProfiles::Subject, 160).primary_key())
                    .col(text(DiscoveryProfiles::Profile))
                    .col(timestamp_with_time_zone(DiscoveryProfiles::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DiscoveryProfiles::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DiscoverySignals::Table).to_owned())
            .await
    }
}
