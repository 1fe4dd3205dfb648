//! Ingestion decisions: what happens to one incoming version given what the catalog holds.

use crate::{Key, Version};

/// The fate of one incoming version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPlan {
    /// Not in the catalog yet: store the archive and insert it.
    New,
    /// Stored with the same archive: nothing to write.
    Unchanged,
    /// Stored with another archive: refuse the whole KEY (released versions are immutable).
    Conflict {
        /// The stored archive's sha256.
        stored_sha256: String,
    },
}

/// Decides what to do with `version` whose archive hashes to `sha256`.
///
/// ```
/// use catalog::{plan_version, Version, VersionPlan};
/// assert_eq!(plan_version(None, Version::new(1, 0, 0), "ab"), VersionPlan::New);
/// ```
#[must_use]
pub fn plan_version(existing: Option<&Key>, version: Version, sha256: &str) -> VersionPlan {
    match existing.and_then(|k| k.version(&version)) {
        None => VersionPlan::New,
        Some(v) if v.archive.sha256 == sha256 => VersionPlan::Unchanged,
        Some(v) => VersionPlan::Conflict {
            stored_sha256: v.archive.sha256.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArchiveRef, KeyMetadata, KeyVersion, Kind, Preview, Tier};

    fn key_with(version: Version, sha: &str) -> Key {
        Key {
            meta: KeyMetadata {
                slug: "demo-kit".parse().unwrap(),
                name: "Demo".into(),
                kind: Kind::Runbook,
                tier: Tier::Starter,
                summary: "s".into(),
                description: "d".into(),
                roles: vec![],
                intents: vec![],
                categories: vec![],
                tags: vec![],
            },
            versions: vec![KeyVersion {
                version,
                released_at: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                changelog: "c".into(),
                archive: ArchiveRef {
                    object_key: "k".into(),
                    sha256: sha.into(),
                    size_bytes: 1,
                },
                preview: Preview::default(),
            }],
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn table() {
        let v1 = Version::new(1, 0, 0);
        let v2 = Version::new(2, 0, 0);
        let k = key_with(v1, "aa");
        let cases = [
            (None, v1, "aa", VersionPlan::New),
            (Some(&k), v2, "bb", VersionPlan::New),
            (Some(&k), v1, "aa", VersionPlan::Unchanged),
            (
                Some(&k),
                v1,
                "bb",
                VersionPlan::Conflict {
                    stored_sha256: "aa".into(),
                },
            ),
        ];
        for (existing, v, sha, want) in cases {
            assert_eq!(plan_version(existing, v, sha), want);
        }
    }
}
