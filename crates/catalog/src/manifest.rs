//! The two manifest formats and every rule a KEY must pass before it enters the catalog.
//!
//! * `key.toml` in `keys-assets/node-next-keys/<slug>/` and `keys-assets/runbook-keys/<slug>/`
//!   ([`KeyManifest`]); a version's files are the folder `<slug>/<version>/`.
//! * `keys-assets/jupyter-keys/JUPYTER_KEYS_LIBRARY.md`: one `## <slug>` section per KEY with
//!   `- field: value` lines and one `### <version>` subsection per version
//!   ([`JupyterKeySection`]); files are listed explicitly, relative to `jupyter-keys/<slug>/`.
//!
//! Both parse into a [`KeyDraft`]. Parsing is pure: reading files is the caller's business.
//! Every problem is reported as a [`ManifestError`] naming the file, the line when known, the
//! field and the reason.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{Category, Intent, KeyMetadata, Kind, Role, Slug, Tier, Version};

/// Name of the manifest file inside a node-next or runbook KEY folder.
pub const KEY_MANIFEST_FILE: &str = "key.toml";
/// Name of the Jupyter library file inside `keys-assets/jupyter-keys/`.
pub const JUPYTER_LIBRARY_FILE: &str = "JUPYTER_KEYS_LIBRARY.md";

/// One problem with one KEY's sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ManifestError {
    /// The file at fault, relative to the assets directory.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field at fault (`versions[1].released_at`), when there is one.
    pub field: Option<String>,
    /// What is wrong and, where it helps, what would be right.
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl ManifestError {
    /// Builds an error.
    pub fn new(file: impl Into<String>, field: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            field: field.map(str::to_owned),
            reason: reason.into(),
        }
    }

    /// Sets the line.
    #[must_use]
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

/// `key.toml`: the manifest of a node-next or runbook KEY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(title = "KEYS manifest (key.toml)"))]
pub struct KeyManifest {
    /// Stable identifier; must equal the KEY's folder name.
    pub slug: Slug,
    /// Display name, 3 to 80 characters.
    pub name: String,
    /// `node-next` in `node-next-keys/`, `runbook` in `runbook-keys/`.
    pub kind: Kind,
    /// One line, at most 160 characters.
    pub summary: String,
    /// Markdown description.
    pub description: String,
    /// Maturity tier.
    pub tier: Tier,
    /// 1 to 5 roles.
    pub roles: Vec<Role>,
    /// 1 to 5 tool intents.
    pub intents: Vec<Intent>,
    /// 1 to 5 problem categories.
    pub categories: Vec<Category>,
    /// 0 to 12 lowercase tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Released versions; the files of each are in the folder named after the version.
    pub versions: Vec<VersionManifest>,
}

/// One version in `key.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VersionManifest {
    /// `MAJOR.MINOR.PATCH`.
    pub version: Version,
    /// Release date, `YYYY-MM-DD`, not in the future.
    pub released_at: NaiveDate,
    /// 1 to 5 files of the version folder shown publicly as preview.
    pub preview: Vec<String>,
    /// What changed, markdown.
    pub changelog: String,
}

/// Slugs no KEY may take: they are the addresses of marketplace pages (`/marketplace/bundles`).
pub const RESERVED_SLUGS: &[&str] = &["bundles"];

/// The error for a KEY that takes a [reserved slug](RESERVED_SLUGS).
fn reserved(file: &str, slug: &Slug) -> Option<ManifestError> {
    RESERVED_SLUGS.contains(&slug.as_str()).then(|| {
        ManifestError::new(
            file,
            Some("slug"),
            format!(
                "slug `{slug}` is reserved (`/marketplace/{slug}` is a marketplace page); choose another, e.g. `{slug}-kit`"
            ),
        )
    })
}

/// One `## <slug>` section of `JUPYTER_KEYS_LIBRARY.md`, as the JSON object it is read into.
///
/// Lists are comma-separated in the markdown (`- roles: data-scientist, analyst`); the
/// description is the prose between the field list and the first `###` heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "schema",
    schemars(title = "KEYS Jupyter library section (JUPYTER_KEYS_LIBRARY.md)")
)]
pub struct JupyterKeySection {
    /// From the `## <slug>` heading.
    pub slug: Slug,
    /// Display name, 3 to 80 characters.
    pub name: String,
    /// One line, at most 160 characters.
    pub summary: String,
    /// Markdown prose of the section.
    pub description: String,
    /// Maturity tier.
    pub tier: Tier,
    /// 1 to 5 roles.
    pub roles: Vec<Role>,
    /// 1 to 5 tool intents.
    pub intents: Vec<Intent>,
    /// 1 to 5 problem categories.
    pub categories: Vec<Category>,
    /// 0 to 12 lowercase tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// One per `### <version>` subsection.
    pub versions: Vec<JupyterVersion>,
}

