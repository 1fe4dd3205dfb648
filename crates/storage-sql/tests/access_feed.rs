//! The access-change feed on a real Postgres: every committed change to a session, a
//! membership, an entitlement (own or an organisation's) or an organisation's name names the
//! accounts it concerns, whoever wrote it (here: plain SQL); a rolled-back change names
//! nobody; heartbeats come back; SQLite has no feed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entitlements::UserId;
use entitlements::ports::AccessChanges;
use sea_orm::ConnectionTrait;
use storage_sql::{AccessFeed, connect};

#[derive(Default)]
struct Heard {
    changed: Mutex<Vec<i64>>,
    alive: Mutex<Vec<Instant>>,
    lost: Mutex<u32>,
}

impl AccessChanges for Heard {
    fn changed(&self, account: UserId) {
        self.changed.lock().unwrap().push(account.0);
    }
    fn alive(&self, sent: Instant) {
        self.alive.lock().unwrap().push(sent);
    }
    fn lost(&self) {
        *self.lost.lock().unwrap() += 1;
    }
}

impl Heard {
    /// Waits until a heartbeat sent at or after `sent` came back; returns the accounts named
    /// meanwhile (sorted, deduplicated) and forgets them.
    async fn after(&self, sent: Instant) -> Vec<i64> {
        for _ in 0..200 {
            if self.alive.lock().unwrap().iter().any(|a| *a >= sent) {
                let mut named = std::mem::take(&mut *self.changed.lock().unwrap());
                named.sort_unstable();
                named.dedup();
                return named;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no heartbeat came back within 2 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_access_changes_name_their_accounts_and_heartbeats_come_back() {
    let sqlite = test_support::sqlite_database();
    let db = connect(&sqlite.url, 2).await.unwrap();
    assert!(
        AccessFeed::start(&db, Arc::new(Heard::default())).is_none(),
        "SQLite has no notifications: no feed"
    );

    let Some(pg) = test_support::postgres_database().await else {
        return;
    };
    let db = connect(&pg.url, 4).await.unwrap();
    let heard = Arc::new(Heard::default());
    let feed = AccessFeed::start(&db, heard.clone()).expect("a feed on Postgres");
    let sync = feed.sync();
    let run = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.execute_unprepared(sql).await.unwrap();
        }
    };
    let now = "TIMESTAMPTZ '2026-12-03 12:00:00+00'";
    let later = "TIMESTAMPTZ '2026-12-10 12:00:00+00'";
    db.execute_unprepared(&format!(
        "INSERT INTO accounts (id, is_admin, email, password_hash, created_at) VALUES \
         (1, false, 'a@x.test', 'h', {now}), (2, false, 'b@x.test', 'h', {now}), (3, false, 'c@x.test', 'h', {now}); \
         INSERT INTO organisations (id, name, created_at) VALUES (7, 'Acme', {now}); \
         INSERT INTO sessions (token_digest, account_id, csrf_token, created_at, expires_at) VALUES \
         ('d1', 1, 'c', {now}, {later}), ('d3', 3, 'c', {now}, {later})"
    ))
    .await
    .unwrap();
    assert_eq!(
        heard.after(sync.sync().await.unwrap()).await,
        Vec::<i64>::new(),
        "new accounts and sessions concern nobody's cache"
    );

    run("INSERT INTO memberships (org_id, account_id, role, created_at) VALUES (7, 1, 'owner', now()), (7, 2, 'member', now())").await;
    assert_eq!(heard.after(sync.sync().await.unwrap()).await, [1, 2], "joined");

    run("UPDATE sessions SET revoked_at = now() WHERE token_digest = 'd3'").await;
    assert_eq!(heard.after(sync.sync().await.unwrap()).await, [3], "signed out");

    let grant = |holder_kind: &'static str, holder_id: i64| {
        let db = db.clone();
        async move {
            db.execute_unprepared(&format!(
                "INSERT INTO entitlements (holder_kind, holder_id, scope, source, term, status, period_end, granted_at, updated_at) \
                 VALUES ('{holder_kind}', {holder_id}, '{{\"key\":\"pg-failover\"}}', '\"manual_grant\"', '\"perpetual\"', '\"active\"', NULL, now(), now())"
            ))
            .await
            .unwrap();
        }
    };
    grant("organisation", 7).await;
    assert_eq!(
        heard.after(sync.sync().await.unwrap()).await,
        [1, 2],
        "an organisation's grant names every member"
    );
    grant("user", 3).await;
    assert_eq!(heard.after(sync.sync().await.unwrap()).await, [3], "a personal grant");
    run("UPDATE entitlements SET status = '{\"revoked\":{\"reason\":\"refund\"}}' WHERE holder_kind = 'user'").await;
    assert_eq!(heard.after(sync.sync().await.unwrap()).await, [3], "refunded");

    run("DELETE FROM memberships WHERE account_id = 2").await;
    assert_eq!(heard.after(sync.sync().await.unwrap()).await, [2], "removed member");

    run("UPDATE organisations SET name = 'Acme Ltd' WHERE id = 7").await;
    assert_eq!(
        heard.after(sync.sync().await.unwrap()).await,
        [1],
        "renamed: its members"
    );

    run("BEGIN; DELETE FROM sessions WHERE token_digest = 'd1'; ROLLBACK").await;
    assert_eq!(
        heard.after(sync.sync().await.unwrap()).await,
        Vec::<i64>::new(),
        "a rolled-back change names nobody"
    );

    assert_eq!(*heard.lost.lock().unwrap(), 0, "the feed never lost its connection");
    drop(feed);
}
