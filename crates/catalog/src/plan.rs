//! Ingestion decisions: what happens to one incoming version given what the catalog holds.

use crate::{ArchiveRef, Key, Version};

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

/// Decides what to do with `version` whose new archive is `archive`. Content is compared by
/// the uncompressed-tar digest when both sides have one ([`ArchiveRef::same_content`]), so a
/// different compressor never turns a released version into a conflict.
///
/// ```
/// use catalog::{plan_version, ArchiveRef, Version, VersionPlan};
/// let a = ArchiveRef { object_key: "k".into(), sha256: "ab".into(), size_bytes: 1, content_sha256: "cd".into() };
/// assert_eq!(plan_version(None, Version::new(1, 0, 0), &a), VersionPlan::New);
/// ```
#[must_use]
pub fn plan_version(existing: Option<&Key>, version: Version, archive: &ArchiveRef) -> VersionPlan {
    match existing.and_then(|k| k.version(&version)) {
        None => VersionPlan::New,
        Some(v) if v.archive.same_content(archive) => VersionPlan::Unchanged,
        Some(v) => VersionPlan::Conflict {
            stored_sha256: v.archive.sha256.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyMetadata, KeyVersion, Kind, Preview, Tier};

    fn archive(sha: &str, content: &str) -> ArchiveRef {
        ArchiveRef {
            object_key: "k".into(),
            sha256: sha.into(),
            size_bytes: 1,
            content_sha256: content.into(),
        }
    }

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
                archive: archive(sha, &format!("content-{sha}")),
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
        let conflict = VersionPlan::Conflict {
            stored_sha256: "aa".into(),
        };
        let cases = [
            (None, v1, archive("aa", "content-aa"), VersionPlan::New),
            (Some(&k), v2, archive("bb", "content-bb"), VersionPlan::New),
            (Some(&k), v1, archive("aa", "content-aa"), VersionPlan::Unchanged),
            // Same files, another compressor: still the same release.
            (Some(&k), v1, archive("zz", "content-aa"), VersionPlan::Unchanged),
            (Some(&k), v1, archive("bb", "content-bb"), conflict.clone()),
            // A stored version without a content digest falls back to the archive digest.
            (
                Some(&key_with_legacy(v1)),
                v1,
                archive("aa", "content-x"),
                VersionPlan::Unchanged,
            ),
            (Some(&key_with_legacy(v1)), v1, archive("bb", "content-x"), conflict),
        ];
        for (existing, v, a, want) in cases {
            assert_eq!(plan_version(existing, v, &a), want);
        }
    }

    fn key_with_legacy(version: Version) -> Key {
        let mut k = key_with(version, "aa");
        k.versions[0].archive.content_sha256.clear();
        k
    }
}
