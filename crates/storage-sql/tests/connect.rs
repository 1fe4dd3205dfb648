//! Connection limits: on Postgres a statement past `statement_timeout` is cancelled by the
//! server (the request fails instead of holding a connection), while migrations at connect
//! are not limited; the operator counts (`ops`) read every state.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use storage_sql::connect_with;

#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_on_postgres() {
    let Some(db) = test_support::postgres_database().await else {
        assert!(!test_support::require_services(), "Postgres is required");
        return;
    };
    let limited = connect_with(&db.url, 2, Duration::from_secs(2), Some(Duration::from_millis(200)))
        .await
        .expect("migrations run without the limit");
    let err = limited
        .execute_unprepared("SELECT pg_sleep(1)")
        .await
        .expect_err("cancelled after 200 ms");
    assert!(err.to_string().contains("statement timeout"), "{err}");
    limited
        .execute_unprepared("SELECT pg_sleep(0.05)")
        .await
        .expect("a quick statement runs");
    // Without a limit the same statement completes.
    let free = connect_with(&db.url, 2, Duration::from_secs(2), None).await.unwrap();
    free.execute_unprepared("SELECT pg_sleep(0.3)").await.unwrap();
}

#[tokio::test]
async fn ops_counts_read_the_inbox_outbox_and_pool() {
    for db in test_support::databases().await {
        let conn = connect_with(&db.url, 3, Duration::from_secs(2), None).await.unwrap();
        let snap = storage_sql::ops::snapshot(&conn).await.unwrap();
        assert!(snap.inbox.is_empty() && snap.outbox.is_empty(), "{snap:?}");
        assert_eq!(snap.oldest_pending, None);
        let pool = storage_sql::ops::pool_stats(&conn);
        assert_eq!(pool.max, 3, "{db:?}");
        assert!(pool.idle <= pool.open);
    }
}
