//! Shared server secrets (the download-link signing key, so every instance verifies every
//! link) and the record of downloads.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, pk_auto, string_len, text, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServerSecrets {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum Downloads {
    Table,
    Id,
    AccountId,
    Slug,
    Version,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServerSecrets::Table)
                    .col(string_len(ServerSecrets::Name, 64).primary_key())
                    .col(text(ServerSecrets::Value))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Downloads::Table)
                    .col(pk_auto(Downloads::Id))
                    .col(big_integer(Downloads::AccountId))
                    .col(string_len(Downloads::Slug, 64))
                    .col(string_len(Downloads::Version, 64))
                    .col(timestamp_with_time_zone(Downloads::At))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Downloads::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ServerSecrets::Table).to_owned())
            .await
    }
}
