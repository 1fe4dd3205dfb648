//! What the catalog stores: KEYS, their released versions and their public previews.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Category, Intent, Kind, Role, Slug, Tier, Version};

/// Everything about a KEY that is not tied to one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMetadata {
    /// Stable identifier.
    pub slug: Slug,
    /// Display name.
    pub name: String,
    /// Which sort of KEY.
    pub kind: Kind,
    /// Maturity tier.
    pub tier: Tier,
    /// One-line summary.
    pub summary: String,
    /// Markdown description.
    pub description: String,
    /// Who it is for.
    pub roles: Vec<Role>,
    /// What the buyer wants to do.
    pub intents: Vec<Intent>,
    /// Problems it solves.
    pub categories: Vec<Category>,
    /// Free-form tags.
    pub tags: Vec<String>,
}

impl KeyMetadata {
    /// A KEY's metadata with a name, kind and tier; summary, description and the vocabularies
    /// empty until set with the `with_…` methods.
    #[must_use]
    pub fn new(slug: Slug, name: impl Into<String>, kind: Kind, tier: Tier) -> Self {
        Self {
            slug,
            name: name.into(),
            kind,
            tier,
            summary: String::new(),
            description: String::new(),
            roles: Vec::new(),
            intents: Vec::new(),
            categories: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// With a one-line summary.
    #[must_use]
    pub fn with_summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = summary.into();
        self
    }

    /// With the roles it is for.
    #[must_use]
    pub fn with_roles(mut self, roles: impl IntoIterator<Item = Role>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }

    /// With what the buyer wants to do.
    #[must_use]
    pub fn with_intents(mut self, intents: impl IntoIterator<Item = Intent>) -> Self {
        self.intents = intents.into_iter().collect();
        self
    }

    /// With the problems it solves.
    #[must_use]
    pub fn with_categories(mut self, categories: impl IntoIterator<Item = Category>) -> Self {
        self.categories = categories.into_iter().collect();
        self
    }

    /// With free-form tags.
    #[must_use]
    pub fn with_tags<T: Into<String>>(mut self, tags: impl IntoIterator<Item = T>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// Where a version's archive lives and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRef {
    /// Content-addressed object key, see [`archive_object_key`].
    pub object_key: String,
    /// Lowercase hex sha256 of the archive bytes.
    pub sha256: String,
    /// Archive size in bytes.
    pub size_bytes: u64,
    /// Lowercase hex sha256 of the *uncompressed* tar: what identifies the released files,
    /// independent of the compressor (empty for versions stored before it was recorded).
    #[serde(default)]
    pub content_sha256: String,
}

impl ArchiveRef {
    /// The archive with this (lowercase hex) sha256 and size, stored at its content-addressed
    /// key ([`archive_object_key`]); the content digest is unknown until set.
    #[must_use]
    pub fn new(sha256: impl Into<String>, size_bytes: u64) -> Self {
        let sha256 = sha256.into();
        Self {
            object_key: archive_object_key(&sha256),
            sha256,
            size_bytes,
            content_sha256: String::new(),
        }
    }

    /// Whether two archives hold the same files: by content digest when both have one, by
    /// archive digest otherwise.
    #[must_use]
    pub fn same_content(&self, other: &ArchiveRef) -> bool {
        if self.content_sha256.is_empty() || other.content_sha256.is_empty() {
            self.sha256 == other.sha256
        } else {
            self.content_sha256 == other.content_sha256
        }
    }
}

/// The content-addressed object key of an archive with this sha256.
///
/// ```
/// assert_eq!(
///     catalog::archive_object_key("ab12"),
///     "archives/sha256/ab/ab12.tar.gz"
/// );
/// ```
#[must_use]
pub fn archive_object_key(sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or(sha256);
    format!("archives/sha256/{prefix}/{sha256}.tar.gz")
}

/// One released, immutable version of a KEY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    /// Its version number.
    pub version: Version,
    /// Release date from the manifest.
    pub released_at: NaiveDate,
    /// Markdown changelog of this version.
    pub changelog: String,
    /// The downloadable archive.
    pub archive: ArchiveRef,
    /// What anyone may see before buying.
    pub preview: Preview,
}

impl KeyVersion {
    /// A released version with its archive; no changelog and an empty preview until set.
    #[must_use]
    pub fn new(version: Version, released_at: NaiveDate, archive: ArchiveRef) -> Self {
        Self {
            version,
            released_at,
            changelog: String::new(),
            archive,
            preview: Preview::default(),
        }
    }

    /// With a changelog.
    #[must_use]
    pub fn with_changelog(mut self, changelog: impl Into<String>) -> Self {
        self.changelog = changelog.into();
        self
    }

    /// With a preview.
    #[must_use]
    pub fn with_preview(mut self, preview: Preview) -> Self {
        self.preview = preview;
        self
    }
}

/// A KEY with every released version, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// Version-independent fields.
    pub meta: KeyMetadata,
    /// Every version, ascending.
    pub versions: Vec<KeyVersion>,
    /// When the catalog row last changed.
    pub updated_at: DateTime<Utc>,
}

impl Key {
    /// A KEY; `versions` are sorted oldest first.
    #[must_use]
    pub fn new(meta: KeyMetadata, mut versions: Vec<KeyVersion>, updated_at: DateTime<Utc>) -> Self {
        versions.sort_by_key(|v| v.version);
        Self {
            meta,
            versions,
            updated_at,
        }
    }

    /// The newest version (the "current" one). `None` only for a KEY without versions, which
    /// storage never returns.
    #[must_use]
    pub fn current(&self) -> Option<&KeyVersion> {
        self.versions.iter().max_by_key(|v| v.version)
    }

    /// A version by number.
    #[must_use]
    pub fn version(&self, version: &Version) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.version == *version)
    }
}

/// The public preview of a version: file tree, excerpts, notebook cells and runbook outline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Preview {
    /// Every file of the archive with its size.
    pub files: Vec<PreviewFile>,
    /// The first paragraphs of the README (or RUNBOOK) file.
    pub readme_excerpt: Option<String>,
    /// Text excerpts of the files the manifest names as preview.
    pub excerpts: Vec<FileExcerpt>,
    /// First cells of the preview notebooks.
    pub notebook_cells: Vec<NotebookCell>,
    /// Headings of the preview markdown files of a runbook.
    pub outline: Vec<OutlineHeading>,
}

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PreviewFile {
    /// Path inside the archive.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// The beginning of a text file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FileExcerpt {
    /// Path inside the archive.
    pub path: String,
    /// The first lines of the file.
    pub text: String,
    /// Whether the file continues past the excerpt.
    pub truncated: bool,
}

/// One notebook cell shown in a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NotebookCell {
    /// Path of the notebook inside the archive.
    pub notebook: String,
    /// `code`, `markdown` or `raw`.
    pub cell_type: String,
    /// Cell source, possibly shortened.
    pub source: String,
}

/// A markdown heading of a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OutlineHeading {
    /// Path of the markdown file inside the archive.
    pub file: String,
    /// 1 for `#`, 2 for `##`, …
    pub level: u8,
    /// Heading text.
    pub title: String,
}
