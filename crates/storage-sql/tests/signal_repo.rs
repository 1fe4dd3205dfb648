//! Discovery storage on SQLite and Postgres: signals and profiles by subject, the visitor →
//! account merge, clearing, retention, and co-purchase counts from paid orders.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use discovery::{Profile, Signal, SignalKind, SignalRepository, Subject};
use storage_sql::{SqlSignalRepository, connect};

fn at(d: i64) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        + Duration::days(d)
}

fn view(slug: &str, day: i64) -> Signal {
    Signal {
        kind: SignalKind::View(slug.parse().unwrap()),
        at: at(day),
    }
}

/// A subject's recent views since `since`, through `recall`.
async fn views(repo: &SqlSignalRepository, subject: &Subject, since: i64, limit: u64) -> Vec<Signal> {
    repo.recall(subject, at(since), limit).await.unwrap().views.to_vec()
}

/// A subject's saved profile, through `recall`.
async fn profile(repo: &SqlSignalRepository, subject: &Subject) -> Option<Profile> {
    repo.recall(subject, at(0), 10).await.unwrap().profile
}

#[tokio::test]
async fn signals_profiles_merge_clear_retention_and_co_purchases() {
    for db in test_support::databases().await {
        let conn = connect(&db.url, 2).await.unwrap();
        let repo = SqlSignalRepository::new(conn.clone());
        let visitor = Subject::Visitor("abc".into());
        let ada = Subject::User(1);
        repo.record(&visitor, &view("kit-one", 1)).await.unwrap();
        repo.record(&visitor, &view("kit-two", 2)).await.unwrap();
        repo.record(&ada, &view("kit-three", 3)).await.unwrap();
        let p = Profile {
            role: Some(catalog::Role::Sre),
            ..Profile::default()
        };
        repo.save_profile(&visitor, &p, at(2)).await.unwrap();
        assert_eq!(
            views(&repo, &visitor, 0, 10).await,
            vec![view("kit-two", 2), view("kit-one", 1)],
            "{db:?}: newest first"
        );
        assert_eq!(views(&repo, &visitor, 2, 10).await.len(), 1, "since");
        assert_eq!(views(&repo, &visitor, 0, 1).await.len(), 1, "limit");

        // Sign-in: the visitor's signals and profile become the account's.
        repo.merge(&visitor, &ada).await.unwrap();
        assert_eq!(views(&repo, &ada, 0, 10).await.len(), 3);
        assert!(views(&repo, &visitor, 0, 10).await.is_empty());
        assert_eq!(profile(&repo, &ada).await, Some(p.clone()));
        assert_eq!(profile(&repo, &visitor).await, None);
        // An account's own profile wins over a later visitor's.
        let other = Subject::Visitor("def".into());
        repo.save_profile(&other, &Profile::default(), at(4)).await.unwrap();
        repo.merge(&other, &ada).await.unwrap();
        assert_eq!(profile(&repo, &ada).await, Some(p));

        // Retention and clearing.
        assert_eq!(repo.purge(at(2)).await.unwrap(), 1);
        assert_eq!(views(&repo, &ada, 0, 10).await.len(), 2);
        repo.clear(&ada).await.unwrap();
        assert!(views(&repo, &ada, 0, 10).await.is_empty());
        assert_eq!(profile(&repo, &ada).await, None);

        // Co-purchases: holders who bought kit-one also bought kit-two (twice) and kit-three.
        use sea_orm::ConnectionTrait;
        for (holder, sku, status) in [
            (10, "key:kit-one", "paid"),
            (10, "key:kit-two", "paid"),
            (11, "key:kit-one", "paid"),
            (11, "key:kit-two", "paid"),
            (11, "key:kit-three", "refunded"),
            (12, "key:kit-one", "paid"),
            (12, "key:kit-three", "paid"),
            (13, "key:kit-two", "paid"),
        ] {
            conn.execute_unprepared(&format!(
                "INSERT INTO orders (holder_kind, holder_id, buyer_id, sku, status, currency, list_minor, due_minor, \
                 cash_paid_minor, credit_applied_minor, refunded_minor, allocations, quote, channel, created_at) \
                 VALUES ('user', {holder}, {holder}, '{sku}', '{status}', 'USD', 100, 100, 100, 0, 0, '[]', '', 'manual', '2026-11-01T00:00:00Z')"
            ))
            .await
            .unwrap();
        }
        let co = repo.co_purchases(&["kit-one".parse().unwrap()]).await.unwrap();
        let get = |s: &str| {
            co.get(&s.parse::<catalog::Slug>().unwrap())
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(get("kit-two"), vec![("kit-one".parse().unwrap(), 2)], "{db:?}: {co:?}");
        assert_eq!(
            get("kit-three"),
            vec![("kit-one".parse().unwrap(), 1)],
            "refunded orders do not count"
        );
        assert!(repo.co_purchases(&[]).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn recall_reads_the_profile_and_the_most_recent_views_in_one_go() {
    for db in test_support::databases().await {
        let conn = connect(&db.url, 2).await.unwrap();
        let repo = SqlSignalRepository::new(conn);
        let ada = Subject::User(7);
        let nobody = Subject::Visitor("none".into());
        assert_eq!(
            repo.recall(&nobody, at(0), 10).await.unwrap(),
            discovery::Recall::default()
        );

        // Only views count, newest first (a KEY viewed twice appears twice).
        for s in [
            view("kit-one", 1),
            view("kit-two", 2),
            view("kit-one", 3),
            view("kit-old", -5),
            Signal {
                kind: SignalKind::Purchase("kit-three".parse().unwrap()),
                at: at(4),
            },
            Signal {
                kind: SignalKind::Role(catalog::Role::Sre),
                at: at(4),
            },
        ] {
            repo.record(&ada, &s).await.unwrap();
        }
        repo.record(&Subject::User(8), &view("kit-four", 4)).await.unwrap();
        let got = repo.recall(&ada, at(0), 10).await.unwrap();
        assert_eq!(got.profile, None, "{db:?}");
        assert_eq!(
            got.views.to_vec(),
            vec![view("kit-one", 3), view("kit-two", 2), view("kit-one", 1)],
            "{db:?}"
        );
        assert_eq!(
            repo.recall(&ada, at(0), 1).await.unwrap().views.to_vec(),
            vec![view("kit-one", 3)],
            "limit"
        );
        assert_eq!(
            repo.recall(&ada, at(3), 10).await.unwrap().views.to_vec(),
            vec![view("kit-one", 3)],
            "since"
        );

        let p = Profile {
            role: Some(catalog::Role::Sre),
            intents: vec![catalog::Intent::RespondToIncidents],
            categories: vec![],
        };
        repo.save_profile(&ada, &p, at(5)).await.unwrap();
        let got = repo.recall(&ada, at(0), 10).await.unwrap();
        assert_eq!(got.profile, Some(p), "{db:?}");
        assert_eq!(got.views.len(), 3);

        // Merged visitor views are recalled under the account.
        let visitor = Subject::Visitor("v".into());
        repo.record(&visitor, &view("kit-five", 6)).await.unwrap();
        repo.merge(&visitor, &ada).await.unwrap();
        assert_eq!(
            repo.recall(&ada, at(0), 10).await.unwrap().views[0],
            view("kit-five", 6)
        );
    }
}

/// Signals stored before their kind and target had columns are filled in by the migration; a
/// malformed one does not stop it.
#[tokio::test]
async fn the_signal_columns_migration_fills_in_existing_rows() {
    use sea_orm::ConnectionTrait;
    use sea_orm_migration::MigratorTrait;
    for db in test_support::databases().await {
        let conn = sea_orm::Database::connect(&db.url).await.unwrap();
        migrations::Migrator::up(&conn, Some(11)).await.unwrap();
        conn.execute_unprepared(
            "INSERT INTO discovery_signals (subject, signal, at) VALUES \
             ('user:1', '{\"kind\":\"view\",\"value\":\"kit-one\"}', '2026-11-02T12:00:00+00:00'), \
             ('user:1', '{\"kind\":\"role\",\"value\":\"sre\"}', '2026-11-02T12:00:00+00:00'), \
             ('user:1', 'not json at all', '2026-11-02T12:00:00+00:00')",
        )
        .await
        .unwrap();
        migrations::Migrator::up(&conn, None).await.unwrap();
        let repo = SqlSignalRepository::new(conn);
        let got = repo.recall(&Subject::User(1), at(0), 10).await.unwrap();
        assert_eq!(got.views.to_vec(), vec![view("kit-one", 1)], "{db:?}");
    }
}

/// A buffered batch lands in one write (over 500 rows: several bounded inserts in one
/// transaction), readable like signals recorded one by one.
#[tokio::test]
async fn a_batch_of_signals_is_recorded_in_one_write() {
    for db in test_support::databases().await {
        let conn = connect(&db.url, 2).await.unwrap();
        let repo = SqlSignalRepository::new(conn);
        let ada = Subject::User(7);
        let batch: Vec<(Subject, Signal)> = (0..1_200)
            .map(|i| (ada.clone(), view(&format!("key-{i}"), i64::from(i % 20))))
            .collect();
        repo.record_many(&batch).await.unwrap();
        repo.record_many(&[]).await.unwrap();
        let seen = views(&repo, &ada, 0, 5_000).await;
        assert_eq!(seen.len(), 1_200, "{db:?}");
        assert_eq!(seen[0].at, at(19), "newest first");
    }
}
