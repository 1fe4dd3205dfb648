//! The catalog repository against real databases: SQLite always, Postgres when
//! `KEYS_TEST_DATABASE_URL` is set (CI sets it).

use std::sync::Arc;

use catalog::{
    ArchiveRef, CatalogRepository, KeyChange, KeyMetadata, KeyVersion, Kind, Preview, SaveKeyError, Tier, Version,
};
use chrono::{DateTime, NaiveDate, Utc};
use storage_sql::{SqlCatalogRepository, connect};

fn at(day: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, day)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
}

fn meta(slug: &str, kind: Kind) -> KeyMetadata {
    KeyMetadata {
        slug: slug.parse().unwrap(),
        name: format!("Name of {slug}"),
        kind,
        tier: Tier::Operator,
        summary: "Summary".into(),
        description: "Description".into(),
        roles: vec![catalog::Role::Sre],
        intents: vec![catalog::Intent::RespondToIncidents],
        categories: vec![catalog::Category::IncidentResponse],
        tags: vec!["postgres".into()],
    }
}

fn version(v: &str, sha: &str) -> KeyVersion {
    KeyVersion {
        version: v.parse().unwrap(),
        released_at: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        changelog: format!("Release {v}"),
        archive: ArchiveRef {
            object_key: catalog::archive_object_key(sha),
            sha256: sha.into(),
            size_bytes: 42,
            content_sha256: format!("content-{sha}"),
        },
        preview: Preview::default(),
    }
}

fn change(m: &KeyMetadata, versions: Vec<KeyVersion>, day: u32) -> KeyChange {
    KeyChange {
        meta: m.clone(),
        versions,
        at: at(day),
    }
}

async fn repos() -> Vec<(test_support::TestDatabase, SqlCatalogRepository)> {
    let mut out = Vec::new();
    for db in test_support::databases().await {
        let conn = connect(&db.url, 8).await.unwrap_or_else(|e| panic!("{db:?}: {e}"));
        out.push((db, SqlCatalogRepository::new(conn)));
    }
    out
}

#[tokio::test]
async fn save_find_list_and_revision() {
    for (db, repo) in repos().await {
        let m = meta("pg-failover", Kind::Runbook);
        let r0 = repo.revision().await.unwrap();
        let out = repo
            .save_key(&change(&m, vec![version("1.0.0", "aa")], 1))
            .await
            .unwrap();
        assert!(out.created, "{db:?}");
        assert_eq!(out.versions_added, vec![Version::new(1, 0, 0)]);
        assert_eq!(repo.revision().await.unwrap(), r0 + 1, "{db:?}");

        // Same again: nothing written, revision unchanged.
        let out = repo
            .save_key(&change(&m, vec![version("1.0.0", "aa")], 2))
            .await
            .unwrap();
        assert!(!out.changed(), "{db:?}: {out:?}");
        assert_eq!(repo.revision().await.unwrap(), r0 + 1);

        // A new version moves current forward.
        let out = repo
            .save_key(&change(&m, vec![version("1.0.0", "aa"), version("1.2.0", "bb")], 3))
            .await
            .unwrap();
        assert_eq!(out.versions_added, vec![Version::new(1, 2, 0)]);
        // An older version is kept but never becomes current.
        let out = repo
            .save_key(&change(&m, vec![version("1.1.0", "cc")], 4))
            .await
            .unwrap();
        assert_eq!(out.versions_added, vec![Version::new(1, 1, 0)]);
        let key = repo.find_key(&m.slug).await.unwrap().unwrap();
        assert_eq!(
            key.versions.iter().map(|v| v.version.to_string()).collect::<Vec<_>>(),
            ["1.0.0", "1.1.0", "1.2.0"]
        );
        assert_eq!(key.current().unwrap().version, Version::new(1, 2, 0));
        assert_eq!(key.meta, m);

        // Metadata change is an update.
        let mut m2 = m.clone();
        m2.summary = "New summary".into();
        m2.tier = Tier::Scale;
        let out = repo.save_key(&change(&m2, vec![], 5)).await.unwrap();
        assert!(out.metadata_changed && !out.created, "{db:?}");
        assert_eq!(repo.find_key(&m.slug).await.unwrap().unwrap().meta, m2);
        assert_eq!(repo.find_key(&m.slug).await.unwrap().unwrap().updated_at, at(5));

        let all = repo.list_keys().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].versions.len(), 3);
        assert!(repo.find_key(&"missing-key".parse().unwrap()).await.unwrap().is_none());
        repo.ping().await.unwrap();
    }
}

