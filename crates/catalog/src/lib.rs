//! # catalog — the KEYS catalog domain
//!
//! Owns what a KEY is ([`Key`], [`KeyVersion`], [`Preview`]), the vocabularies
//! ([`Kind`], [`Tier`], [`Role`], [`Intent`], [`Category`]), the manifest formats and every rule
//! a KEY must pass ([`parse_key_manifest`], [`parse_jupyter_library`], [`check_notebook`]),
//! ingestion decisions ([`plan_version`]) and catalog search ([`CatalogIndex`]).
//!
//! It performs no I/O. What it needs from outside is expressed as ports in [`ports`]:
//! [`CatalogRepository`], [`ArchiveStore`] and [`Clock`]. Enable the `mock` feature to get
//! mockall implementations of each.
//!
//! ```
//! use catalog::*;
//! use chrono::{NaiveDate, TimeZone, Utc};
//! // Two KEYS, built with the constructors (the `fixtures` feature has ready-made ones).
//! let released = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
//! let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
//! let stripe = KeyMetadata::new("next-stripe-checkout".parse().unwrap(), "Next.js Stripe Checkout Kit", Kind::NodeNext, Tier::Operator)
//!     .with_summary("Stripe Checkout for the Next.js App Router, with verified webhooks.")
//!     .with_categories([Category::Payments]);
//! let pg = KeyMetadata::new("postgres-failover-runbook".parse().unwrap(), "PostgreSQL Failover Runbook", Kind::Runbook, Tier::Enterprise)
//!     .with_summary("Fenced PostgreSQL primary failover.")
//!     .with_categories([Category::DatabaseOperations]);
//! let keys: Vec<Key> = [stripe, pg]
//!     .into_iter()
//!     .map(|meta| {
//!         let archive = ArchiveRef::new("ab".repeat(32), 4_096);
//!         Key::new(meta, vec![KeyVersion::new(Version::new(1, 0, 0), released, archive)], now)
//!     })
//!     .collect();
//! let index = CatalogIndex::new(keys, 1);
//! // Search as the marketplace's query string would: words, then filters.
//! let query = CatalogQuery::from_params([("q", "stripe"), ("kind", "node-next")]).unwrap();
//! let page = index.search(&query);
//! assert_eq!(page.items.len(), 1);
//! assert_eq!(page.items[0].meta.name, "Next.js Stripe Checkout Kit");
//! // Bad input is an error naming the parameter.
//! assert!(CatalogQuery::from_params([("tier", "gold")]).is_err());
//! ```

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
mod ids;
mod manifest;
mod model;
mod plan;
pub mod ports;
mod preview;
mod search;
mod secrets;
mod vocab;

pub use ids::{Slug, SlugError, Version, VersionError};
pub use manifest::{
    JUPYTER_LIBRARY_FILE, JupyterKeySection, JupyterSectionResult, JupyterVersion, KEY_MANIFEST_FILE, KeyDraft,
    KeyManifest, ManifestError, ManifestSource, VersionDraft, VersionManifest, check_relative_path,
    parse_jupyter_library, parse_key_manifest,
};
pub use model::{
    ArchiveRef, FileExcerpt, Key, KeyMetadata, KeyVersion, NotebookCell, OutlineHeading, Preview, PreviewFile,
    archive_object_key,
};
pub use plan::{VersionPlan, plan_version};
pub use ports::{
    ArchiveError, ArchiveStore, CatalogRepository, Clock, Document, FixedClock, KeyChange, SaveKeyError, SaveOutcome,
    StorageError,
};
pub use preview::{Notebook, PreviewInput, build_preview, check_notebook};
pub use search::{CatalogIndex, CatalogQuery, DEFAULT_PER_PAGE, MAX_PER_PAGE, QueryError, SearchPage, Sort};
pub use secrets::secret_file_reason;
pub use vocab::{Category, Intent, Kind, Role, Tier, VocabError, title, words};
