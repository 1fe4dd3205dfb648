//! Reading `keys-assets/`: the three sources, their manifests and each version's files.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use catalog::{
    JUPYTER_LIBRARY_FILE, KEY_MANIFEST_FILE, KeyDraft, Kind, ManifestError, VersionDraft, check_notebook,
    parse_jupyter_library, parse_key_manifest,
};
use chrono::NaiveDate as Today;

/// Folder of node-next KEYS inside the assets directory.
pub const NODE_NEXT_DIR: &str = "node-next-keys";
/// Folder of runbook KEYS.
pub const RUNBOOK_DIR: &str = "runbook-keys";
/// Folder of the Jupyter library and its files.
pub const JUPYTER_DIR: &str = "jupyter-keys";

/// Size limits applied while reading.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Largest sum of one version's files.
    pub max_version_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 10 * 1024 * 1024,
            max_version_bytes: 100 * 1024 * 1024,
        }
    }
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path inside the archive.
    pub archive_path: String,
    /// Where to read it.
    pub disk_path: PathBuf,
    /// Executable bit (kept in the archive so scripts stay runnable).
    pub executable: bool,
}

/// A KEY whose manifest and files passed every check.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Parsed manifest.
    pub draft: KeyDraft,
    /// Each version with its files, in manifest order.
    pub versions: Vec<(VersionDraft, Vec<SourceFile>)>,
}

/// A KEY refused while reading; `slug` is what the source intended, when known.
#[derive(Debug, Clone)]
pub struct SourceRejection {
    /// Intended slug (folder or heading).
    pub slug: String,
    /// Kind of the source it came from.
    pub kind: Kind,
    /// Every problem.
    pub errors: Vec<ManifestError>,
}

/// Everything read from an assets directory.
#[derive(Debug, Default)]
pub struct Sources {
    /// KEYS ready to package.
    pub candidates: Vec<Candidate>,
    /// KEYS refused.
    pub rejections: Vec<SourceRejection>,
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<fs::DirEntry>> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    Ok(entries)
}

/// Reads the three sources under `root`.
///
/// # Errors
/// Only when `root` itself cannot be read; every per-KEY problem becomes a rejection.
pub fn read_sources(root: &Path, limits: Limits, today: Today) -> std::io::Result<Sources> {
    if !root.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("assets directory {} does not exist; pass --assets DIR", root.display()),
        ));
    }
    let mut out = Sources::default();
    let source_error = |kind: Kind, path: &Path, reason: String| SourceRejection {
        slug: format!("({})", rel(root, path)),
        kind,
        errors: vec![ManifestError::new(rel(root, path), None, reason)],
    };
    for (dir, kind) in [(NODE_NEXT_DIR, Kind::NodeNext), (RUNBOOK_DIR, Kind::Runbook)] {
        let source = root.join(dir);
        if !source.is_dir() {
            continue;
        }
        let entries = match sorted_entries(&source) {
            Ok(e) => e,
            Err(e) => {
                out.rejections.push(source_error(
                    kind,
                    &source,
                    format!("cannot list the source folder: {e}"),
                ));
                continue;
            }
        };
        for entry in entries {
            let path = entry.path();
            let folder = entry.file_name().to_string_lossy().into_owned();
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    out.rejections
                        .push(source_error(kind, &path, format!("cannot read: {e}")));
                    continue;
                }
            };
            if file_type.is_symlink() {
                out.rejections.push(SourceRejection {
                    slug: folder,
                    kind,
                    errors: vec![ManifestError::new(
                        rel(root, &path),
                        None,
                        "a KEY folder must not be a symlink; move the folder here",
                    )],
                });
                continue;
            }
            if !file_type.is_dir() {
                continue;
            }
            match read_folder_key(root, &path, &folder, kind, limits, today) {
                Ok(c) => out.candidates.push(c),
                Err(errors) => out.rejections.push(SourceRejection {
                    slug: folder,
                    kind,
                    errors,
                }),
            }
        }
    }
    let library = root.join(JUPYTER_DIR).join(JUPYTER_LIBRARY_FILE);
    if library.is_file() {
        let file = rel(root, &library);
        match fs::read(&library)
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|e| format!("not UTF-8 text: {e}")))
        {
            Err(reason) => out.rejections.push(source_error(
                Kind::Jupyter,
                &library,
                format!("cannot read the library: {reason}"),
            )),
            Ok(text) => {
                for section in parse_jupyter_library(&text, &file, today) {
                    let result = section.draft.and_then(|draft| {
                        let key_dir = root.join(JUPYTER_DIR).join(draft.meta.slug.as_str());
                        if fs::symlink_metadata(&key_dir).is_ok_and(|m| m.file_type().is_symlink()) {
                            return Err(vec![ManifestError::new(
                                rel(root, &key_dir),
                                None,
                                "a KEY folder must not be a symlink; move the folder here",
                            )]);
                        }
                        let versions = draft
                            .versions
                            .iter()
                            .map(|v| {
                                let files = jupyter_files(root, &key_dir, &file, v, limits)?;
                                Ok((v.clone(), files))
                            })
                            .collect::<Result<Vec<_>, Vec<ManifestError>>>()?;
                        Ok(Candidate { draft, versions })
                    });
                    match result {
                        Ok(c) => out.candidates.push(c),
                        Err(errors) => out.rejections.push(SourceRejection {
                            slug: section.heading,
                            kind: Kind::Jupyter,
                            errors,
                        }),
                    }
                }
            }
        }
    }
    Ok(out)
}

