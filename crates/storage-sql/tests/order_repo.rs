//! Orders against real databases (SQLite always, Postgres when configured): what is recorded
//! reads back, and two upgrades racing for the same credit never both get it.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use entitlements::ports::{EntitlementRepository, NewGrant};
use entitlements::{Actor, Holder, RevokeReason, Scope, Source, Term, UserId};
use pricing::{Currency, Money};
use storage_sql::{SqlEntitlementRepository, SqlOrderRepository, connect};
use upgrades::ports::{Channel, NewOrder, OrderRepository, OrderStatus, RecordOrderError};
use upgrades::{Allocation, PlannedUse, PurchaseId, Sku};

fn at(h: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, 3)
        .unwrap()
        .and_hms_opt(h, 0, 0)
        .unwrap()
        .and_utc()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}

fn order(holder: Holder, sku: &str, cash: i64, credit: i64, alloc: &[(&str, i64)]) -> NewOrder {
    NewOrder {
        holder,
        buyer: UserId(1),
        sku: sku.parse::<Sku>().unwrap(),
        list_price: usd(cash + credit),
        amount_due: usd(cash),
        cash_paid: usd(cash),
        credit_applied: usd(credit),
        allocations: alloc
            .iter()
            .map(|(s, m)| Allocation {
                slug: s.parse().unwrap(),
                amount: usd(*m),
            })
            .collect(),
        explanation: "test".into(),
        channel: Channel::Manual,
        period: None,
        at: at(1),
        quote_id: None,
    }
}

