//! # ingest — KEYS ingestion
//!
//! Reads the three asset sources under `keys-assets/` ([`source`]), validates every KEY with
//! the catalog's rules, packages each version into a deterministic archive ([`package`]),
//! stores it under its content address, re-reads it to verify the sha256, and only then records
//! the version through [`CatalogRepository::save_key`]. One bad KEY never blocks the others,
//! and a rejected KEY writes nothing.
//!
//! The ports are the catalog's: any [`CatalogRepository`] and [`ArchiveStore`] will do.

pub mod documents;
pub mod package;
pub mod qa_matrix;
pub mod sales;
pub mod source;
pub mod synthetic;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use catalog::{
    ArchiveRef, ArchiveStore, CatalogRepository, Clock, Key, KeyChange, KeyVersion, Kind, ManifestError, PreviewInput,
    SaveKeyError, VersionPlan, archive_object_key, build_preview, plan_version,
};
use futures::StreamExt;
use serde::Serialize;

pub use source::Limits;
use source::{Candidate, read_sources};

/// What happened to one KEY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// New KEY.
    Added,
    /// New versions or changed metadata.
    Updated,
    /// Nothing to do.
    Unchanged,
    /// Refused; see the errors.
    Rejected,
}

/// The report of one KEY.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    /// Slug (as intended by the source when the KEY was rejected early).
    pub slug: String,
    /// Source kind.
    pub kind: Kind,
    /// Outcome.
    pub outcome: Outcome,
    /// Versions added (or that would be, in a dry run).
    pub versions_added: Vec<String>,
    /// Why it was rejected.
    pub errors: Vec<ManifestError>,
}

/// The report of a whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// KEYS added.
    pub added: usize,
    /// KEYS updated.
    pub updated: usize,
    /// KEYS unchanged.
    pub unchanged: usize,
    /// KEYS rejected.
    pub rejected: usize,
    /// Every KEY, by slug.
    pub keys: Vec<KeyReport>,
    /// The pricing file and every bundle file, by name.
    pub documents: Vec<documents::DocumentReport>,
}

impl IngestReport {
    fn push(&mut self, r: KeyReport) {
        match r.outcome {
            Outcome::Added => self.added += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Rejected => self.rejected += 1,
        }
        self.keys.push(r);
    }

    /// Whether any KEY was rejected (the CLI then exits non-zero).
    #[must_use]
    pub fn has_rejections(&self) -> bool {
        self.rejected > 0
            || self
                .documents
                .iter()
                .any(|d| d.outcome == documents::DocumentOutcome::Rejected)
    }
}

/// Why a run could not start. Per-KEY problems are not errors: they are in the report.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The assets directory is unreadable.
    #[error("cannot read the assets directory {path}: {source}")]
    Assets {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The catalog could not be read.
    #[error(transparent)]
    Storage(#[from] catalog::StorageError),
}

/// Progress feedback (a terminal progress bar in the CLI).
pub trait Progress: Send + Sync {
    /// The run will handle `total` KEYS.
    fn start(&self, total: u64);
    /// One KEY is done.
    fn advance(&self, slug: &str);
    /// The run is over.
    fn finish(&self);
}

/// No feedback.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: &str) {}
    fn finish(&self) {}
}

/// Options of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestOptions {
    /// Validate and package, write nothing.
    pub dry_run: bool,
    /// Size limits.
    pub limits: Limits,
    /// KEYS handled at once (at least 1).
    pub concurrency: usize,
}

/// The ingestion service.
#[derive(Clone)]
pub struct Ingestor {
    repo: Arc<dyn CatalogRepository>,
    store: Arc<dyn ArchiveStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ingestor")
    }
}

fn reject(slug: &str, kind: Kind, errors: Vec<ManifestError>) -> KeyReport {
    KeyReport {
        slug: slug.to_owned(),
        kind,
        outcome: Outcome::Rejected,
        versions_added: Vec::new(),
        errors,
    }
}

impl Ingestor {
    /// Builds the service over its ports.
    #[must_use]
    pub fn new(repo: Arc<dyn CatalogRepository>, store: Arc<dyn ArchiveStore>, clock: Arc<dyn Clock>) -> Self {
        Self { repo, store, clock }
    }