/// One `### <version>` subsection of a Jupyter KEY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JupyterVersion {
    /// From the `### <version>` heading.
    pub version: Version,
    /// Release date, `YYYY-MM-DD`, not in the future.
    pub released_at: NaiveDate,
    /// Files of the version, relative to `jupyter-keys/<slug>/`, all under `<version>/`; at
    /// least one `.ipynb`.
    pub files: Vec<String>,
    /// 1 to 3 of `files` shown publicly as preview.
    pub preview: Vec<String>,
    /// What changed.
    pub changelog: String,
}

/// A KEY read from either format, before its files are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDraft {
    /// Catalog fields.
    pub meta: KeyMetadata,
    /// Versions as declared.
    pub versions: Vec<VersionDraft>,
    /// The manifest file, relative to the assets directory.
    pub manifest_file: String,
}

impl KeyDraft {
    /// The catalog [`Key`](crate::Key) this draft becomes once each version's archive is stored:
    /// `archive_of` gives the stored archive of a version (what ingestion does after packing
    /// it). Changelogs carry over; previews start empty ([`crate::build_preview`] makes them
    /// from the files).
    #[must_use]
    pub fn into_key(
        self,
        mut archive_of: impl FnMut(&VersionDraft) -> crate::ArchiveRef,
        updated_at: chrono::DateTime<chrono::Utc>,
    ) -> crate::Key {
        let versions = self
            .versions
            .iter()
            .map(|v| {
                crate::KeyVersion::new(v.version, v.released_at, archive_of(v)).with_changelog(v.changelog.clone())
            })
            .collect();
        crate::Key::new(self.meta, versions, updated_at)
    }
}

/// A version read from a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionDraft {
    /// Version number.
    pub version: Version,
    /// Release date.
    pub released_at: NaiveDate,
    /// Changelog.
    pub changelog: String,
    /// Preview files, relative to the version folder.
    pub preview: Vec<String>,
    /// Explicit file list relative to the version folder (Jupyter); `None` means "the whole
    /// version folder" (node-next and runbook).
    pub files: Option<Vec<String>>,
    /// Field path prefix for errors (`versions[0]`).
    pub field_prefix: String,
    /// Line of the version in the manifest, when known.
    pub line: Option<usize>,
}

/// Checks that a path from a manifest is a plain relative path that stays inside its folder.
///
/// # Errors
/// A reason when the path is empty, absolute, uses `\`, or has an empty, `.` or `..` component.
///
/// ```
/// use catalog::check_relative_path;
/// assert!(check_relative_path("src/app/page.tsx").is_ok());
/// assert!(check_relative_path("../secrets.txt").is_err());
/// assert!(check_relative_path("/etc/passwd").is_err());
/// ```
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("path is empty".into());
    }
    if path.starts_with('/') || path.contains('\\') || path.contains('\0') || path.contains(':') {
        return Err(format!("`{path}` must be a relative path with `/` separators"));
    }
    for part in path.split('/') {
        match part {
            "" | "." => return Err(format!("`{path}` has an empty or `.` component")),
            ".." => return Err(format!("`{path}` points outside the KEY folder (`..`)")),
            _ => {}
        }
    }
    Ok(())
}

fn field_error_from_serde(file: &str, path: &serde_path_to_error::Path, message: &str) -> ManifestError {
    let mut field = path.to_string();
    // serde names missing/unknown fields only in the message; attach them to the path.
    if let Some(name) = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))
        .and_then(|rest| rest.split('`').next())
    {
        if field == "." || field.is_empty() {
            field = name.to_owned();
        } else if field != name && !field.ends_with(&format!(".{name}")) {
            field = format!("{field}.{name}");
        }
    }
    let reason = message.lines().next().unwrap_or_default().to_owned();
    let field = if field == "." { None } else { Some(field) };
    ManifestError {
        file: file.to_owned(),
        line: None,
        field,
        reason,
    }
}

fn deserialize_json<T: serde::de::DeserializeOwned>(file: &str, value: serde_json::Value) -> Result<T, ManifestError> {
    serde_path_to_error::deserialize(value).map_err(|e| field_error_from_serde(file, e.path(), &e.inner().to_string()))
}