fn read_folder_key(
    root: &Path,
    key_dir: &Path,
    folder: &str,
    kind: Kind,
    limits: Limits,
    today: Today,
) -> Result<Candidate, Vec<ManifestError>> {
    let manifest = key_dir.join(KEY_MANIFEST_FILE);
    let file = rel(root, &manifest);
    let text = fs::read_to_string(&manifest).map_err(|e| {
        vec![ManifestError::new(
            &file,
            None,
            format!("cannot read the manifest: {e}; every KEY folder needs a {KEY_MANIFEST_FILE}"),
        )]
    })?;
    let draft = parse_key_manifest(
        &text,
        &catalog::ManifestSource {
            file: &file,
            folder,
            kind,
            today,
        },
    )?;
    let canonical_key_dir = key_dir
        .canonicalize()
        .map_err(|e| vec![ManifestError::new(&file, None, e.to_string())])?;
    let mut errors = Vec::new();
    let declared: BTreeSet<String> = draft.versions.iter().map(|v| v.version.to_string()).collect();
    if let Ok(entries) = sorted_entries(key_dir) {
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && !declared.contains(&name) {
                errors.push(ManifestError::new(
                    &file,
                    Some("versions"),
                    format!(
                        "folder `{name}/` is not a version declared in {KEY_MANIFEST_FILE}; declare it or remove it"
                    ),
                ));
            }
        }
    }
    let mut versions = Vec::new();
    for v in &draft.versions {
        let vdir = key_dir.join(v.version.to_string());
        if fs::symlink_metadata(&vdir).is_ok_and(|m| m.file_type().is_symlink()) {
            errors.push(ManifestError::new(
                rel(root, &vdir),
                Some(&format!("{}.version", v.field_prefix)),
                "a version folder must not be a symlink; released files must live in the KEY folder",
            ));
            continue;
        }
        if !vdir.is_dir() {
            errors.push(ManifestError::new(
                &file,
                Some(&format!("{}.version", v.field_prefix)),
                format!("version folder `{}/` is missing", v.version),
            ));
            continue;
        }
        let mut files = Vec::new();
        let mut total = 0;
        walk(
            root,
            &canonical_key_dir,
            &vdir,
            &vdir,
            limits,
            &mut files,
            &mut total,
            &mut errors,
        );
        if total > limits.max_version_bytes {
            errors.push(ManifestError::new(
                rel(root, &vdir),
                None,
                format!(
                    "version is {total} bytes, over the {} byte limit",
                    limits.max_version_bytes
                ),
            ));
        }
        if files.is_empty() {
            errors.push(ManifestError::new(
                rel(root, &vdir),
                None,
                "version folder holds no files",
            ));
        }
        for (i, p) in v.preview.iter().enumerate() {
            if catalog::check_relative_path(p).is_ok() && !files.iter().any(|f| f.archive_path == *p) {
                errors.push(ManifestError::new(
                    &file,
                    Some(&format!("{}.preview[{i}]", v.field_prefix)),
                    format!("preview file `{p}` does not exist in `{}/`", v.version),
                ));
            }
        }
        versions.push((v.clone(), files));
    }
    if errors.is_empty() {
        Ok(Candidate { draft, versions })
    } else {
        Err(errors)
    }
}

