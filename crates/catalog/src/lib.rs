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
//! use catalog::{CatalogIndex, CatalogQuery, Kind};
//! // Search an (empty) catalog for node-next KEYS about Stripe.
//! let index = CatalogIndex::new(Vec::new(), 0);
//! let query = CatalogQuery::from_params([("q", "stripe"), ("kind", "node-next")]).unwrap();
//! assert_eq!(query.kind, Some(Kind::NodeNext));
//! assert!(index.search(&query).items.is_empty());
//! ```

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
