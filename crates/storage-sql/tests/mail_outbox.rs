//! The mail outbox against real databases (SQLite always, Postgres when configured): a dedupe
//! key is queued once; concurrent claimers get disjoint notices; a lease keeps others off until
//! it runs out; only the holder records the outcome; secrets are erased once sent or dead.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mail::ports::{Outbox, OutboxCounts};
use mail::{Notice, NoticeKind};
use storage_sql::{SqlOutbox, connect};

fn at(m: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 12, 3)
        .unwrap()
        .and_hms_opt(9, m, 0)
        .unwrap()
        .and_utc()
}

fn notice(i: i64) -> Notice {
    Notice {
        secret: Some(format!("rst_{i}")),
        ..Notice::about_order(NoticeKind::Receipt, 1, i, "", format!("receipt:order:{i}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notices_are_queued_once_claimed_by_one_worker_and_recorded_by_the_holder() {
    for db in test_support::databases().await {
        let conn = connect(&db.url, 8).await.unwrap();
        let outbox = Arc::new(SqlOutbox::new(conn));
        for i in 0..40 {
            assert!(outbox.enqueue(&notice(i), at(0)).await.unwrap(), "{db:?}");
        }
        assert!(
            !outbox.enqueue(&notice(3), at(0)).await.unwrap(),
            "{db:?}: same dedupe key"
        );

        // Four workers claim at once: every notice goes to exactly one of them.
        let claims = futures::future::join_all((0..4).map(|w| {
            let o = outbox.clone();
            async move {
                o.claim(&format!("w{w}"), at(1), Duration::seconds(120), 15)
                    .await
                    .unwrap()
            }
        }))
        .await;
        let mut seen = BTreeSet::new();
        for batch in &claims {
            for q in batch {
                assert!(seen.insert(q.id), "{db:?}: notice {} claimed twice", q.id);
            }
        }
        assert_eq!(seen.len(), 40, "{db:?}: all claimed");
        // Leased: nothing more to claim until the lease runs out.
        assert!(
            outbox
                .claim("w9", at(2), Duration::seconds(120), 50)
                .await
                .unwrap()
                .is_empty()
        );

        // Only the holder records; the first worker sends its first notice.
        let first = &claims.iter().find(|c| !c.is_empty()).unwrap()[0];
        let holder = claims.iter().position(|c| c.iter().any(|q| q.id == first.id)).unwrap();
        outbox.sent(first.id, "intruder", "nope", at(2)).await.unwrap();
        assert_eq!(outbox.counts().await.unwrap().sent, 0, "{db:?}: not the holder");
        outbox
            .sent(first.id, &format!("w{holder}"), "Your KEYS receipt", at(2))
            .await
            .unwrap();
        // Another fails for good (dead), another will be retried.
        let second = claims[holder].iter().find(|q| q.id != first.id);
        if let Some(second) = second {
            outbox
                .failed(second.id, &format!("w{holder}"), "550 no such user", None, at(2))
                .await
                .unwrap();
        }
        assert_eq!(
            outbox.counts().await.unwrap(),
            OutboxCounts {
                pending: 40 - 1 - u64::from(second.is_some()),
                sent: 1,
                dead: u64::from(second.is_some()),
            },
            "{db:?}"
        );
        // After the lease, the unsent ones are claimable again (a crashed worker's included),
        // the sent and dead ones never, and the sent one's secret is gone.
        let again = outbox.claim("w9", at(5), Duration::seconds(120), 100).await.unwrap();
        assert_eq!(again.len(), 40 - 1 - usize::from(second.is_some()), "{db:?}");
        assert!(again.iter().all(|q| q.id != first.id && q.notice.secret.is_some()));
        let failed = &again[0];
        outbox
            .failed(failed.id, "w9", "421 busy", Some(at(30)), at(5))
            .await
            .unwrap();
        let later = outbox.claim("w8", at(8), Duration::seconds(120), 100).await.unwrap();
        assert!(
            later.iter().all(|q| q.id != failed.id),
            "{db:?}: not before its retry time"
        );
        let retried = outbox.claim("w8", at(31), Duration::seconds(120), 100).await.unwrap();
        let r = retried
            .iter()
            .find(|q| q.id == failed.id)
            .expect("retried after its time");
        assert_eq!(r.attempts, 1, "{db:?}");
    }
}
