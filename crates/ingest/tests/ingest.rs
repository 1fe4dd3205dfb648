//! Ingestion over valid and invalid fixtures, against real storage (SQLite always, Postgres
//! when configured) and a local object store.

use std::path::Path;
use std::sync::Arc;

use blob_store::{BlobConfig, ObjectArchiveStore};
use catalog::{ArchiveStore, CatalogRepository, FixedClock, Kind, Version};
use ingest::{IngestOptions, IngestReport, Ingestor, Limits, NoProgress, Outcome};
use storage_sql::SqlCatalogRepository;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .to_utc()
}

struct Env {
    _db: test_support::TestDatabase,
    _objects: tempfile::TempDir,
    repo: Arc<SqlCatalogRepository>,
    store: Arc<ObjectArchiveStore>,
    ingestor: Ingestor,
}

async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    for db in test_support::databases().await {
        let repo = Arc::new(SqlCatalogRepository::new(
            storage_sql::connect(&db.url, 4).await.unwrap(),
        ));
        let objects = tempfile::tempdir().unwrap();
        let store = Arc::new(
            ObjectArchiveStore::new(&BlobConfig::Local {
                root: objects.path().to_path_buf(),
            })
            .unwrap(),
        );
        let ingestor = Ingestor::new(repo.clone(), store.clone(), Arc::new(FixedClock(now())));
        out.push(Env {
            _db: db,
            _objects: objects,
            repo,
            store,
            ingestor,
        });
    }
    out
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn key_toml(slug: &str, kind: &str, versions: &[&str]) -> String {
    let mut s = format!(
        "slug = \"{slug}\"\nname = \"Name {slug}\"\nkind = \"{kind}\"\nsummary = \"Summary.\"\ndescription = \"Description.\"\n\
tier = \"operator\"\nroles = [\"sre\"]\nintents = [\"respond-to-incidents\"]\ncategories = [\"incident-response\"]\ntags = [\"x\"]\n"
    );
    for v in versions {
        s.push_str(&format!("\n[[versions]]\nversion = \"{v}\"\nreleased_at = \"2026-01-02\"\npreview = [\"README.md\"]\nchangelog = \"Release {v}.\"\n"));
    }
    s
}

const NOTEBOOK: &str = r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
 {"id": "c1", "cell_type": "markdown", "metadata": {}, "source": ["Cohort analysis"]},
 {"id": "c2", "cell_type": "code", "metadata": {}, "execution_count": null, "outputs": [], "source": ["1 + 1"]}]}"#;

fn jupyter_section(slug: &str) -> String {
    format!(
        "## {slug}\n\n- name: Name {slug}\n- summary: Summary.\n- tier: starter\n- roles: analyst\n- intents: analyze-data\n\
- categories: data-analysis\n\nDescription.\n\n### 1.0.0\n\n- released_at: 2026-01-02\n- files: 1.0.0/a.ipynb\n\
- preview: 1.0.0/a.ipynb\n- changelog: First.\n\n"
    )
}

/// A valid assets tree: two node-next, one runbook (two versions), two Jupyter KEYS.
fn good_assets(root: &Path) {
    for slug in ["next-alpha", "next-beta"] {
        write(
            &root.join(format!("node-next-keys/{slug}/key.toml")),
            &key_toml(slug, "node-next", &["1.0.0"]),
        );
        write(
            &root.join(format!("node-next-keys/{slug}/1.0.0/README.md")),
            &format!("# {slug}\n"),
        );
        write(
            &root.join(format!("node-next-keys/{slug}/1.0.0/src/index.ts")),
            "export const x = 1;\n",
        );
    }
    write(
        &root.join("runbook-keys/rb-gamma/key.toml"),
        &key_toml("rb-gamma", "runbook", &["1.0.0", "1.1.0"]),
    );
    for v in ["1.0.0", "1.1.0"] {
        write(
            &root.join(format!("runbook-keys/rb-gamma/{v}/README.md")),
            &format!("# Runbook {v}\n## Detect\n"),
        );
    }
    let mut lib = String::from("# Library\n\n");
    for slug in ["nb-delta", "nb-epsilon"] {
        lib.push_str(&jupyter_section(slug));
        write(&root.join(format!("jupyter-keys/{slug}/1.0.0/a.ipynb")), NOTEBOOK);
    }
    write(&root.join("jupyter-keys/JUPYTER_KEYS_LIBRARY.md"), &lib);
}

/// A folder beside the assets tree (outside every KEY folder) with one file in it.
fn outside_dir(root: &Path) -> std::path::PathBuf {
    let dir = root
        .parent()
        .unwrap()
        .join(format!("{}-outside", root.file_name().unwrap().to_string_lossy()));
    write(&dir.join("secret.txt"), "not for sale\n");
    dir
}

