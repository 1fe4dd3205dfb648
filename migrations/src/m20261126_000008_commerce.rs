//! Commerce: the pricing file and bundle definitions ingested beside the KEYS (`catalog_documents`),
//! orders with what was actually paid (`orders`), the credit each order used from earlier ones
//! (`credit_uses`, so a payment never credits twice), and which entitlements an order granted
//! (`order_entitlements`, so a refund revokes exactly those).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, pk_auto, string_len, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CatalogDocuments {
    Table,
    Name,
    Body,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    HolderKind,
    HolderId,
    BuyerId,
    Sku,
    Status,
    Currency,
    ListMinor,
    DueMinor,
    CashPaidMinor,
    CreditAppliedMinor,
    RefundedMinor,
    Allocations,
    Quote,
    Channel,
    PeriodStart,
    PeriodEnd,
    CreatedAt,
    PaidAt,
}

#[derive(DeriveIden)]
enum CreditUses {
    Table,
    Id,
    FromOrder,
    Slug,
    AmountMinor,
    ByOrder,
}

#[derive(DeriveIden)]
enum OrderEntitlements {
    Table,
    OrderId,
    EntitlementId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CatalogDocuments::Table)
                    .col(string_len(CatalogDocuments::Name, 255).primary_key())
                    .col(text(CatalogDocuments::Body))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(pk_auto(Orders::Id))
                    .col(string_len(Orders::HolderKind, 16))
                    .col(big_integer(Orders::HolderId))
                    .col(big_integer(Orders::BuyerId))
                    .col(string_len(Orders::Sku, 128))
                    .col(string_len(Orders::Status, 32))
                    .col(string_len(Orders::Currency, 3))
                    .col(big_integer(Orders::ListMinor))
                    .col(big_integer(Orders::DueMinor))
                    .col(big_integer(Orders::CashPaidMinor))
                    .col(big_integer(Orders::CreditAppliedMinor))
                    .col(big_integer(Orders::RefundedMinor))
                    .col(text(Orders::Allocations))
                    .col(text(Orders::Quote))
                    .col(string_len(Orders::Channel, 32))
                    .col(timestamp_with_time_zone_null(Orders::PeriodStart))
                    .col(timestamp_with_time_zone_null(Orders::PeriodEnd))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone_null(Orders::PaidAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("orders_holder")
                    .table(Orders::Table)
                    .col(Orders::HolderKind)
                    .col(Orders::HolderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CreditUses::Table)
                    .col(pk_auto(CreditUses::Id))
                    .col(big_integer(CreditUses::FromOrder))
                    .col(string_len(CreditUses::Slug, 64))
                    .col(big_integer(CreditUses::AmountMinor))
                    .col(big_integer(CreditUses::ByOrder))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("credit_uses_from")
                    .table(CreditUses::Table)
                    .col(CreditUses::FromOrder)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderEntitlements::Table)
                    .col(big_integer(OrderEntitlements::OrderId))
                    .col(big_integer(OrderEntitlements::EntitlementId))
                    .primary_key(
                        Index::create()
                            .col(OrderEntitlements::OrderId)
                            .col(OrderEntitlements::EntitlementId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            OrderEntitlements::Table.into_iden(),
            CreditUses::Table.into_iden(),
            Orders::Table.into_iden(),
            CatalogDocuments::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
