//! The entitlement repository against real databases: SQLite always, Postgres when configured.

use catalog::Tier;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use entitlements::ports::{EntitlementRepository, NewGrant};
use entitlements::*;
use storage_sql::{SqlEntitlementRepository, connect};

fn at(day: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, day)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc()
}

fn grant(holder: Holder, scope: Scope, source: Source, term: Term) -> NewGrant {
    NewGrant {
        holder,
        scope,
        source,
        term,
        actor: Actor::Admin { user: UserId(99) },
        cause: "support ticket 12".into(),
        at: at(1),
    }
}

#[tokio::test]
async fn grants_lookups_changes_and_audit_trail() {
    for db in test_support::databases().await {
        let repo = SqlEntitlementRepository::new(connect(&db.url, 4).await.unwrap());
        let pg = KeyRef {
            slug: "pg-failover".parse().unwrap(),
            tier: Tier::Scale,
        };
        let alice = UserId(1);
        let acme = OrgId(10);

        let own = repo
            .grant(&grant(
                Holder::User(alice),
                Scope::Key(pg.slug.clone()),
                Source::ManualGrant,
                Term::Perpetual,
            ))
            .await
            .unwrap();
        let org = repo
            .grant(&grant(
                Holder::Organisation(acme),
                Scope::Plan { tier: Tier::Scale },
                Source::Subscription,
                Term::TimeBound { period_end: at(20) },
            ))
            .await
            .unwrap();
        repo.grant(&grant(
            Holder::User(UserId(2)),
            Scope::Key(pg.slug.clone()),
            Source::Purchase,
            Term::Perpetual,
        ))
        .await
        .unwrap();
        assert_ne!(own.id, org.id, "{db:?}");

        let member = Principal {
            user: alice,
            organisations: vec![acme],
        };
        let mine = repo.for_principal(&member).await.unwrap();
        assert_eq!(
            mine,
            vec![own.clone(), org.clone()],
            "{db:?}: own and organisation's, nobody else's"
        );
        let removed = Principal {
            user: alice,
            organisations: vec![],
        };
        assert_eq!(repo.for_principal(&removed).await.unwrap(), vec![own.clone()]);
        assert_eq!(
            repo.for_holder(Holder::Organisation(acme)).await.unwrap(),
            vec![org.clone()]
        );

        // Past due, then renewed, then the subscription ends: each change persisted with its audit line.
        let mut sub = org.clone();
        let a1 = sub
            .mark_past_due(
                Duration::days(7),
                Actor::Stripe {
                    event_id: "evt_1".into(),
                },
                "invoice.payment_failed",
                at(20),
            )
            .unwrap();
        repo.update(&sub, &a1).await.unwrap();
        assert_eq!(
            repo.for_holder(Holder::Organisation(acme)).await.unwrap()[0].status,
            Status::PastDue {
                grace_until: at(27),
                unpaid_until: None
            }
        );
        let a2 = sub
            .renew(
                at(30),
                Actor::Stripe {
                    event_id: "evt_2".into(),
                },
                "invoice.paid",
                at(21),
            )
            .unwrap();
        repo.update(&sub, &a2).await.unwrap();
        let a3 = sub
            .revoke(
                RevokeReason::SubscriptionEnded,
                Actor::Stripe {
                    event_id: "evt_3".into(),
                },
                "customer.subscription.deleted",
                at(22),
            )
            .unwrap();
        repo.update(&sub, &a3).await.unwrap();
        let stored = repo.for_holder(Holder::Organisation(acme)).await.unwrap();
        assert_eq!(stored, vec![sub.clone()], "{db:?}");
        assert!(
            can_access(
                &member,
                &repo.for_principal(&member).await.unwrap(),
                &KeyRef {
                    slug: "other-key".parse().unwrap(),
                    tier: Tier::Starter
                },
                at(23)
            )
            .is_none()
        );
        assert_eq!(
            can_access(&member, &repo.for_principal(&member).await.unwrap(), &pg, at(23)).map(|e| e.id),
            Some(own.id)
        );

        let trail = repo.audit_trail(Holder::Organisation(acme)).await.unwrap();
        let actions: Vec<&AuditAction> = trail.iter().map(|a| &a.action).collect();
        assert_eq!(
            actions,
            vec![
                &AuditAction::Grant,
                &AuditAction::PastDue { grace_until: at(27) },
                &AuditAction::Renew { period_end: at(30) },
                &AuditAction::Revoke {
                    reason: RevokeReason::SubscriptionEnded
                },
            ],
            "{db:?}"
        );
        assert_eq!(trail[0].actor, Actor::Admin { user: UserId(99) });
        assert_eq!(trail[0].cause, "support ticket 12");
        assert_eq!(
            trail[3].actor,
            Actor::Stripe {
                event_id: "evt_3".into()
            }
        );

        // Updating an entitlement that does not exist writes nothing.
        let mut ghost = own.clone();
        ghost.id = EntitlementId(999_999);
        let audit = ghost.revoke(RevokeReason::Refund, Actor::System, "x", at(5)).unwrap();
        assert!(repo.update(&ghost, &audit).await.is_err());
        assert_eq!(
            repo.audit_trail(Holder::User(alice)).await.unwrap().len(),
            1,
            "{db:?}: no audit line for the failed update"
        );
    }
}
