//! Payment disputes (chargebacks), as the webhook worker records them: one row per dispute,
//! `open` until it closes `won` or `lost`; admins list the open ones.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Disputes {
    Table,
    Id,
    OrderId,
    PaymentIntent,
    AmountMinor,
    Currency,
    Reason,
    Status,
    OpenedAt,
    ClosedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Disputes::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Disputes::Id).string_len(255).not_null().primary_key())
                    .col(ColumnDef::new(Disputes::OrderId).big_integer().not_null())
                    .col(ColumnDef::new(Disputes::PaymentIntent).string_len(255).not_null())
                    .col(ColumnDef::new(Disputes::AmountMinor).big_integer().not_null())
                    .col(ColumnDef::new(Disputes::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(Disputes::Reason).string_len(255).not_null())
                    .col(ColumnDef::new(Disputes::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Disputes::OpenedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Disputes::ClosedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("disputes_by_status")
                    .table(Disputes::Table)
                    .col(Disputes::Status)
                    .col(Disputes::OpenedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Disputes::Table).to_owned())
            .await
    }
}