/// Where a KEY manifest's text came from (the second argument of [`parse_key_manifest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestSource<'a> {
    /// The file, as errors name it (`runbook-keys/demo-kit/key.toml`).
    pub file: &'a str,
    /// The KEY folder's name, which must be the manifest's slug.
    pub folder: &'a str,
    /// The kind the folder's source holds.
    pub kind: Kind,
    /// No release may be dated after this day.
    pub today: NaiveDate,
}

/// Parses and checks a `key.toml`.
///
/// `from` says where the text came from: the file, the KEY folder's name, the kind its source
/// holds and the date no release may be after.
///
/// # Errors
/// Every problem found, each naming `from.file` and the field.
///
/// ```
/// use catalog::{parse_key_manifest, Kind, ManifestSource};
/// let text = r#"
/// slug = "demo-kit"
/// name = "Demo kit"
/// kind = "node-next"
/// summary = "A demo."
/// description = "Shows the format."
/// tier = "starter"
/// roles = ["fullstack-developer"]
/// intents = ["bootstrap-project"]
/// categories = ["saas-foundations"]
/// [[versions]]
/// version = "1.0.0"
/// released_at = "2026-01-02"
/// preview = ["README.md"]
/// changelog = "First."
/// "#;
/// let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
/// let from = ManifestSource { file: "node-next-keys/demo-kit/key.toml", folder: "demo-kit", kind: Kind::NodeNext, today };
/// let draft = parse_key_manifest(text, &from).unwrap();
/// assert_eq!(draft.versions[0].version.to_string(), "1.0.0");
///
/// let bad = text.replace("tier = \"starter\"", "tier = \"gold\"");
/// let errors = parse_key_manifest(&bad, &from).unwrap_err();
/// assert_eq!(errors[0].field.as_deref(), Some("tier"));
/// ```
pub fn parse_key_manifest(text: &str, from: &ManifestSource<'_>) -> Result<KeyDraft, Vec<ManifestError>> {
    let ManifestSource {
        file,
        folder: folder_slug,
        kind: expected_kind,
        today,
    } = *from;
    let manifest: KeyManifest = match toml::Deserializer::parse(text) {
        Ok(de) => serde_path_to_error::deserialize(de).map_err(|e| {
            let inner = e.inner();
            let line = inner.span().map(|s| line_of(text, s.start));
            vec![field_error_from_serde(file, e.path(), inner.message()).at_line(line)]
        })?,
        Err(e) => return Err(vec![toml_syntax_error(file, text, &e)]),
    };
    let mut errors: Vec<ManifestError> = reserved(file, &manifest.slug).into_iter().collect();
    if manifest.slug.as_str() != folder_slug {
        errors.push(ManifestError::new(
            file,
            Some("slug"),
            format!("slug `{}` must equal its folder name `{folder_slug}`", manifest.slug),
        ));
    }
    if manifest.kind != expected_kind {
        errors.push(ManifestError::new(
            file,
            Some("kind"),
            format!(
                "kind `{}` does not belong in this source folder, which holds `{expected_kind}` KEYS",
                manifest.kind
            ),
        ));
    }
    let draft = KeyDraft {
        meta: KeyMetadata {
            slug: manifest.slug,
            name: manifest.name,
            kind: manifest.kind,
            tier: manifest.tier,
            summary: manifest.summary,
            description: manifest.description,
            roles: manifest.roles,
            intents: manifest.intents,
            categories: manifest.categories,
            tags: manifest.tags,
        },
        versions: manifest
            .versions
            .into_iter()
            .enumerate()
            .map(|(i, v)| VersionDraft {
                version: v.version,
                released_at: v.released_at,
                changelog: v.changelog,
                preview: v.preview,
                files: None,
                field_prefix: format!("versions[{i}]"),
                line: None,
            })
            .collect(),
        manifest_file: file.to_owned(),
    };
    errors.extend(check_draft(&draft, today, &BTreeMap::new()));
    if errors.is_empty() { Ok(draft) } else { Err(errors) }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn toml_syntax_error(file: &str, text: &str, e: &toml::de::Error) -> ManifestError {
    let line = e.span().map(|s| line_of(text, s.start));
    ManifestError::new(file, None, format!("not valid TOML: {}", e.message())).at_line(line)
}

/// Checks the rules serde cannot express. `lines` maps field paths to manifest lines.
fn check_draft(draft: &KeyDraft, today: NaiveDate, lines: &BTreeMap<String, usize>) -> Vec<ManifestError> {
    let file = draft.manifest_file.as_str();
    let mut errors = Vec::new();
    let mut push = |field: &str, reason: String| {
        errors.push(ManifestError::new(file, Some(field), reason).at_line(lines.get(field).copied()));
    };
    let m = &draft.meta;
    let name_len = m.name.chars().count();
    if !(3..=80).contains(&name_len) || m.name.trim() != m.name {
        push(
            "name",
            format!("name must be 3 to 80 characters without surrounding spaces (has {name_len})"),
        );
    }
    let summary_len = m.summary.chars().count();
    if summary_len == 0 || summary_len > 160 || m.summary.contains('\n') {
        push(
            "summary",
            format!("summary must be one line of 1 to 160 characters (has {summary_len})"),
        );
    }
    if m.description.trim().is_empty() {
        push("description", "description must not be empty".into());
    }
    check_list(&mut push, "roles", &m.roles);
    check_list(&mut push, "intents", &m.intents);
    check_list(&mut push, "categories", &m.categories);
    if m.tags.len() > 12 {
        push("tags", format!("at most 12 tags (has {})", m.tags.len()));
    }
    for (i, tag) in m.tags.iter().enumerate() {
        let ok = !tag.is_empty()
            && tag.len() <= 32
            && tag
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            push(
                &format!("tags[{i}]"),
                format!("tag `{tag}` must be 1 to 32 characters of a-z, 0-9 and `-`"),
            );
        }
    }
    if m.tags.iter().collect::<HashSet<_>>().len() != m.tags.len() {
        push("tags", "tags must not repeat".into());
    }
    if draft.versions.is_empty() {
        push("versions", "a KEY needs at least one version".into());
    }
    let mut seen = HashSet::new();
    for v in &draft.versions {
        let p = &v.field_prefix;
        if !seen.insert(v.version) {
            push(
                &format!("{p}.version"),
                format!("version {} is declared twice", v.version),
            );
        }
        if v.released_at > today {
            push(
                &format!("{p}.released_at"),
                format!("release date {} is in the future (today is {today})", v.released_at),
            );
        }
        if v.changelog.trim().is_empty() {
            push(&format!("{p}.changelog"), "changelog must not be empty".into());
        }
        let max_preview = if v.files.is_some() { 3 } else { 5 };
        if v.preview.is_empty() || v.preview.len() > max_preview {
            push(
                &format!("{p}.preview"),
                format!("list 1 to {max_preview} preview files (has {})", v.preview.len()),
            );
        }
        for (i, path) in v.preview.iter().enumerate() {
            if let Err(reason) = check_relative_path(path) {
                push(&format!("{p}.preview[{i}]"), reason);
            } else if let Some(files) = &v.files
                && !files.contains(path)
            {
                push(
                    &format!("{p}.preview[{i}]"),
                    format!("preview file `{path}` is not one of the version's files"),
                );
            }
        }
        if let Some(files) = &v.files {
            if !files.iter().any(|f| f.ends_with(".ipynb")) {
                push(
                    &format!("{p}.files"),
                    "a Jupyter KEY version needs at least one .ipynb file".into(),
                );
            }
            for (i, path) in files.iter().enumerate() {
                if let Err(reason) = check_relative_path(path) {
                    push(&format!("{p}.files[{i}]"), reason);
                }
            }
            if files.iter().collect::<HashSet<_>>().len() != files.len() {
                push(&format!("{p}.files"), "files must not repeat".into());
            }
        }
    }
    errors
}