async fn run(env: &Env, root: &Path, dry_run: bool) -> IngestReport {
    let opts = IngestOptions {
        dry_run,
        limits: Limits {
            max_file_bytes: 4096,
            max_version_bytes: 1 << 20,
        },
        concurrency: 4,
    };
    env.ingestor.run(root, opts, &NoProgress).await.unwrap()
}

fn outcome<'a>(r: &'a IngestReport, slug: &str) -> &'a ingest::KeyReport {
    r.keys
        .iter()
        .find(|k| k.slug == slug)
        .unwrap_or_else(|| panic!("{slug} not in report {r:#?}"))
}

#[tokio::test]
async fn good_assets_ingest_then_rerun_is_a_no_op() {
    for env in envs().await {
        let dir = tempfile::tempdir().unwrap();
        good_assets(dir.path());

        let dry = run(&env, dir.path(), true).await;
        assert_eq!((dry.added, dry.rejected), (5, 0), "{dry:#?}");
        assert!(env.repo.list_keys().await.unwrap().is_empty(), "dry run writes nothing");

        let first = run(&env, dir.path(), false).await;
        assert_eq!(
            (first.added, first.updated, first.unchanged, first.rejected),
            (5, 0, 0, 0),
            "{first:#?}"
        );
        let keys = env.repo.list_keys().await.unwrap();
        assert_eq!(keys.len(), 5);
        let rb = env.repo.find_key(&"rb-gamma".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(rb.current().unwrap().version, Version::new(1, 1, 0));
        assert_eq!(rb.versions.len(), 2);
        assert_eq!(rb.current().unwrap().preview.outline.len(), 2);
        // The archive is stored under its content address and verifies.
        let v = rb.current().unwrap();
        let bytes = env.store.get(&v.archive.object_key).await.unwrap();
        assert_eq!(ingest::package::sha256_hex(&bytes), v.archive.sha256);
        assert_eq!(bytes.len() as u64, v.archive.size_bytes);
        let nb = env.repo.find_key(&"nb-delta".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(nb.meta.kind, Kind::Jupyter);
        assert_eq!(
            nb.current().unwrap().preview.notebook_cells[0].source,
            "Cohort analysis"
        );

        let revision = env.repo.revision().await.unwrap();
        let again = run(&env, dir.path(), false).await;
        assert_eq!((again.added, again.updated, again.unchanged), (0, 0, 5), "{again:#?}");
        assert_eq!(
            env.repo.revision().await.unwrap(),
            revision,
            "unchanged re-run writes nothing"
        );

        // A new version and a metadata edit are updates; an older version never becomes current.
        write(
            &dir.path().join("runbook-keys/rb-gamma/key.toml"),
            &key_toml("rb-gamma", "runbook", &["1.0.0", "1.1.0", "0.9.0"]),
        );
        write(&dir.path().join("runbook-keys/rb-gamma/0.9.0/README.md"), "# Old\n");
        let older = run(&env, dir.path(), false).await;
        assert_eq!(outcome(&older, "rb-gamma").outcome, Outcome::Updated);
        assert_eq!(outcome(&older, "rb-gamma").versions_added, vec!["0.9.0"]);
        let rb = env.repo.find_key(&"rb-gamma".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(rb.current().unwrap().version, Version::new(1, 1, 0));
        assert_eq!(rb.versions.len(), 3);
    }
}

/// One bad KEY per rule: the report names file, field and reason; the others still ingest; the
/// bad one writes nothing.
#[tokio::test]
async fn every_rule_rejects_with_file_field_and_reason() {
    type Breaker = fn(&Path);
    let cases: Vec<(&str, Breaker, &str, &str, Option<&str>, &str)> = vec![
        (
            "unknown field",
            |r| {
                let p = r.join("node-next-keys/next-alpha/key.toml");
                write(
                    &p,
                    &format!("colour = \"red\"\n{}", std::fs::read_to_string(&p).unwrap()),
                );
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("colour"),
            "unknown field `colour`",
        ),
        (
            "missing field",
            |r| {
                let p = r.join("node-next-keys/next-alpha/key.toml");
                write(
                    &p,
                    &std::fs::read_to_string(&p)
                        .unwrap()
                        .replace("summary = \"Summary.\"\n", ""),
                );
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("summary"),
            "missing field `summary`",
        ),
        (
            "bad slug",
            |r| {
                std::fs::rename(r.join("node-next-keys/next-alpha"), r.join("node-next-keys/Next_Alpha")).unwrap();
                let p = r.join("node-next-keys/Next_Alpha/key.toml");
                write(
                    &p,
                    &std::fs::read_to_string(&p)
                        .unwrap()
                        .replace("slug = \"next-alpha\"", "slug = \"Next_Alpha\""),
                );
            },
            "Next_Alpha",
            "node-next-keys/Next_Alpha/key.toml",
            Some("slug"),
            "lowercase letters",
        ),
        (
            "bad semver",
            |r| {
                let p = r.join("node-next-keys/next-alpha/key.toml");
                write(
                    &p,
                    &std::fs::read_to_string(&p)
                        .unwrap()
                        .replace("version = \"1.0.0\"", "version = \"1.0\""),
                );
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("versions[0].version"),
            "MAJOR.MINOR.PATCH",
        ),
        (
            "unknown tier",
            |r| {
                let p = r.join("node-next-keys/next-alpha/key.toml");
                write(
                    &p,
                    &std::fs::read_to_string(&p)
                        .unwrap()
                        .replace("tier = \"operator\"", "tier = \"platinum\""),
                );
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("tier"),
            "unknown variant `platinum`",
        ),
        (
            "unknown kind",
            |r| {
                let p = r.join("node-next-keys/next-alpha/key.toml");
                write(
                    &p,
                    &std::fs::read_to_string(&p)
                        .unwrap()
                        .replace("kind = \"node-next\"", "kind = \"video\""),
                );
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("kind"),
            "unknown variant `video`",
        ),
        (
            "duplicate slug across sources",
            |r| {
                write(
                    &r.join("runbook-keys/nb-delta/key.toml"),
                    &key_toml("nb-delta", "runbook", &["1.0.0"]),
                );
                write(&r.join("runbook-keys/nb-delta/1.0.0/README.md"), "# dup\n");
            },
            "nb-delta",
            "runbook-keys/nb-delta/key.toml",
            Some("slug"),
            "also used by jupyter-keys/JUPYTER_KEYS_LIBRARY.md",
        ),
        (
            "preview outside the folder",
            |r| {
                let p = r.join("node-next-keys/next-alpha/key.toml");
                write(
                    &p,
                    &std::fs::read_to_string(&p)
                        .unwrap()
                        .replace("preview = [\"README.md\"]", "preview = [\"../../x\"]"),
                );
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("versions[0].preview[0]"),
            "outside the KEY folder",
        ),
        (
            "absolute path",
            |r| {
                let p = r.join("node-next-keys/next-alpha/key.toml");
                write(
                    &p,
                    &std::fs::read_to_string(&p)
                        .unwrap()
                        .replace("preview = [\"README.md\"]", "preview = [\"/etc/passwd\"]"),
                );
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("versions[0].preview[0]"),
            "relative path",
        ),
        (
            "jupyter file outside the KEY folder",
            |r| {
                let p = r.join("jupyter-keys/JUPYTER_KEYS_LIBRARY.md");
                write(
                    &p,
                    &std::fs::read_to_string(&p).unwrap().replacen(
                        "- files: 1.0.0/a.ipynb",
                        "- files: 1.0.0/a.ipynb, 1.0.0/../../../etc/passwd",
                        1,
                    ),
                );
            },
            "nb-delta",
            "jupyter-keys/JUPYTER_KEYS_LIBRARY.md",
            Some("versions[0].files[1]"),
            "outside the KEY folder",
        ),
        (
            "symlink that escapes",
            |r| {
                std::os::unix::fs::symlink("/etc/hostname", r.join("node-next-keys/next-alpha/1.0.0/leak.txt"))
                    .unwrap();
            },
            "next-alpha",
            "node-next-keys/next-alpha/1.0.0/leak.txt",
            None,
            "symlink points outside the KEY folder",
        ),
        (
            "version folder that is a symlink",
            |r| {
                let outside = outside_dir(r);
                std::fs::remove_dir_all(r.join("node-next-keys/next-alpha/1.0.0")).unwrap();
                std::os::unix::fs::symlink(&outside, r.join("node-next-keys/next-alpha/1.0.0")).unwrap();
            },
            "next-alpha",
            "node-next-keys/next-alpha/1.0.0",
            Some("versions[0].version"),
            "must not be a symlink",
        ),
        (
            "symlinked folder inside a version",
            |r| {
                std::os::unix::fs::symlink(outside_dir(r), r.join("node-next-keys/next-alpha/1.0.0/lib")).unwrap();
            },
            "next-alpha",
            "node-next-keys/next-alpha/1.0.0/lib",
            None,
            "symlinked folders are not allowed",
        ),
        (
            "KEY folder that is a symlink",
            |r| {
                let outside = outside_dir(r);
                write(&outside.join("key.toml"), &key_toml("rb-link", "runbook", &["1.0.0"]));
                write(&outside.join("1.0.0/README.md"), "# x\n");
                std::os::unix::fs::symlink(&outside, r.join("runbook-keys/rb-link")).unwrap();
            },
            "rb-link",
            "runbook-keys/rb-link",
            None,
            "must not be a symlink",
        ),
        (
            "jupyter file behind a symlinked folder",
            |r| {
                let outside = outside_dir(r);
                write(&outside.join("b.ipynb"), NOTEBOOK);
                std::os::unix::fs::symlink(&outside, r.join("jupyter-keys/nb-delta/1.0.0/sub")).unwrap();
                let p = r.join("jupyter-keys/JUPYTER_KEYS_LIBRARY.md");
                write(
                    &p,
                    &std::fs::read_to_string(&p).unwrap().replacen(
                        "- files: 1.0.0/a.ipynb",
                        "- files: 1.0.0/a.ipynb, 1.0.0/sub/b.ipynb",
                        1,
                    ),
                );
            },
            "nb-delta",
            "jupyter-keys/nb-delta/1.0.0/sub/b.ipynb",
            None,
            "outside the KEY folder",
        ),
        (
            "oversize version",
            |r| {
                for i in 0..300 {
                    write(
                        &r.join(format!("node-next-keys/next-alpha/1.0.0/data/f{i}.txt")),
                        &"y".repeat(4000),
                    );
                }
            },
            "next-alpha",
            "node-next-keys/next-alpha/1.0.0",
            None,
            "over the 1048576 byte limit",
        ),
        (
            "oversize file",
            |r| {
                write(&r.join("node-next-keys/next-alpha/1.0.0/big.bin"), &"x".repeat(5000));
            },
            "next-alpha",
            "node-next-keys/next-alpha/1.0.0/big.bin",
            None,
            "over the 4096 byte limit",
        ),
        (
            "malformed notebook",
            |r| {
                write(
                    &r.join("jupyter-keys/nb-delta/1.0.0/a.ipynb"),
                    "{\"nbformat\": 3, \"cells\": []}",
                );
            },
            "nb-delta",
            "jupyter-keys/nb-delta/1.0.0/a.ipynb",
            None,
            "malformed notebook: notebook has nbformat 3",
        ),
        (
            "malformed markdown section",
            |r| {
                let p = r.join("jupyter-keys/JUPYTER_KEYS_LIBRARY.md");
                write(
                    &p,
                    &std::fs::read_to_string(&p).unwrap().replacen(
                        "- changelog: First.",
                        "- changelog: First.\nstray words",
                        1,
                    ),
                );
            },
            "nb-delta",
            "jupyter-keys/JUPYTER_KEYS_LIBRARY.md",
            None,
            "unexpected text in a version subsection",
        ),
        (
            "missing version folder",
            |r| {
                std::fs::remove_dir_all(r.join("node-next-keys/next-alpha/1.0.0")).unwrap();
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            Some("versions[0].version"),
            "version folder `1.0.0/` is missing",
        ),
        (
            "an environment file with secrets",
            |r| {
                write(
                    &r.join("node-next-keys/next-alpha/1.0.0/.env"),
                    "STRIPE_SECRET_KEY=sk_live_x\n",
                );
                // Placeholders and ordinary dotfiles stay allowed next to it.
                write(
                    &r.join("node-next-keys/next-alpha/1.0.0/.env.example"),
                    "STRIPE_SECRET_KEY=\n",
                );
                write(&r.join("node-next-keys/next-alpha/1.0.0/.nvmrc"), "20\n");
                write(&r.join("node-next-keys/next-alpha/1.0.0/.gitignore"), "node_modules\n");
            },
            "next-alpha",
            "node-next-keys/next-alpha/1.0.0/.env",
            Some("files"),
            "environment file with real secrets",
        ),
        (
            "a private key",
            |r| {
                write(
                    &r.join("runbook-keys/rb-gamma/1.0.0/deploy/id_rsa"),
                    "-----BEGIN OPENSSH PRIVATE KEY-----\n",
                );
            },
            "rb-gamma",
            "runbook-keys/rb-gamma/1.0.0/deploy/id_rsa",
            Some("files"),
            "SSH private key",
        ),
        (
            "a certificate bundle in a notebook pack",
            |r| {
                write(
                    &r.join("jupyter-keys/nb-delta/1.0.0/client.pem"),
                    "-----BEGIN PRIVATE KEY-----\n",
                );
                let p = r.join("jupyter-keys/JUPYTER_KEYS_LIBRARY.md");
                write(
                    &p,
                    &std::fs::read_to_string(&p).unwrap().replacen(
                        "- files: 1.0.0/a.ipynb",
                        "- files: 1.0.0/a.ipynb, 1.0.0/client.pem",
                        1,
                    ),
                );
            },
            "nb-delta",
            "jupyter-keys/nb-delta/1.0.0/client.pem",
            Some("versions[0].files[1]"),
            "private key or certificate bundle",
        ),
        (
            "missing manifest",
            |r| {
                std::fs::remove_file(r.join("node-next-keys/next-alpha/key.toml")).unwrap();
            },
            "next-alpha",
            "node-next-keys/next-alpha/key.toml",
            None,
            "every KEY folder needs a key.toml",
        ),
    ];
    let envs = envs().await;
    for (name, breaker, slug, file, field, reason) in cases {
        for env in &envs {
            let dir = tempfile::tempdir().unwrap();
            good_assets(dir.path());
            breaker(dir.path());
            let before = env.repo.list_keys().await.unwrap();
            let report = run(env, dir.path(), false).await;
            let bad = outcome(&report, slug);
            assert_eq!(bad.outcome, Outcome::Rejected, "{name}: {report:#?}");
            assert!(
                bad.errors
                    .iter()
                    .any(|e| e.file == file && e.field.as_deref() == field && e.reason.contains(reason)),
                "{name}: want {file} {field:?} {reason:?}, got {:#?}",
                bad.errors
            );
            assert!(report.has_rejections());
            // Every other KEY went through; the rejected one wrote nothing.
            assert_eq!(
                report.rejected,
                if name == "duplicate slug across sources" { 2 } else { 1 },
                "{name}: {report:#?}"
            );
            let after = env.repo.list_keys().await.unwrap();
            let had = before.iter().any(|k| k.meta.slug.as_str() == slug);
            assert_eq!(
                after.iter().any(|k| k.meta.slug.as_str() == slug),
                had,
                "{name}: rejected KEY must write nothing"
            );
            assert!(
                after.len() >= 4 - usize::from(name.starts_with("duplicate")),
                "{name}: others ingest"
            );
        }
    }
}

#[tokio::test]
async fn changed_content_under_a_released_version_is_a_conflict() {
    for env in envs().await {
        let dir = tempfile::tempdir().unwrap();
        good_assets(dir.path());
        run(&env, dir.path(), false).await;
        let before = env.repo.find_key(&"next-beta".parse().unwrap()).await.unwrap().unwrap();
        write(
            &dir.path().join("node-next-keys/next-beta/1.0.0/src/index.ts"),
            "export const x = 2;\n",
        );
        let p = dir.path().join("node-next-keys/next-beta/key.toml");
        write(
            &p,
            &std::fs::read_to_string(&p)
                .unwrap()
                .replace("Summary.", "Changed summary."),
        );
        let report = run(&env, dir.path(), false).await;
        let r = outcome(&report, "next-beta");
        assert_eq!(r.outcome, Outcome::Rejected);
        assert_eq!(r.errors[0].field.as_deref(), Some("versions[0].version"));
        assert!(
            r.errors[0].reason.contains("released versions are immutable"),
            "{:?}",
            r.errors
        );
        let after = env.repo.find_key(&"next-beta".parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(after, before, "a refused KEY keeps its metadata too");
    }
}

/// A version released in the first archive layout (flat entries dated 1970) is recognised as
/// unchanged, not refused as "different content": released archives are never repacked.
#[tokio::test]
async fn versions_released_in_the_first_archive_layout_stay_unchanged() {
    for env in envs().await {
        let dir = tempfile::tempdir().unwrap();
        good_assets(dir.path());
        run(&env, dir.path(), false).await;
        let folder = dir.path().join("node-next-keys/next-beta/1.0.0");
        let files: Vec<ingest::source::SourceFile> = ["README.md", "src/index.ts"]
            .iter()
            .map(|p| ingest::source::SourceFile {
                archive_path: (*p).to_owned(),
                disk_path: folder.join(p),
                executable: false,
            })
            .collect();
        let legacy = ingest::package::legacy_content_sha256(&files).unwrap();
        test_support::execute(
            &env._db.url,
            &format!(
                "UPDATE key_versions SET content_sha256 = '{legacy}' WHERE version = '1.0.0' AND key_id = (SELECT id FROM keys WHERE slug = 'next-beta')"
            ),
        )
        .await;
        let report = run(&env, dir.path(), false).await;
        let r = outcome(&report, "next-beta");
        assert_eq!(r.outcome, Outcome::Unchanged, "{r:#?}");
        // A real change is still refused.
        write(
            &dir.path().join("node-next-keys/next-beta/1.0.0/src/index.ts"),
            "export const x = 3;\n",
        );
        let report = run(&env, dir.path(), false).await;
        assert_eq!(outcome(&report, "next-beta").outcome, Outcome::Rejected);
    }
}

/// Two runs over the same tree at once end as one run would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_runs_are_safe() {
    for env in envs().await {
        let dir = tempfile::tempdir().unwrap();
        good_assets(dir.path());
        let (a, b) = tokio::join!(run(&env, dir.path(), false), run(&env, dir.path(), false));
        assert_eq!(a.rejected + b.rejected, 0, "{a:#?} {b:#?}");
        assert_eq!(
            a.added + b.added,
            5,
            "each KEY is added by exactly one run: {a:#?} {b:#?}"
        );
        let keys = env.repo.list_keys().await.unwrap();
        assert_eq!(keys.len(), 5);
        assert_eq!(keys.iter().map(|k| k.versions.len()).sum::<usize>(), 6);
    }
}

/// The shipped sample catalog is valid: every KEY ingests, at least 8 of each kind, some with
/// several versions.
#[tokio::test]
async fn shipped_keys_assets_ingest_without_rejections() {
    let env = envs().await.remove(0);
    let report = env
        .ingestor
        .run(
            &test_support::repo_assets_dir(),
            IngestOptions {
                concurrency: 4,
                ..IngestOptions::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
    let rejected: Vec<_> = report.keys.iter().filter(|k| k.outcome == Outcome::Rejected).collect();
    assert!(rejected.is_empty(), "{rejected:#?}");
    let keys = env.repo.list_keys().await.unwrap();
    for kind in Kind::ALL {
        let n = keys.iter().filter(|k| k.meta.kind == *kind).count();
        assert!(n >= 8, "{kind}: only {n} KEYS");
        assert!(
            keys.iter().any(|k| k.meta.kind == *kind && k.versions.len() >= 2),
            "{kind}: none with two versions"
        );
    }
}

#[tokio::test]
async fn synthetic_catalog_is_valid() {
    let env = envs().await.remove(0);
    let dir = tempfile::tempdir().unwrap();
    ingest::synthetic::generate(dir.path(), 60, 7).unwrap();
    let report = run(&env, dir.path(), false).await;
    assert_eq!((report.added, report.rejected), (60, 0), "{report:#?}");
}

/// With the domain's mock ports (no database): a storage failure while saving rejects that KEY
/// with the reason, after the archive was stored and verified.
#[tokio::test]
async fn storage_failure_is_reported_per_key() {
    use catalog::StorageError;
    use catalog::ports::{MockArchiveStore, MockCatalogRepository};
    let dir = tempfile::tempdir().unwrap();
    good_assets(dir.path());
    let mut repo = MockCatalogRepository::new();
    repo.expect_list_keys().returning(|| Ok(Vec::new()));
    repo.expect_documents().returning(|| Ok(Vec::new()));
    repo.expect_replace_documents().times(1).returning(|docs| {
        assert!(docs.is_empty(), "these assets have no pricing file or bundles");
        Ok(false)
    });
    repo.expect_save_key().returning(|c| {
        if c.meta.slug.as_str() == "next-beta" {
            Err(StorageError("disk full".into()).into())
        } else {
            Ok(catalog::SaveOutcome {
                created: true,
                ..Default::default()
            })
        }
    });
    let stored = Arc::new(std::sync::Mutex::new(
        std::collections::HashMap::<String, Vec<u8>>::new(),
    ));
    let mut store = MockArchiveStore::new();
    let (s1, s2, s3) = (stored.clone(), stored.clone(), stored.clone());
    store
        .expect_exists()
        .returning(move |k| Ok(s1.lock().unwrap().contains_key(k)));
    store.expect_put().returning(move |k, b| {
        s2.lock().unwrap().insert(k.to_owned(), b);
        Ok(())
    });
    store.expect_get().returning(move |k| Ok(s3.lock().unwrap()[k].clone()));
    let ingestor = Ingestor::new(Arc::new(repo), Arc::new(store), Arc::new(FixedClock(now())));
    let report = ingestor
        .run(
            dir.path(),
            IngestOptions {
                concurrency: 2,
                ..Default::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
    let beta = outcome(&report, "next-beta");
    assert_eq!(beta.outcome, Outcome::Rejected);
    assert!(beta.errors[0].reason.contains("disk full"), "{:?}", beta.errors);
    assert_eq!(report.added, 4);
    // 6 versions in 6 archives: the two Jupyter KEYS ship the same notebook, but each archive
    // unpacks into a folder named after its own KEY, so their contents differ.
    assert_eq!(stored.lock().unwrap().len(), 6, "every distinct archive stored once");
}

/// Ingestion into a real S3-compatible bucket (s3s-fs): archives land under their content
/// address and verify; presigned links to them work.
#[tokio::test]
async fn ingest_into_s3() {
    let Some(ep) = test_support::s3_endpoint() else { return };
    let db = test_support::sqlite_database();
    let repo = Arc::new(SqlCatalogRepository::new(
        storage_sql::connect(&db.url, 4).await.unwrap(),
    ));
    let store = Arc::new(
        ObjectArchiveStore::new(&BlobConfig::S3 {
            bucket: ep.bucket.clone(),
            region: "us-east-1".into(),
            endpoint: Some(ep.endpoint.clone()),
            access_key_id: ep.access_key.clone(),
            secret_access_key: ep.secret_key.clone().into(),
            allow_http: true,
        })
        .unwrap(),
    );
    let ingestor = Ingestor::new(repo.clone(), store.clone(), Arc::new(FixedClock(now())));
    let dir = tempfile::tempdir().unwrap();
    good_assets(dir.path());
    let report = ingestor
        .run(
            dir.path(),
            IngestOptions {
                concurrency: 4,
                ..Default::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!((report.added, report.rejected), (5, 0), "{report:#?}");
    for key in repo.list_keys().await.unwrap() {
        for v in &key.versions {
            let bytes = store.get(&v.archive.object_key).await.unwrap();
            assert_eq!(ingest::package::sha256_hex(&bytes), v.archive.sha256);
        }
    }
    let again = ingestor
        .run(
            dir.path(),
            IngestOptions {
                concurrency: 4,
                ..Default::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
    assert_eq!(again.unchanged, 5);
}

const PRICING: &str = "currency = \"USD\"\n[single]\nstarter = \"19.00\"\noperator = \"49.00\"\nscale = \"99.00\"\nenterprise = \"249.00\"\n\
[overrides]\nnext-alpha = \"29.00\"\n[plans.starter]\nmonthly = \"12.00\"\nannual = \"120.00\"\n[plans.operator]\nmonthly = \"29.00\"\n\
annual = \"290.00\"\n[plans.scale]\nmonthly = \"59.00\"\nannual = \"590.00\"\n[plans.enterprise]\nmonthly = \"199.00\"\nannual = \"1990.00\"\n";

fn bundle_toml(discount: &str, keys: &[&str]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    format!(
        "title = \"T\"\nsummary = \"S\"\ndiscount = \"{discount}\"\nkeys = [{}]\n",
        keys.join(", ")
    )
}

fn doc<'a>(r: &'a IngestReport, name: &str) -> &'a ingest::documents::DocumentReport {
    r.documents
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no report for {name}: {:#?}", r.documents))
}

/// The pricing file and bundles are checked against the catalog after the KEYS; a bad bundle
/// or pricing file is rejected with file, field and reason, keeps its previously stored copy,
/// and blocks nothing else; documents removed from the assets leave the catalog.
#[tokio::test]
async fn pricing_and_bundles_are_checked_and_one_bad_bundle_blocks_nothing() {
    use ingest::documents::DocumentOutcome::{Rejected, Stored, Unchanged};
    for env in envs().await {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        good_assets(root);
        write(&root.join("pricing.toml"), PRICING);
        write(
            &root.join("bundles/alpha-beta.toml"),
            &bundle_toml("22%", &["next-alpha", "next-beta"]),
        );
        write(
            &root.join("bundles/too-generous.toml"),
            &bundle_toml("30%", &["next-alpha", "rb-gamma"]),
        );
        write(
            &root.join("bundles/ghost-member.toml"),
            &bundle_toml("20%", &["next-alpha", "no-such-key"]),
        );
        write(&root.join("bundles/lonely.toml"), &bundle_toml("20%", &["next-alpha"]));

        // A dry run reports the same and writes nothing.
        let dry = run(&env, root, true).await;
        assert_eq!(doc(&dry, "bundles/alpha-beta.toml").outcome, Stored);
        assert!(env.repo.documents().await.unwrap().is_empty());

        let r = run(&env, root, false).await;
        assert_eq!(r.added, 5, "every KEY still goes in");
        assert!(r.has_rejections());
        assert_eq!(doc(&r, "pricing.toml").outcome, Stored);
        assert_eq!(doc(&r, "bundles/alpha-beta.toml").outcome, Stored);
        for (name, field, why) in [
            ("bundles/too-generous.toml", "discount", "outside the allowed 19–28 %"),
            ("bundles/ghost-member.toml", "keys[1]", "no KEY `no-such-key`"),
            ("bundles/lonely.toml", "keys", "at least 2"),
        ] {
            let d = doc(&r, name);
            assert_eq!(d.outcome, Rejected, "{name}");
            assert!(
                d.errors
                    .iter()
                    .any(|e| e.file == name && e.field == field && e.reason.contains(why)),
                "{name}: {:?}",
                d.errors
            );
        }
        let names = |docs: Vec<catalog::Document>| docs.into_iter().map(|d| d.name).collect::<Vec<_>>();
        assert_eq!(
            names(env.repo.documents().await.unwrap()),
            ["bundles/alpha-beta.toml", "pricing.toml"]
        );

        // A re-run changes nothing (and does not bump the revision).
        let rev = env.repo.revision().await.unwrap();
        let again = run(&env, root, false).await;
        assert_eq!(doc(&again, "pricing.toml").outcome, Unchanged);
        assert_eq!(env.repo.revision().await.unwrap(), rev);

        // A broken pricing file (an override for an unknown KEY, a negative price) is refused
        // and the stored prices stay; fixing a bundle stores it; removing one retires it.
        write(
            &root.join("pricing.toml"),
            &PRICING
                .replace("next-alpha = \"29.00\"", "next-omega = \"29.00\"")
                .replace("starter = \"19.00\"", "starter = \"-1\""),
        );
        write(
            &root.join("bundles/too-generous.toml"),
            &bundle_toml("28%", &["next-alpha", "rb-gamma"]),
        );
        std::fs::remove_file(root.join("bundles/alpha-beta.toml")).unwrap();
        let r = run(&env, root, false).await;
        let p = doc(&r, "pricing.toml");
        assert_eq!(p.outcome, Rejected);
        let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"single.starter"), "{fields:?}");
        let docs = env.repo.documents().await.unwrap();
        assert_eq!(
            names(docs.clone()),
            ["bundles/too-generous.toml", "pricing.toml"],
            "alpha-beta retired, too-generous fixed"
        );
        assert_eq!(
            docs.iter().find(|d| d.name == "pricing.toml").unwrap().body,
            PRICING,
            "the last good pricing file stays"
        );
        assert!(env.repo.revision().await.unwrap() > rev);
    }
}

/// `docs/revenue/PRICING_MODEL.md` is generated from the shipped offers and the upgrade rules;
/// it must match what `keys-ingest pricing-model` writes (`KEYS_BLESS=1` rewrites it).
#[test]
fn pricing_model_doc_is_current() {
    let assets = test_support::repo_assets_dir();
    let (offers, names) = ingest::documents::offers_from_assets(&assets).unwrap();
    let text = upgrades::model_doc::render(&offers, &names);
    let path = assets.parent().unwrap().join(upgrades::model_doc::PRICING_MODEL_PATH);
    if std::env::var_os("KEYS_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap_or_default() == text,
        "{} is out of date: run `cargo run -p keys-ingest -- pricing-model` and commit it",
        path.display()
    );
}

/// The sales documents' generated parts (QA matrix, proof-pack numbers, personas) match what
/// `keys-ingest sales-docs` writes from the catalog, the price list, the recommender and the QA
/// data; and every QA row is true of the repository (its test exists and is run, its status
/// matches its proof, every category has its rows).
#[test]
fn sales_docs_are_current() {
    let repo = test_support::repo_assets_dir().parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(repo.join(ingest::qa_matrix::QA_SOURCE)).unwrap();
    let cases = ingest::qa_matrix::parse(&text).unwrap();
    let problems = ingest::qa_matrix::check(&cases, &repo);
    assert!(
        problems.is_empty(),
        "{}:\n{}",
        ingest::qa_matrix::QA_SOURCE,
        problems.join("\n")
    );
    let s = ingest::qa_matrix::summary(&cases);
    assert_eq!(s.passing + s.benchmark_met + s.benchmark_not_met + s.missing, s.total);
    for (rel, text) in ingest::sales::regenerate(&repo).unwrap() {
        let path = repo.join(&rel);
        if std::env::var_os("KEYS_BLESS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert!(
            std::fs::read_to_string(&path).unwrap_or_default() == text,
            "{rel} is out of date: run `cargo run -p keys-ingest -- sales-docs` and commit it"
        );
    }
    let matrix = std::fs::read_to_string(repo.join(ingest::qa_matrix::QA_DOC)).unwrap();
    assert!(
        matrix.contains(&ingest::qa_matrix::summary_line(&s)),
        "the summary line states the counts"
    );
}

#[test]
fn offers_from_assets_name_the_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    good_assets(dir.path());
    let err = ingest::documents::offers_from_assets(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("pricing.toml") && err.contains("missing"), "{err}");
    write(&dir.path().join("pricing.toml"), PRICING);
    write(
        &dir.path().join("bundles/odd.toml"),
        &bundle_toml("40%", &["next-alpha", "next-beta"]),
    );
    let err = ingest::documents::offers_from_assets(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bundles/odd.toml: field `discount`"), "{err}");
}
