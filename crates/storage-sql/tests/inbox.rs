//! The webhook inbox on SQLite and Postgres: intake is idempotent, an event whose order never
//! appears is retried with backoff and then parked as dead, an operator replays it, and the
//! grace sweep revokes a past-due subscription whose grace ran out.

use catalog::Tier;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use entitlements::ports::{EntitlementRepository, NewGrant};
use entitlements::{Actor, Holder, Scope, Source, Status, Term, UserId};
use payments::apply::Policy;
use payments::events::parse_envelope;
use payments::ports::InboxRepository;
use storage_sql::payments::SqlInbox;
use storage_sql::{SqlEntitlementRepository, connect};

fn at(h: i64) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, 5)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        + Duration::hours(h)
}

fn body(id: &str, kind: &str, object: serde_json::Value) -> String {
    serde_json::json!({"id": id, "type": kind, "created": 1, "data": {"object": object}}).to_string()
}

async fn store(inbox: &SqlInbox, payload: &str, now: DateTime<Utc>) -> bool {
    inbox
        .intake(&parse_envelope(payload.as_bytes()).unwrap(), payload, now)
        .await
        .unwrap()
}

#[tokio::test]
async fn retries_dead_letters_replay_and_the_grace_sweep() {
    for db in test_support::databases().await {
        let conn = connect(&db.url, 2).await.unwrap();
        let inbox = SqlInbox::new(conn.clone(), Policy::default(), 3);
        let orphan = body(
            "evt_orphan",
            "charge.refunded",
            serde_json::json!({"id": "ch_1", "amount": 100, "amount_refunded": 100, "refunded": true, "payment_intent": "pi_nobody"}),
        );
        assert!(store(&inbox, &orphan, at(0)).await, "{db:?}");
        assert!(
            !store(&inbox, &orphan, at(0)).await,
            "{db:?}: a second delivery is the same row"
        );

        // Attempt 1 fails (no order): retried after 2 s, not before.
        let p = inbox.process_next(at(0)).await.unwrap().unwrap();
        assert!(p.outcome.unwrap_err().contains("no order"), "{db:?}");
        assert!(inbox.process_next(at(0)).await.unwrap().is_none(), "backoff");
        let later = at(0) + Duration::seconds(3);
        assert!(inbox.process_next(later).await.unwrap().is_some());
        assert!(
            inbox.process_next(at(1)).await.unwrap().is_some(),
            "third and last attempt"
        );
        assert!(inbox.process_next(at(2)).await.unwrap().is_none(), "parked");
        let dead = inbox.list("dead", 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].event_id.as_str(), dead[0].attempts), ("evt_orphan", 3));
        assert!(
            dead[0].last_error.as_deref().unwrap_or("").contains("pi_nobody"),
            "{dead:?}"
        );

        // The operator replays it: pending again, applied by the next worker pass.
        assert!(inbox.replay("evt_orphan", at(3)).await.unwrap());
        assert!(!inbox.replay("evt_unknown", at(3)).await.unwrap());
        assert_eq!(inbox.list("pending", 10).await.unwrap().len(), 1);
        assert!(inbox.process_next(at(3)).await.unwrap().is_some());

        // Unknown types are stored as ignored and never processed.
        assert!(
            store(
                &inbox,
                &body("evt_x", "customer.created", serde_json::json!({"id": "cus_1"})),
                at(3)
            )
            .await
        );
        let counts = inbox.counts().await.unwrap();
        assert!(counts.contains(&("ignored".to_owned(), 1)), "{counts:?}");

        // The sweep: a past-due subscription whose grace ran out is revoked, others are not.
        let ents = SqlEntitlementRepository::new(conn);
        let grant = |user| NewGrant {
            holder: Holder::User(UserId(user)),
            scope: Scope::Plan { tier: Tier::Operator },
            source: Source::Subscription,
            term: Term::TimeBound { period_end: at(24) },
            actor: Actor::System,
            cause: "test".into(),
            at: at(0),
        };
        let mut late = ents.grant(&grant(1)).await.unwrap();
        let on_time = ents.grant(&grant(2)).await.unwrap();
        let audit = late
            .mark_past_due(Duration::days(7), Actor::System, "failed", at(1))
            .unwrap();
        ents.update(&late, &audit).await.unwrap();
        assert_eq!(inbox.sweep(at(24 + 7 * 24 - 1)).await.unwrap(), 0, "grace not over");
        assert_eq!(inbox.sweep(at(24 + 7 * 24)).await.unwrap(), 1);
        assert!(matches!(
            ents.find(late.id).await.unwrap().unwrap().status,
            Status::Revoked { .. }
        ));
        assert_eq!(ents.find(on_time.id).await.unwrap().unwrap().status, Status::Active);
        assert_eq!(inbox.sweep(at(24 * 30)).await.unwrap(), 0, "revoked once");
    }
}
