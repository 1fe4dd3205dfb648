//! One live subscription per holder (issue 12), enforced by the database:
//!
//! * `orders.live_plan_of` names the holder (`user:3`, `organisation:7`) on the one plan order
//!   whose subscription is live, and is NULL everywhere else; a UNIQUE index makes a second live
//!   subscription for the same holder impossible, whatever the order of events or the number of
//!   servers and workers;
//! * `orders.replaces_order` links a plan change to the plan order it replaces;
//! * `orders.cancel_at_period_end` records that the subscription ends at the end of its paid
//!   period (set and cleared by `customer.subscription.updated`).
//!
//! Existing data: each holder's newest paid plan order with a subscription becomes its live
//! one (an ended one is cleared the next time the holder's plan changes).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    LivePlanOf,
    ReplacesOrder,
    CancelAtPeriodEnd,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(ColumnDef::new(Orders::LivePlanOf).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(ColumnDef::new(Orders::ReplacesOrder).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(
                        ColumnDef::new(Orders::CancelAtPeriodEnd)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE orders SET live_plan_of = holder_kind || ':' || CAST(holder_id AS TEXT) \
                 WHERE id IN (SELECT MAX(id) FROM orders WHERE sku LIKE 'plan:%' AND status = 'paid' \
                 AND subscription_ref IS NOT NULL GROUP BY holder_kind, holder_id)",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("orders_one_live_plan_per_holder")
                    .table(Orders::Table)
                    .col(Orders::LivePlanOf)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("orders_one_live_plan_per_holder")
                    .table(Orders::Table)
                    .to_owned(),
            )
            .await?;
        for col in [Orders::LivePlanOf, Orders::ReplacesOrder, Orders::CancelAtPeriodEnd] {
            manager
                .alter_table(Table::alter().table(Orders::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