    /// Ingests everything under `assets`.
    ///
    /// # Errors
    /// [`IngestError`] only when the run cannot start; per-KEY problems are in the report.
    pub async fn run(
        &self,
        assets: &Path,
        options: IngestOptions,
        progress: &dyn Progress,
    ) -> Result<IngestReport, IngestError> {
        let today = self.clock.now().date_naive();
        let assets_owned = assets.to_path_buf();
        let limits = options.limits;
        let sources = tokio::task::spawn_blocking(move || read_sources(&assets_owned, limits, today))
            .await
            .map_err(|e| IngestError::Assets {
                path: assets.to_path_buf(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| IngestError::Assets {
                path: assets.to_path_buf(),
                source,
            })?;
        let existing: HashMap<String, Key> = self
            .repo
            .list_keys()
            .await?
            .into_iter()
            .map(|k| (k.meta.slug.to_string(), k))
            .collect();
        let existing = Arc::new(existing);

        let mut report = IngestReport {
            dry_run: options.dry_run,
            ..IngestReport::default()
        };
        for r in sources.rejections {
            report.push(reject(&r.slug, r.kind, r.errors));
        }

        // Duplicate slugs across (or within) sources: refuse every copy.
        let mut by_slug: HashMap<String, Vec<String>> = HashMap::new();
        for c in &sources.candidates {
            by_slug
                .entry(c.draft.meta.slug.to_string())
                .or_default()
                .push(c.draft.manifest_file.clone());
        }
        let mut candidates = Vec::new();
        for c in sources.candidates {
            let files = &by_slug[c.draft.meta.slug.as_str()];
            if files.len() > 1 {
                let others: Vec<&str> = files
                    .iter()
                    .filter(|f| **f != c.draft.manifest_file)
                    .map(String::as_str)
                    .collect();
                let err = ManifestError::new(
                    &c.draft.manifest_file,
                    Some("slug"),
                    format!(
                        "slug `{}` is also used by {}; slugs must be unique across all sources",
                        c.draft.meta.slug,
                        others.join(", ")
                    ),
                );
                report.push(reject(c.draft.meta.slug.as_str(), c.draft.meta.kind, vec![err]));
            } else {
                candidates.push(c);
            }
        }

        let candidate_tiers: HashMap<String, catalog::Tier> = candidates
            .iter()
            .map(|c| (c.draft.meta.slug.to_string(), c.draft.meta.tier))
            .collect();
        progress.start(candidates.len() as u64 + report.keys.len() as u64);
        for k in &report.keys {
            progress.advance(&k.slug);
        }
        let at = self.clock.now();
        let mut stream = futures::stream::iter(candidates)
            .map(|c| {
                let this = self.clone();
                let existing = Arc::clone(&existing);
                async move { this.ingest_one(c, &existing, options.dry_run, at).await }
            })
            .buffer_unordered(options.concurrency.max(1));
        while let Some(r) = stream.next().await {
            progress.advance(&r.slug);
            if r.outcome == Outcome::Rejected {
                tracing::warn!(slug = %r.slug, errors = r.errors.len(), "KEY rejected");
            }
            report.push(r);
        }
        progress.finish();
        report
            .keys
            .sort_by(|a, b| a.slug.cmp(&b.slug).then_with(|| a.kind.cmp(&b.kind)));

        // Prices and bundles, checked against the catalog as it is after this run.
        let mut tiers: BTreeMap<catalog::Slug, catalog::Tier> =
            existing.values().map(|k| (k.meta.slug.clone(), k.meta.tier)).collect();
        for k in report.keys.iter().filter(|k| k.outcome != Outcome::Rejected) {
            if let (Ok(slug), Some(tier)) = (k.slug.parse(), candidate_tiers.get(&k.slug)) {
                tiers.insert(slug, *tier);
            }
        }
        let stored = self.repo.documents().await?;
        let (keep, reports) =
            documents::plan_documents(assets, &stored, &tiers).map_err(|source| IngestError::Assets {
                path: assets.to_path_buf(),
                source,
            })?;
        for d in reports
            .iter()
            .filter(|d| d.outcome == documents::DocumentOutcome::Rejected)
        {
            tracing::warn!(document = %d.name, errors = d.errors.len(), "document rejected");
        }
        report.documents = reports;
        if !options.dry_run {
            self.repo.replace_documents(&keep).await?;
        }
        Ok(report)
    }

    async fn ingest_one(
        &self,
        c: Candidate,
        existing: &HashMap<String, Key>,
        dry_run: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> KeyReport {
        let slug = c.draft.meta.slug.to_string();
        let kind = c.draft.meta.kind;
        let file = c.draft.manifest_file.clone();
        let stored = existing.get(&slug);
        if let Some(stored) = stored
            && stored.meta.kind != kind
        {
            let err = ManifestError::new(
                &file,
                Some("slug"),
                format!(
                    "slug `{slug}` already belongs to a {} KEY in the catalog; pick another slug",
                    stored.meta.kind
                ),
            );
            return reject(&slug, kind, vec![err]);
        }

        // Package every version (blocking file reads and gzip off the async threads).
        // A version already released in the first archive layout is recognised by its legacy
        // digest (computed only for versions the catalog already has).
        let versions = c.versions.clone();
        let released: Vec<catalog::Version> = stored
            .map(|s| s.versions.iter().map(|v| v.version).collect())
            .unwrap_or_default();
        let root_slug = slug.clone();
        let packaged = tokio::task::spawn_blocking(move || {
            versions
                .into_iter()
                .map(|(v, files)| {
                    let layout = package::Layout::new(&root_slug, &v.version, v.released_at);
                    let p = package::package(&files, &layout)?;
                    let legacy = if released.contains(&v.version) {
                        Some(package::legacy_content_sha256(&files)?)
                    } else {
                        None
                    };
                    Ok((v, p, legacy))
                })
                .collect::<std::io::Result<Vec<_>>>()
        })
        .await;
        let packaged = match packaged {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                return reject(
                    &slug,
                    kind,
                    vec![ManifestError::new(&file, None, format!("cannot package: {e}"))],
                );
            }
            Err(e) => {
                return reject(
                    &slug,
                    kind,
                    vec![ManifestError::new(&file, None, format!("packaging failed: {e}"))],
                );
            }
        };

        let mut errors = Vec::new();
        let mut new_versions = Vec::new();
        for (v, p, legacy) in packaged {
            let incoming = ArchiveRef {
                object_key: archive_object_key(&p.sha256),
                sha256: p.sha256.clone(),
                size_bytes: p.bytes.len() as u64,
                content_sha256: p.content_sha256.clone(),
            };
            let released_in_first_layout = legacy.as_deref().is_some_and(|l| {
                stored
                    .and_then(|s| s.version(&v.version))
                    .is_some_and(|sv| sv.archive.content_sha256 == l)
            });
            match plan_version(stored, v.version, &incoming) {
                VersionPlan::Unchanged => {}
                VersionPlan::Conflict { .. } if released_in_first_layout => {}
                VersionPlan::Conflict { stored_sha256 } => errors.push(
                    ManifestError::new(
                        &file,
                        Some(&format!("{}.version", v.field_prefix)),
                        format!(
                            "version {} is already released with different content (stored sha256 {stored_sha256}, now {}); released versions are immutable: publish the change as a new version",
                            v.version, p.sha256
                        ),
                    )
                    .at_line(v.line),
                ),
                VersionPlan::New => new_versions.push((v, p)),
            }
        }
        if !errors.is_empty() {
            return reject(&slug, kind, errors);
        }
        let metadata_changed = stored.is_some_and(|s| s.meta != c.draft.meta);
        let versions_added: Vec<String> = new_versions.iter().map(|(v, _)| v.version.to_string()).collect();
        let outcome = match (stored.is_some(), metadata_changed || !new_versions.is_empty()) {
            (false, _) => Outcome::Added,
            (true, true) => Outcome::Updated,
            (true, false) => Outcome::Unchanged,
        };
        if dry_run || outcome == Outcome::Unchanged {
            return KeyReport {
                slug,
                kind,
                outcome,
                versions_added,
                errors: Vec::new(),
            };
        }

        // Store, verify, then record.
        let mut records = Vec::new();
        for (v, p) in new_versions {
            let object_key = archive_object_key(&p.sha256);
            if let Err(reason) = self.store_verified(&object_key, &p).await {
                return reject(
                    &slug,
                    kind,
                    vec![ManifestError::new(
                        &file,
                        Some(&format!("{}.version", v.field_prefix)),
                        reason,
                    )],
                );
            }
            let inputs: Vec<PreviewInput<'_>> = p
                .files
                .iter()
                .map(|(path, bytes)| PreviewInput { path, bytes })
                .collect();
            let preview = build_preview(kind, &inputs, &v.preview);
            records.push(KeyVersion {
                version: v.version,
                released_at: v.released_at,
                changelog: v.changelog.clone(),
                archive: ArchiveRef {
                    object_key,
                    sha256: p.sha256.clone(),
                    size_bytes: p.bytes.len() as u64,
                    content_sha256: p.content_sha256.clone(),
                },
                preview,
            });
        }
        let change = KeyChange {
            meta: c.draft.meta.clone(),
            versions: records,
            at,
        };
        match self.repo.save_key(&change).await {
            Ok(saved) => {
                let outcome = if saved.created {
                    Outcome::Added
                } else if saved.changed() {
                    Outcome::Updated
                } else {
                    Outcome::Unchanged
                };
                let versions_added = saved.versions_added.iter().map(ToString::to_string).collect();
                KeyReport {
                    slug,
                    kind,
                    outcome,
                    versions_added,
                    errors: Vec::new(),
                }
            }
            Err(e) => {
                let field = match &e {
                    SaveKeyError::VersionConflict { .. } => Some("versions"),
                    SaveKeyError::KindChanged { .. } => Some("slug"),
                    SaveKeyError::Storage(_) => None,
                };
                reject(&slug, kind, vec![ManifestError::new(&file, field, e.to_string())])
            }
        }
    }

    async fn store_verified(&self, object_key: &str, p: &package::Package) -> Result<(), String> {
        let present = self.store.exists(object_key).await.map_err(|e| e.to_string())?;
        if !present {
            self.store
                .put(object_key, p.bytes.clone())
                .await
                .map_err(|e| e.to_string())?;
        }
        let back = self.store.get(object_key).await.map_err(|e| e.to_string())?;
        let sha = package::sha256_hex(&back);
        if sha != p.sha256 {
            return Err(format!(
                "archive {object_key} does not verify after upload (sha256 {sha}, expected {}); check the object store",
                p.sha256
            ));
        }
        Ok(())
    }
}
