//! The uncompressed-tar digest of each version, which identifies its files independently of the
//! compressor (versions stored before have an empty value and compare by archive digest).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyVersions {
    Table,
    ContentSha256,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(KeyVersions::Table)
                    .add_column(string_len(KeyVersions::ContentSha256, 64).default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(KeyVersions::Table)
                    .drop_column(KeyVersions::ContentSha256)
                    .to_owned(),
            )
            .await
    }
}
