//! Database schema migrations for KEYS, one migration per file.
//!
//! They are written with sea-query's schema builder, so the same code creates the schema on
//! SQLite (embedded default) and Postgres (production). Apply them with
//! [`Migrator::up`](sea_orm_migration::MigratorTrait::up); the apps do so at start.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_catalog;
mod m20261126_000002_entitlements;
mod m20261126_000003_accounts;
mod m20261126_000004_downloads;
mod m20261126_000005_api_tokens;
mod m20261126_000006_organisations;
mod m20261126_000007_content_digest;
mod m20261126_000008_commerce;
mod m20261126_000009_payments;
mod m20261126_000010_inbox_order;
mod m20261126_000011_discovery;
mod m20261126_000012_signal_columns;
mod m20261203_000013_security;
mod m20261203_000014_live_plan;
mod m20261203_000015_disputes;
mod m20261203_000016_scheduled_plan;
mod m20261203_000017_mail;
mod m20261203_000018_email_verification;
mod m20261203_000019_access_changes;

pub use m20261203_000019_access_changes::ACCESS_CHANNEL;

/// Every migration, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_catalog::Migration),
            Box::new(m20261126_000002_entitlements::Migration),
            Box::new(m20261126_000003_accounts::Migration),
            Box::new(m20261126_000004_downloads::Migration),
            Box::new(m20261126_000005_api_tokens::Migration),
            Box::new(m20261126_000006_organisations::Migration),
            Box::new(m20261126_000007_content_digest::Migration),
            Box::new(m20261126_000008_commerce::Migration),
            Box::new(m20261126_000009_payments::Migration),
            Box::new(m20261126_000010_inbox_order::Migration),
            Box::new(m20261126_000011_discovery::Migration),
            Box::new(m20261126_000012_signal_columns::Migration),
            Box::new(m20261203_000013_security::Migration),
            Box::new(m20261203_000014_live_plan::Migration),
            Box::new(m20261203_000015_disputes::Migration),
            Box::new(m20261203_000016_scheduled_plan::Migration),
            Box::new(m20261203_000017_mail::Migration),
            Box::new(m20261203_000018_email_verification::Migration),
            Box::new(m20261203_000019_access_changes::Migration),
        ]
    }
}