#[tokio::test]
async fn conflicts_write_nothing() {
    for (db, repo) in repos().await {
        let m = meta("next-kit", Kind::NodeNext);
        repo.save_key(&change(&m, vec![version("1.0.0", "aa")], 1))
            .await
            .unwrap();
        let before = repo.revision().await.unwrap();

        // Same version, other content, plus a new version and a metadata change: all refused.
        let mut m2 = m.clone();
        m2.name = "Renamed".into();
        let err = repo
            .save_key(&change(&m2, vec![version("2.0.0", "cc"), version("1.0.0", "bb")], 2))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SaveKeyError::VersionConflict { version, stored_sha256, new_sha256, .. }
                if *version == Version::new(1, 0, 0) && stored_sha256 == "aa" && new_sha256 == "bb"),
            "{db:?}: {err:?}"
        );
        let key = repo.find_key(&m.slug).await.unwrap().unwrap();
        assert_eq!(key.meta, m, "{db:?}: metadata must be untouched");
        assert_eq!(key.versions.len(), 1, "{db:?}: 2.0.0 must not be stored");
        assert_eq!(repo.revision().await.unwrap(), before);

        // Another kind under the same slug.
        let err = repo
            .save_key(&change(
                &meta("next-kit", Kind::Runbook),
                vec![version("3.0.0", "dd")],
                3,
            ))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SaveKeyError::KindChanged {
                    stored: Kind::NodeNext,
                    new: Kind::Runbook,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(repo.find_key(&m.slug).await.unwrap().unwrap().versions.len(), 1);
    }
}

/// Overlapping writers (as two ingest runs would be) end in the right state: every version
/// stored once, current = the newest, whatever the interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_saves_are_safe() {
    for (db, repo) in repos().await {
        let repo = Arc::new(repo);
        let m = meta("shared-key", Kind::Runbook);
        let mut tasks = Vec::new();
        for i in 0..12u32 {
            let repo = Arc::clone(&repo);
            let m = m.clone();
            tasks.push(tokio::spawn(async move {
                // Every writer offers 1.0.0 (same content) and its own version, newest last or first.
                let own = version(&format!("1.{}.0", 12 - i), &format!("sha{i}"));
                repo.save_key(&change(&m, vec![own, version("1.0.0", "base")], 1)).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap_or_else(|e| panic!("{db:?}: {e}"));
        }
        let key = repo.find_key(&m.slug).await.unwrap().unwrap();
        assert_eq!(key.versions.len(), 13, "{db:?}: 1.0.0 to 1.12.0 once each");
        assert_eq!(key.current().unwrap().version, Version::new(1, 12, 0));
        let listed = repo.list_keys().await.unwrap();
        assert_eq!(listed[0].current().unwrap().version, Version::new(1, 12, 0));
    }
}

/// Several processes starting at once against one fresh database all come up (migrations
/// are serialised).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_starts_migrate_once() {
    for db in test_support::databases().await {
        let starts: Vec<_> = (0..4).map(|_| connect(&db.url, 2)).collect();
        for r in futures::future::join_all(starts).await {
            let conn = r.unwrap_or_else(|e| panic!("{db:?}: {e}"));
            SqlCatalogRepository::new(conn).ping().await.unwrap();
        }
    }
}
