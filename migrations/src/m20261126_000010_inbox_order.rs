//! The worker claims the oldest due event by the object's own timestamp: an index in that
//! order lets Postgres walk it instead of sorting every pending row for each claim.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookInbox {
    Table,
    Status,
    ObjectCreated,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("webhook_inbox_claim_order")
                    .table(WebhookInbox::Table)
                    .col(WebhookInbox::Status)
                    .col(WebhookInbox::ObjectCreated)
                    .col(WebhookInbox::ReceivedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("webhook_inbox_claim_order")
                    .table(WebhookInbox::Table)
                    .to_owned(),
            )
            .await
    }
}