/// Checks one file on disk: nothing that looks like a secret (`.env`, private keys, …; reported
/// under `field`), symlinks must stay inside the KEY folder, size within limits, notebooks
/// well-formed. Returns the file's size and executable bit.
fn check_file(
    root: &Path,
    canonical_key_dir: &Path,
    path: &Path,
    field: &str,
    limits: Limits,
) -> Result<(u64, bool, PathBuf), ManifestError> {
    let shown = rel(root, path);
    if let Some(why) = catalog::secret_file_reason(&shown) {
        return Err(ManifestError::new(
            &shown,
            Some(field),
            format!("refused: this file {why}"),
        ));
    }
    let meta = fs::symlink_metadata(path).map_err(|e| ManifestError::new(&shown, None, format!("cannot read: {e}")))?;
    // Resolve every link on the way (the file itself, or any folder above it) and require the
    // real file to sit inside the KEY folder.
    let target = path.canonicalize().map_err(|e| {
        let what = if meta.file_type().is_symlink() {
            "broken symlink"
        } else {
            "cannot resolve"
        };
        ManifestError::new(&shown, None, format!("{what}: {e}"))
    })?;
    if !target.starts_with(canonical_key_dir) {
        let what = if meta.file_type().is_symlink() {
            "symlink points"
        } else {
            "path leads (through a symlinked folder)"
        };
        return Err(ManifestError::new(
            &shown,
            None,
            format!("{what} outside the KEY folder"),
        ));
    }
    let meta = fs::metadata(&target).map_err(|e| ManifestError::new(&shown, None, format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(ManifestError::new(&shown, None, "not a regular file"));
    }
    if meta.len() > limits.max_file_bytes {
        return Err(ManifestError::new(
            &shown,
            None,
            format!(
                "file is {} bytes, over the {} byte limit",
                meta.len(),
                limits.max_file_bytes
            ),
        ));
    }
    if path.extension().is_some_and(|e| e == "ipynb") {
        let bytes = fs::read(&target).map_err(|e| ManifestError::new(&shown, None, format!("cannot read: {e}")))?;
        check_notebook(&bytes)
            .map_err(|reason| ManifestError::new(&shown, None, format!("malformed notebook: {reason}")))?;
    }
    #[cfg(unix)]
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    };
    #[cfg(not(unix))]
    let executable = false;
    Ok((meta.len(), executable, target))
}

#[allow(clippy::too_many_arguments)]
fn walk(
    root: &Path,
    canonical_key_dir: &Path,
    base: &Path,
    dir: &Path,
    limits: Limits,
    files: &mut Vec<SourceFile>,
    total: &mut u64,
    errors: &mut Vec<ManifestError>,
) {
    let entries = match sorted_entries(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(ManifestError::new(rel(root, dir), None, format!("cannot list: {e}")));
            return;
        }
    };
    for entry in entries {
        let path = entry.path();
        let link = fs::symlink_metadata(&path)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if link && path.is_dir() {
            errors.push(ManifestError::new(
                rel(root, &path),
                None,
                "symlinked folders are not allowed in a KEY; copy the files instead",
            ));
            continue;
        }
        let is_real_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if is_real_dir {
            walk(root, canonical_key_dir, base, &path, limits, files, total, errors);
            continue;
        }
        match check_file(root, canonical_key_dir, &path, "files", limits) {
            Ok((size, executable, disk_path)) => {
                *total += size;
                files.push(SourceFile {
                    archive_path: rel(base, &path),
                    disk_path,
                    executable,
                });
            }
            Err(e) => errors.push(e),
        }
    }
}

fn jupyter_files(
    root: &Path,
    key_dir: &Path,
    library_file: &str,
    v: &VersionDraft,
    limits: Limits,
) -> Result<Vec<SourceFile>, Vec<ManifestError>> {
    let canonical_key_dir = key_dir.canonicalize().map_err(|e| {
        vec![
            ManifestError::new(
                library_file,
                None,
                format!("KEY folder {} cannot be read: {e}", rel(root, key_dir)),
            )
            .at_line(v.line),
        ]
    })?;
    let vdir = key_dir.join(v.version.to_string());
    let mut errors = Vec::new();
    let mut files = Vec::new();
    let mut total = 0;
    for (i, p) in v.files.as_deref().unwrap_or_default().iter().enumerate() {
        let path = vdir.join(p);
        if fs::symlink_metadata(&path).is_err() {
            errors.push(
                ManifestError::new(
                    library_file,
                    Some(&format!("{}.files[{i}]", v.field_prefix)),
                    format!("file `{}` does not exist", rel(root, &path)),
                )
                .at_line(v.line),
            );
            continue;
        }
        let field = format!("{}.files[{i}]", v.field_prefix);
        match check_file(root, &canonical_key_dir, &path, &field, limits) {
            Ok((size, executable, disk_path)) => {
                total += size;
                files.push(SourceFile {
                    archive_path: p.clone(),
                    disk_path,
                    executable,
                });
            }
            Err(e) => errors.push(e),
        }
    }
    if total > limits.max_version_bytes {
        errors.push(ManifestError::new(
            rel(root, &vdir),
            None,
            format!(
                "version is {total} bytes, over the {} byte limit",
                limits.max_version_bytes
            ),
        ));
    }
    files.sort_by(|a, b| a.archive_path.cmp(&b.archive_path));
    if errors.is_empty() { Ok(files) } else { Err(errors) }
}
