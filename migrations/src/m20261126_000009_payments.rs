//! Payments: orders learn their Checkout Session, PaymentIntent, Subscription and Customer (so
//! later webhooks find them); one payment-provider customer per holder; the webhook inbox
//! (`webhook_inbox`, keyed by the provider's event id, so a delivery stored twice is one row).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, string_len, string_len_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    CheckoutSession,
    PaymentIntent,
    SubscriptionRef,
    CustomerRef,
    QuoteId,
}

#[derive(DeriveIden)]
enum PaymentCustomers {
    Table,
    HolderKind,
    HolderId,
    CustomerId,
}

#[derive(DeriveIden)]
enum WebhookInbox {
    Table,
    EventId,
    EventType,
    Payload,
    ObjectCreated,
    ReceivedAt,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    ProcessedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for col in [
            Orders::CheckoutSession,
            Orders::PaymentIntent,
            Orders::SubscriptionRef,
            Orders::CustomerRef,
            Orders::QuoteId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .add_column(string_len_null(col, 255))
                        .to_owned(),
                )
                .await?;
        }
        for (name, col) in [
            ("orders_checkout_session", Orders::CheckoutSession),
            ("orders_payment_intent", Orders::PaymentIntent),
            ("orders_subscription_ref", Orders::SubscriptionRef),
        ] {
            manager
                .create_index(Index::create().name(name).table(Orders::Table).col(col).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(PaymentCustomers::Table)
                    .col(string_len(PaymentCustomers::HolderKind, 16))
                    .col(big_integer(PaymentCustomers::HolderId))
                    .col(string_len(PaymentCustomers::CustomerId, 255))
                    .primary_key(
                        Index::create()
                            .col(PaymentCustomers::HolderKind)
                            .col(PaymentCustomers::HolderId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookInbox::Table)
                    .col(string_len(WebhookInbox::EventId, 255).primary_key())
                    .col(string_len(WebhookInbox::EventType, 128))
                    .col(text(WebhookInbox::Payload))
                    .col(big_integer(WebhookInbox::ObjectCreated))
                    .col(timestamp_with_time_zone(WebhookInbox::ReceivedAt))
                    .col(string_len(WebhookInbox::Status, 16))
                    .col(integer(WebhookInbox::Attempts))
                    .col(timestamp_with_time_zone(WebhookInbox::NextAttemptAt))
                    .col(text_null(WebhookInbox::LastError))
                    .col(timestamp_with_time_zone_null(WebhookInbox::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_inbox_due")
                    .table(WebhookInbox::Table)
                    .col(WebhookInbox::Status)
                    .col(WebhookInbox::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookInbox::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PaymentCustomers::Table).to_owned())
            .await?;
        for col in [
            Orders::QuoteId,
            Orders::CustomerRef,
            Orders::SubscriptionRef,
            Orders::PaymentIntent,
            Orders::CheckoutSession,
        ] {
            manager
                .alter_table(Table::alter().table(Orders::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
