//! The catalog: KEYS, their versions, and a revision counter readers poll.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, date, integer, pk_auto, string, string_len, text, timestamp_with_time_zone,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogState {
    Table,
    Id,
    Revision,
}

#[derive(DeriveIden)]
enum Keys {
    Table,
    Id,
    Slug,
    Name,
    Kind,
    Tier,
    Summary,
    Description,
    Roles,
    Intents,
    Categories,
    Tags,
    CurrentVersion,
    CurrentSort,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum KeyVersions {
    Table,
    Id,
    KeyId,
    Version,
    SortKey,
    ReleasedAt,
    Changelog,
    ObjectKey,
    Sha256,
    SizeBytes,
    Preview,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CatalogState::Table)
                    .col(integer(CatalogState::Id).primary_key())
                    .col(big_integer(CatalogState::Revision))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(CatalogState::Table)
                    .columns([CatalogState::Id, CatalogState::Revision])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Keys::Table)
                    .col(pk_auto(Keys::Id))
                    .col(string_len(Keys::Slug, 64).unique_key())
                    .col(string(Keys::Name))
                    .col(string_len(Keys::Kind, 16))
                    .col(string_len(Keys::Tier, 16))
                    .col(string(Keys::Summary))
                    .col(text(Keys::Description))
                    .col(text(Keys::Roles))
                    .col(text(Keys::Intents))
                    .col(text(Keys::Categories))
                    .col(text(Keys::Tags))
                    .col(string_len(Keys::CurrentVersion, 64))
                    .col(string_len(Keys::CurrentSort, 64))
                    .col(timestamp_with_time_zone(Keys::CreatedAt))
                    .col(timestamp_with_time_zone(Keys::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KeyVersions::Table)
                    .col(pk_auto(KeyVersions::Id))
                    .col(integer(KeyVersions::KeyId))
                    .col(string_len(KeyVersions::Version, 64))
                    .col(string_len(KeyVersions::SortKey, 64))
                    .col(date(KeyVersions::ReleasedAt))
                    .col(text(KeyVersions::Changelog))
                    .col(string(KeyVersions::ObjectKey))
                    .col(string_len(KeyVersions::Sha256, 64))
                    .col(big_integer(KeyVersions::SizeBytes))
                    .col(text(KeyVersions::Preview))
                    .col(timestamp_with_time_zone(KeyVersions::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(KeyVersions::Table, KeyVersions::KeyId)
                            .to(Keys::Table, Keys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("key_versions_key_id_version")
                    .table(KeyVersions::Table)
                    .col(KeyVersions::KeyId)
                    .col(KeyVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyVersions::Table).to_owned())
            .await?;
        manager.drop_table(Table::drop().table(Keys::Table).to_owned()).await?;
        manager
            .drop_table(Table::drop().table(CatalogState::Table).to_owned())
            .await
    }
}