fn check_list<T: PartialEq + fmt::Display>(push: &mut impl FnMut(&str, String), field: &str, items: &[T]) {
    if items.is_empty() || items.len() > 5 {
        push(field, format!("list 1 to 5 {field} (has {})", items.len()));
    }
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            push(&format!("{field}[{i}]"), format!("`{a}` is listed twice"));
        }
    }
}

/// The result of reading one `## <slug>` section of the Jupyter library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JupyterSectionResult {
    /// The heading's text (the intended slug, even when invalid).
    pub heading: String,
    /// Line of the `##` heading.
    pub line: usize,
    /// The draft, or every problem found in this section.
    pub draft: Result<KeyDraft, Vec<ManifestError>>,
}

/// Parses `JUPYTER_KEYS_LIBRARY.md`. Each section is judged on its own, so one malformed
/// section never hides the others.
///
/// # Errors
/// None at this level: each section carries its own result.
///
/// ```
/// use catalog::parse_jupyter_library;
/// let md = "# Library\n\n## demo-pack\n\n- name: Demo pack\n- summary: A demo.\n- tier: starter\n\
/// - roles: analyst\n- intents: analyze-data\n- categories: data-analysis\n\nShows the format.\n\n### 1.0.0\n\n\
/// - released_at: 2026-01-02\n- files: 1.0.0/intro.ipynb\n- preview: 1.0.0/intro.ipynb\n\
/// - changelog: First.\n";
/// let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
/// let sections = parse_jupyter_library(md, "jupyter-keys/JUPYTER_KEYS_LIBRARY.md", today);
/// let draft = sections[0].draft.as_ref().unwrap();
/// assert_eq!(draft.meta.slug.as_str(), "demo-pack");
/// assert_eq!(draft.versions[0].files.as_deref(), Some(&["intro.ipynb".to_string()][..]));
/// ```
#[must_use]
pub fn parse_jupyter_library(text: &str, file: &str, today: NaiveDate) -> Vec<JupyterSectionResult> {
    type Section<'t> = (String, usize, Vec<(usize, &'t str)>);
    let mut sections: Vec<Section<'_>> = Vec::new();
    let mut in_fence = false;
    for (idx, line) in text.lines().enumerate() {
        let n = idx + 1;
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && let Some(h) = line.strip_prefix("## ") {
            sections.push((h.trim().to_owned(), n, Vec::new()));
        } else if let Some(s) = sections.last_mut() {
            s.2.push((n, line));
        }
    }
    sections
        .into_iter()
        .map(|(heading, line, body)| JupyterSectionResult {
            draft: parse_jupyter_section(file, &heading, line, &body, today),
            heading,
            line,
        })
        .collect()
}