fn grant(holder: Holder, slug: &str) -> NewGrant {
    NewGrant {
        holder,
        scope: Scope::Key(slug.parse().unwrap()),
        source: Source::Purchase,
        term: Term::Perpetual,
        actor: Actor::System,
        cause: "order".into(),
        at: at(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_read_back_and_racing_upgrades_never_share_a_credit() {
    for db in test_support::databases().await {
        let conn = connect(&db.url, 4).await.unwrap();
        let orders = Arc::new(SqlOrderRepository::new(conn.clone()));
        let ents = SqlEntitlementRepository::new(conn);
        let ada = Holder::User(UserId(1));

        let (first, granted) = orders
            .record_paid(
                &order(
                    ada,
                    "key:deploy-rollback-runbook",
                    4_900,
                    0,
                    &[("deploy-rollback-runbook", 4_900)],
                ),
                &[],
                &[grant(ada, "deploy-rollback-runbook")],
            )
            .await
            .unwrap();
        assert_eq!(
            (first.status, first.cash_paid),
            (OrderStatus::Paid, usd(4_900)),
            "{db:?}"
        );
        assert_eq!(orders.granted_by(first.id).await.unwrap(), vec![granted[0].id]);
        assert_eq!(orders.find(first.id).await.unwrap().as_ref(), Some(&first));

        // Two upgrades at once both planning to use the same $49.00 credit: one wins.
        let uses = vec![PlannedUse {
            from: first.id,
            slug: "deploy-rollback-runbook".parse().unwrap(),
            amount: usd(4_900),
        }];
        let upgrade = order(
            ada,
            "bundle:incident-response-essentials",
            4_928,
            4_900,
            &[("deploy-rollback-runbook", 4_900), ("disk-full-recovery", 4_928)],
        );
        let (a, b) = tokio::join!(
            orders.record_paid(&upgrade, &uses, &[]),
            orders.record_paid(&upgrade, &uses, &[])
        );
        let results = [a, b];
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{db:?}: {results:?}");
        assert!(
            results.iter().any(|r| matches!(r, Err(RecordOrderError::CreditTaken))),
            "{db:?}: {results:?}"
        );
        let (list, used) = orders.history(ada).await.unwrap();
        assert_eq!(list.len(), 2, "the loser wrote nothing");
        assert_eq!(used.len(), 1);
        let winner = list[1].id;
        assert_eq!(used[0].by, winner);

        // A refund is recorded with the revocations it causes, atomically.
        let mut e = ents.find(granted[0].id).await.unwrap().unwrap();
        let audit = e.revoke(RevokeReason::Refund, Actor::System, "refund", at(2)).unwrap();
        orders
            .record_refund(first.id, usd(4_900), OrderStatus::Refunded, &[(e.clone(), audit)])
            .await
            .unwrap();
        assert_eq!(
            orders.find(first.id).await.unwrap().unwrap().status,
            OrderStatus::Refunded
        );
        assert!(!ents.find(e.id).await.unwrap().unwrap().is_effective(at(3)));
        assert!(orders.find(PurchaseId(987_654)).await.unwrap().is_none());
        assert!(
            orders
                .record_refund(PurchaseId(987_654), usd(1), OrderStatus::Refunded, &[])
                .await
                .is_err()
        );
    }
}

/// Abandoned local checkouts expire: only pending orders of that channel created before the
/// cut-off, with no payment started, are cancelled, and the credit they reserved is free again.
#[tokio::test]
async fn abandoned_pending_orders_expire_and_release_their_credit() {
    for db in test_support::databases().await {
        let conn = connect(&db.url, 2).await.unwrap();
        let orders = SqlOrderRepository::new(conn);
        let ada = Holder::User(UserId(1));
        let (paid, _) = orders
            .record_paid(
                &order(
                    ada,
                    "key:deploy-rollback-runbook",
                    4_900,
                    0,
                    &[("deploy-rollback-runbook", 4_900)],
                ),
                &[],
                &[grant(ada, "deploy-rollback-runbook")],
            )
            .await
            .unwrap();
        let uses = vec![PlannedUse {
            from: paid.id,
            slug: "deploy-rollback-runbook".parse().unwrap(),
            amount: usd(4_900),
        }];
        // One open checkout per holder and SKU: each pending order here buys a different SKU.
        let upgrade = |channel: Channel, hour: u32, sku: &str| NewOrder {
            channel,
            at: at(hour),
            ..order(
                ada,
                sku,
                4_928,
                4_900,
                &[("deploy-rollback-runbook", 4_900), ("disk-full-recovery", 4_928)],
            )
        };
        let old_local = orders
            .create_pending(
                &upgrade(Channel::Local, 1, "bundle:incident-response-essentials"),
                &uses,
            )
            .await
            .unwrap();
        // A second open checkout for the same SKU is refused…
        assert!(matches!(
            orders
                .create_pending(&upgrade(Channel::Local, 2, "bundle:incident-response-essentials"), &[])
                .await,
            Err(RecordOrderError::PendingExists(id)) if id == old_local.id
        ));
        // …and the credit is reserved by the pending order.
        assert!(matches!(
            orders
                .create_pending(&upgrade(Channel::Local, 2, "bundle:other-two"), &uses)
                .await,
            Err(RecordOrderError::CreditTaken)
        ));
        let stripe = orders
            .create_pending(&upgrade(Channel::Stripe, 1, "bundle:other-three"), &[])
            .await
            .unwrap();
        let new_local = orders
            .create_pending(&upgrade(Channel::Local, 5, "bundle:other-four"), &[])
            .await
            .unwrap();
        // A payment started (its intent recorded) on an old checkout: never expired under it,
        // and never cancelled.
        let started = orders
            .create_pending(&upgrade(Channel::Local, 1, "bundle:other-five"), &[])
            .await
            .unwrap();
        orders
            .set_refs(
                started.id,
                &upgrades::ports::PaymentRefs {
                    payment_intent: Some("pi_local_started".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

        assert_eq!(orders.expire_pending(Channel::Local, at(3)).await.unwrap(), 1, "{db:?}");
        assert_eq!(
            orders.expire_pending(Channel::Local, at(3)).await.unwrap(),
            0,
            "idempotent"
        );
        let status = |o: &upgrades::ports::Order| o.id;
        for (id, want) in [
            (status(&old_local), OrderStatus::Cancelled),
            (status(&stripe), OrderStatus::Pending),
            (status(&new_local), OrderStatus::Pending),
            (status(&started), OrderStatus::Pending),
            (paid.id, OrderStatus::Paid),
        ] {
            assert_eq!(
                orders.find(id).await.unwrap().unwrap().status,
                want,
                "{db:?}: order {id:?}"
            );
        }
        assert!(
            !orders.cancel_pending(started.id).await.unwrap(),
            "{db:?}: an order whose payment started is never cancelled"
        );
        assert!(
            !orders
                .start_payment(
                    started.id,
                    &upgrades::ports::PaymentRefs {
                        payment_intent: Some("pi_second".into()),
                        ..Default::default()
                    }
                )
                .await
                .unwrap(),
            "{db:?}: a payment starts once"
        );
        assert!(
            orders
                .start_payment(
                    new_local.id,
                    &upgrades::ports::PaymentRefs {
                        payment_intent: Some("pi_new".into()),
                        ..Default::default()
                    }
                )
                .await
                .unwrap()
        );
        assert!(!orders.cancel_pending(new_local.id).await.unwrap());
        assert!(
            orders.cancel_pending(stripe.id).await.unwrap(),
            "{db:?}: not started: cancellable"
        );
        // The released credit can be used again, and the SKU bought anew.
        orders
            .create_pending(
                &upgrade(Channel::Local, 6, "bundle:incident-response-essentials"),
                &uses,
            )
            .await
            .unwrap();
    }
}
