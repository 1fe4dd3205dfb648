//! Security hardening:
//!
//! * every id and reference column is 64-bit (`BIGINT` on Postgres; SQLite's `INTEGER` already
//!   is), so any id a client can send is an id the database can look up;
//! * the admin role is stored on the account (`is_admin`, granted and revoked only by the
//!   operator command), with an operator audit trail;
//! * API tokens get a scope and an expiry (tokens made before keep the `download` scope and
//!   no expiry);
//! * invites remember when they were made and can be revoked (a removed member's unused
//!   invites die);
//! * sessions are indexed by expiry for the hourly purge.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{pk_auto, string_len, timestamp_with_time_zone};
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    IsAdmin,
    AdminSince,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Scope,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Invites {
    Table,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OperatorAudit {
    Table,
    Id,
    Action,
    Subject,
    Actor,
    At,
}

/// (table, column) pairs that were 32-bit on Postgres.
const WIDEN: &[(&str, &str)] = &[
    ("accounts", "id"),
    ("api_tokens", "id"),
    ("api_tokens", "account_id"),
    ("credit_uses", "id"),
    ("discovery_signals", "id"),
    ("downloads", "id"),
    ("entitlement_audit", "id"),
    ("entitlements", "id"),
    ("invites", "created_by"),
    ("invites", "org_id"),
    ("key_versions", "id"),
    ("key_versions", "key_id"),
    ("keys", "id"),
    ("login_failures", "id"),
    ("memberships", "account_id"),
    ("memberships", "org_id"),
    ("orders", "id"),
    ("organisations", "id"),
    ("sessions", "account_id"),
    ("operator_audit", "id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OperatorAudit::Table)
                    .col(pk_auto(OperatorAudit::Id))
                    .col(string_len(OperatorAudit::Action, 40))
                    .col(string_len(OperatorAudit::Subject, 254))
                    .col(string_len(OperatorAudit::Actor, 100))
                    .col(timestamp_with_time_zone(OperatorAudit::At))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // Identity sequences follow their column's type.
            for (table, column) in WIDEN {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "ALTER TABLE \"{table}\" ALTER COLUMN \"{column}\" TYPE BIGINT"
                    ))
                    .await?;
            }
        }
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(ColumnDef::new(Accounts::IsAdmin).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .add_column(ColumnDef::new(Accounts::AdminSince).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(
                        ColumnDef::new(ApiTokens::Scope)
                            .string_len(16)
                            .not_null()
                            .default("download"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiTokens::Table)
                    .add_column(ColumnDef::new(ApiTokens::ExpiresAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        for column in [Invites::CreatedAt, Invites::RevokedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Invites::Table)
                        .add_column(ColumnDef::new(column).timestamp_with_time_zone().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OperatorAudit::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("sessions_expires_at")
                    .table(Sessions::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Invites::RevokedAt, Invites::CreatedAt] {
            manager
                .alter_table(Table::alter().table(Invites::Table).drop_column(column).to_owned())
                .await?;
        }
        for column in [ApiTokens::ExpiresAt, ApiTokens::Scope] {
            manager
                .alter_table(Table::alter().table(ApiTokens::Table).drop_column(column).to_owned())
                .await?;
        }
        for column in [Accounts::AdminSince, Accounts::IsAdmin] {
            manager
                .alter_table(Table::alter().table(Accounts::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