fn parse_jupyter_section(
    file: &str,
    heading: &str,
    heading_line: usize,
    body: &[(usize, &str)],
    today: NaiveDate,
) -> Result<KeyDraft, Vec<ManifestError>> {
    let mut errors = Vec::new();
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    let mut top = serde_json::Map::new();
    top.insert("slug".into(), heading.into());
    lines.insert("slug".into(), heading_line);
    let mut description = String::new();
    let mut versions: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
    let mut version_lines: Vec<usize> = Vec::new();
    let mut seen_prose = false;

    for &(n, raw) in body {
        let line = raw.trim_end();
        if let Some(v) = line.strip_prefix("### ") {
            let mut map = serde_json::Map::new();
            map.insert("version".into(), v.trim().into());
            lines.insert(format!("versions[{}].version", versions.len()), n);
            lines.insert(format!("versions[{}]", versions.len()), n);
            versions.push(map);
            version_lines.push(n);
            continue;
        }
        if line.starts_with('#') && line.trim_start_matches('#').starts_with(' ') {
            errors.push(
                ManifestError::new(
                    file,
                    None,
                    format!("unexpected heading `{line}`: a KEY section holds only `### <version>` subsections"),
                )
                .at_line(Some(n)),
            );
            continue;
        }
        let field_line = line.strip_prefix("- ").and_then(|rest| {
            let (k, v) = rest.split_once(':')?;
            let k = k.trim();
            (!k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .then(|| (k.to_owned(), v.trim().to_owned()))
        });
        let idx = versions.len().saturating_sub(1);
        match (field_line, versions.last_mut()) {
            (Some((k, v)), Some(map)) => {
                let value = match k.as_str() {
                    "files" | "preview" => split_list(&v),
                    _ => v.into(),
                };
                let path = format!("versions[{idx}].{k}");
                if map.insert(k.clone(), value).is_some() {
                    errors.push(ManifestError::new(file, Some(&path), "field given twice").at_line(Some(n)));
                }
                lines.insert(path, n);
            }
            (Some((k, v)), None) if !seen_prose => {
                let value = match k.as_str() {
                    "roles" | "intents" | "categories" | "tags" => split_list(&v),
                    "slug" | "description" | "versions" => {
                        errors.push(
                            ManifestError::new(
                                file,
                                Some(&k),
                                format!("`{k}` is not a field line: it comes from the heading or the prose"),
                            )
                            .at_line(Some(n)),
                        );
                        continue;
                    }
                    _ => v.into(),
                };
                if top.insert(k.clone(), value).is_some() {
                    errors.push(ManifestError::new(file, Some(&k), "field given twice").at_line(Some(n)));
                }
                lines.insert(k, n);
            }
            _ => {
                if versions.is_empty() {
                    if !line.trim().is_empty() || seen_prose {
                        seen_prose |= !line.trim().is_empty();
                        description.push_str(line);
                        description.push('\n');
                    }
                } else if !line.trim().is_empty() {
                    errors.push(
                        ManifestError::new(
                            file,
                            None,
                            format!("unexpected text in a version subsection: `{line}`; use `- field: value` lines"),
                        )
                        .at_line(Some(n)),
                    );
                }
            }
        }
    }
    top.insert("description".into(), description.trim().to_owned().into());
    lines.insert("description".into(), heading_line);
    top.insert(
        "versions".into(),
        versions.into_iter().map(serde_json::Value::Object).collect(),
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    let value = serde_json::Value::Object(top);
    let section: JupyterKeySection = deserialize_json(file, value).map_err(|mut e| {
        e.line = e
            .field
            .as_ref()
            .and_then(|f| {
                lines
                    .get(f)
                    .or_else(|| lines.get(f.rsplit_once('.').map_or("", |x| x.0)))
            })
            .copied()
            .or(Some(heading_line));
        vec![e]
    })?;
    if let Some(e) = reserved(file, &section.slug) {
        return Err(vec![e.at_line(Some(heading_line))]);
    }
    let draft = KeyDraft {
        meta: KeyMetadata {
            slug: section.slug,
            name: section.name,
            kind: Kind::Jupyter,
            tier: section.tier,
            summary: section.summary,
            description: section.description,
            roles: section.roles,
            intents: section.intents,
            categories: section.categories,
            tags: section.tags,
        },
        versions: section
            .versions
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let prefix = format!("{}/", v.version);
                let strip = |p: &String| p.strip_prefix(&prefix).map(str::to_owned);
                let files: Vec<String> = v
                    .files
                    .iter()
                    .map(|p| strip(p).unwrap_or_else(|| format!("../{p}")))
                    .collect();
                let preview: Vec<String> = v
                    .preview
                    .iter()
                    .map(|p| strip(p).unwrap_or_else(|| format!("../{p}")))
                    .collect();
                VersionDraft {
                    version: v.version,
                    released_at: v.released_at,
                    changelog: v.changelog,
                    preview,
                    files: Some(files),
                    field_prefix: format!("versions[{i}]"),
                    line: version_lines.get(i).copied(),
                }
            })
            .collect(),
        manifest_file: file.to_owned(),
    };
    let mut errors = check_draft(&draft, today, &lines);
    for (i, v) in draft.versions.iter().enumerate() {
        for (field, list) in [
            ("files", v.files.as_deref().unwrap_or_default()),
            ("preview", &v.preview),
        ] {
            for (j, p) in list.iter().enumerate() {
                if p.starts_with("../") && !p.starts_with("../..") {
                    let path = format!("versions[{i}].{field}");
                    errors.retain(|e| e.field.as_deref() != Some(&format!("{path}[{j}]")));
                    errors.push(
                        ManifestError::new(
                            file,
                            Some(&format!("{path}[{j}]")),
                            format!("`{}` must live under the version folder `{}/`", &p[3..], v.version),
                        )
                        .at_line(lines.get(&path).copied()),
                    );
                }
            }
        }
    }
    if errors.is_empty() { Ok(draft) } else { Err(errors) }
}

