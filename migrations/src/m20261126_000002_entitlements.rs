//! Entitlements and their append-only audit trail.
//!
//! Holders are referenced by kind and id (`user` / `organisation`); foreign keys to the account
//! tables are added by the migration that creates them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, pk_auto, string_len, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Entitlements {
    Table,
    Id,
    HolderKind,
    HolderId,
    Scope,
    Source,
    Term,
    Status,
    PeriodEnd,
    GrantedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EntitlementAudit {
    Table,
    Id,
    EntitlementId,
    HolderKind,
    HolderId,
    Action,
    Actor,
    Cause,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Entitlements::Table)
                    .col(pk_auto(Entitlements::Id))
                    .col(string_len(Entitlements::HolderKind, 16))
                    .col(big_integer(Entitlements::HolderId))
                    .col(text(Entitlements::Scope))
                    .col(string_len(Entitlements::Source, 32))
                    .col(text(Entitlements::Term))
                    .col(text(Entitlements::Status))
                    .col(timestamp_with_time_zone_null(Entitlements::PeriodEnd))
                    .col(timestamp_with_time_zone(Entitlements::GrantedAt))
                    .col(timestamp_with_time_zone(Entitlements::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("entitlements_holder")
                    .table(Entitlements::Table)
                    .col(Entitlements::HolderKind)
                    .col(Entitlements::HolderId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EntitlementAudit::Table)
                    .col(pk_auto(EntitlementAudit::Id))
                    .col(big_integer(EntitlementAudit::EntitlementId))
                    .col(string_len(EntitlementAudit::HolderKind, 16))
                    .col(big_integer(EntitlementAudit::HolderId))
                    .col(text(EntitlementAudit::Action))
                    .col(text(EntitlementAudit::Actor))
                    .col(text(EntitlementAudit::Cause))
                    .col(timestamp_with_time_zone(EntitlementAudit::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("entitlement_audit_holder")
                    .table(EntitlementAudit::Table)
                    .col(EntitlementAudit::HolderKind)
                    .col(EntitlementAudit::HolderId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EntitlementAudit::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Entitlements::Table).to_owned())
            .await
    }
}