fn split_list(v: &str) -> serde_json::Value {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| serde_json::Value::from(s.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
    }

    const GOOD: &str = r#"
slug = "demo-kit"
name = "Demo kit"
kind = "runbook"
summary = "A demo."
description = "Shows the format."
tier = "operator"
roles = ["sre"]
intents = ["respond-to-incidents"]
categories = ["incident-response"]
tags = ["k8s"]

[[versions]]
version = "1.0.0"
released_at = "2026-01-02"
preview = ["RUNBOOK.md"]
changelog = "First."
"#;

    fn errors_for(text: &str) -> Vec<ManifestError> {
        parse_key_manifest(
            text,
            &ManifestSource {
                file: "runbook-keys/demo-kit/key.toml",
                folder: "demo-kit",
                kind: Kind::Runbook,
                today: today(),
            },
        )
        .unwrap_err()
    }

    #[test]
    fn good_manifest_parses() {
        let d = parse_key_manifest(
            GOOD,
            &ManifestSource {
                file: "f",
                folder: "demo-kit",
                kind: Kind::Runbook,
                today: today(),
            },
        )
        .unwrap();
        assert_eq!(d.meta.tier, Tier::Operator);
        assert_eq!(d.versions[0].preview, vec!["RUNBOOK.md"]);
    }

    /// Each rule: (edit, field, words the reason must contain).
    #[test]
    fn every_rule_names_field_and_reason() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "tier = \"operator\"",
                "tier = \"gold\"",
                "tier",
                "unknown variant `gold`",
            ),
            (
                "kind = \"runbook\"",
                "kind = \"video\"",
                "kind",
                "unknown variant `video`",
            ),
            ("kind = \"runbook\"", "kind = \"node-next\"", "kind", "does not belong"),
            ("slug = \"demo-kit\"", "slug = \"Demo_Kit\"", "slug", "lowercase"),
            ("slug = \"demo-kit\"", "slug = \"other-kit\"", "slug", "folder name"),
            (
                "version = \"1.0.0\"",
                "version = \"1.0\"",
                "versions[0].version",
                "MAJOR.MINOR.PATCH",
            ),
            (
                "tags = [\"k8s\"]",
                "tags = [\"k8s\"]\ncolour = \"red\"",
                "colour",
                "unknown field `colour`",
            ),
            ("name = \"Demo kit\"\n", "", "name", "missing field `name`"),
            (
                "released_at = \"2026-01-02\"",
                "released_at = \"2026-13-02\"",
                "versions[0].released_at",
                "input is out of range",
            ),
            (
                "released_at = \"2026-01-02\"",
                "released_at = \"2027-01-02\"",
                "versions[0].released_at",
                "in the future",
            ),
            ("roles = [\"sre\"]", "roles = []", "roles", "1 to 5"),
            ("roles = [\"sre\"]", "roles = [\"sre\", \"sre\"]", "roles[1]", "twice"),
            (
                "roles = [\"sre\"]",
                "roles = [\"wizard\"]",
                "roles[0]",
                "unknown variant",
            ),
            (
                "intents = [\"respond-to-incidents\"]",
                "intents = [\"fly\"]",
                "intents[0]",
                "unknown variant",
            ),
            (
                "categories = [\"incident-response\"]",
                "categories = [\"x\"]",
                "categories[0]",
                "unknown variant",
            ),
            (
                "preview = [\"RUNBOOK.md\"]",
                "preview = [\"../x\"]",
                "versions[0].preview[0]",
                "outside",
            ),
            (
                "preview = [\"RUNBOOK.md\"]",
                "preview = [\"/etc/passwd\"]",
                "versions[0].preview[0]",
                "relative",
            ),
            ("tags = [\"k8s\"]", "tags = [\"K8S\"]", "tags[0]", "a-z"),
            ("summary = \"A demo.\"", "summary = \"\"", "summary", "one line"),
            (
                "changelog = \"First.\"",
                "changelog = \" \"",
                "versions[0].changelog",
                "empty",
            ),
        ];
        for (from, to, field, reason) in cases {
            assert!(GOOD.contains(from), "{from}");
            let errors = errors_for(&GOOD.replacen(from, to, 1));
            assert!(
                errors
                    .iter()
                    .any(|e| e.field.as_deref() == Some(*field) && e.reason.contains(reason)),
                "edit {from:?} -> {to:?}: expected field {field} with {reason:?}, got {errors:#?}"
            );
            assert!(errors.iter().all(|e| e.file == "runbook-keys/demo-kit/key.toml"));
        }
    }

    #[test]
    fn duplicate_version_is_refused() {
        let text = format!(
            "{GOOD}\n[[versions]]\nversion = \"1.0.0\"\nreleased_at = \"2026-01-03\"\npreview = [\"RUNBOOK.md\"]\nchangelog = \"Again.\"\n"
        );
        let errors = errors_for(&text);
        assert!(
            errors
                .iter()
                .any(|e| e.field.as_deref() == Some("versions[1].version") && e.reason.contains("twice"))
        );
    }

    #[test]
    fn toml_syntax_error_has_a_line() {
        let errors = errors_for("slug = \"demo-kit\"\nname = \n");
        assert_eq!(errors[0].line, Some(2));
        assert!(errors[0].reason.starts_with("not valid TOML"));
    }

    const LIB: &str = "# Library\n\nIntro.\n\n## demo-pack\n\n- name: Demo pack\n- summary: A demo.\n- tier: starter\n\
- roles: analyst, data-scientist\n- intents: analyze-data\n- categories: data-analysis\n- tags: pandas\n\n\
Shows the format.\n\nSecond paragraph.\n\n### 1.0.0\n\n- released_at: 2026-01-02\n\
- files: 1.0.0/intro.ipynb, 1.0.0/data/x.csv\n- preview: 1.0.0/intro.ipynb\n- changelog: First.\n\n\
### 1.1.0\n\n- released_at: 2026-02-02\n- files: 1.1.0/intro.ipynb\n- preview: 1.1.0/intro.ipynb\n- changelog: Second.\n";

    #[test]
    fn reserved_slugs_are_refused_with_the_reason() {
        let text = GOOD.replace("slug = \"demo-kit\"", "slug = \"bundles\"");
        let errs = parse_key_manifest(
            &text,
            &ManifestSource {
                file: "runbook-keys/bundles/key.toml",
                folder: "bundles",
                kind: Kind::Runbook,
                today: today(),
            },
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field.as_deref(), Some("slug"));
        assert!(
            errs[0].reason.contains("reserved") && errs[0].reason.contains("/marketplace/bundles"),
            "{errs:?}"
        );

        let lib = LIB.replace("## demo-pack", "## bundles");
        let s = parse_jupyter_library(&lib, "lib.md", today());
        let errs = s[0].draft.as_ref().unwrap_err();
        assert_eq!(errs[0].field.as_deref(), Some("slug"), "{errs:?}");
        assert_eq!(errs[0].line, Some(5));
        assert!(errs[0].reason.contains("reserved"));
    }

    #[test]
    fn jupyter_library_parses() {
        let s = parse_jupyter_library(LIB, "lib.md", today());
        assert_eq!(s.len(), 1);
        let d = s[0].draft.as_ref().unwrap();
        assert_eq!(d.meta.roles, vec![Role::Analyst, Role::DataScientist]);
        assert_eq!(d.meta.description, "Shows the format.\n\nSecond paragraph.");
        assert_eq!(d.versions.len(), 2);
        assert_eq!(
            d.versions[0].files.as_ref().unwrap(),
            &vec!["intro.ipynb".to_string(), "data/x.csv".to_string()]
        );
    }

    #[test]
    fn jupyter_errors_name_line_and_field() {
        let cases: &[(&str, &str, Option<&str>, &str, usize)] = &[
            (
                "- tier: starter",
                "- tier: gold",
                Some("tier"),
                "unknown variant `gold`",
                9,
            ),
            (
                "- released_at: 2026-02-02",
                "- released_at: someday",
                Some("versions[1].released_at"),
                "input contains invalid characters",
                28,
            ),
            (
                "- files: 1.1.0/intro.ipynb",
                "- files: 1.1.0/intro.py",
                Some("versions[1].files"),
                ".ipynb",
                29,
            ),
            (
                "- files: 1.1.0/intro.ipynb",
                "- files: 1.0.0/intro.ipynb",
                Some("versions[1].files[0]"),
                "under the version folder",
                29,
            ),
            (
                "- tags: pandas",
                "- tags: pandas\n- colour: red",
                Some("colour"),
                "unknown field `colour`",
                14,
            ),
            (
                "### 1.1.0",
                "### 1.1",
                Some("versions[1].version"),
                "MAJOR.MINOR.PATCH",
                26,
            ),
            (
                "- changelog: Second.",
                "- changelog: Second.\n#### Notes",
                None,
                "unexpected heading",
                32,
            ),
            (
                "- changelog: Second.",
                "- changelog: Second.\nloose text",
                None,
                "unexpected text",
                32,
            ),
        ];
        for (from, to, field, reason, line) in cases {
            assert!(LIB.contains(from), "{from}");
            let s = parse_jupyter_library(&LIB.replacen(from, to, 1), "lib.md", today());
            let errors = s[0].draft.clone().unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|e| e.field.as_deref() == *field && e.reason.contains(reason) && e.line == Some(*line)),
                "edit {from:?}: expected {field:?} {reason:?} line {line}, got {errors:#?}"
            );
        }
    }

    #[test]
    fn one_bad_section_does_not_hide_the_others() {
        let two = format!("{LIB}\n## Bad Slug\n\n- name: x\n");
        let s = parse_jupyter_library(&two, "lib.md", today());
        assert_eq!(s.len(), 2);
        assert!(s[0].draft.is_ok());
        let errs = s[1].draft.clone().unwrap_err();
        assert_eq!(errs[0].field.as_deref(), Some("slug"));
        assert_eq!(errs[0].line, Some(s[1].line));
    }

    #[test]
    fn relative_paths() {
        for ok in ["a", "a/b.txt", ".env.example", "a/.hidden"] {
            assert!(check_relative_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/../b", "..", "a//b", "./a", "a\\b", "C:/x"] {
            assert!(check_relative_path(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary input never panics either parser; it parses or reports errors that name
        /// the file.
        #[test]
        fn parsers_never_panic(text in "(?s).{0,400}", lines in proptest::collection::vec("(## |### |- [a-z_]{1,12}: |)[ -~]{0,40}", 0..30)) {
            let today = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
            if let Err(errors) = parse_key_manifest(&text, &ManifestSource { file: "f.toml", folder: "demo-kit", kind: Kind::Runbook, today }) {
                prop_assert!(errors.iter().all(|e| e.file == "f.toml"));
            }
            let md = lines.join("\n");
            for s in parse_jupyter_library(&md, "lib.md", today) {
                if let Err(errors) = s.draft {
                    prop_assert!(errors.iter().all(|e| e.file == "lib.md"));
                }
            }
        }
    }
}
