//! Packaging a version's files into one deterministic `.tar.gz`.
//!
//! An archive unpacks into one folder, `<slug>-<version>/` (never a tarbomb), and every entry
//! carries the version's release date (00:00 UTC) as its modification time: a real date a
//! buyer can read, and the same on every run. The same files always give the same bytes
//! (sorted entries, zero owners, fixed modes, gzip without a timestamp), so the archive's
//! sha256 identifies the content and re-ingesting an unchanged version is recognised without
//! storing anything.
//!
//! Versions released before this layout (flat entries dated 1970) keep their archives —
//! released versions are immutable — and are recognised by [`legacy_content_sha256`].

use std::io::Write;

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use crate::source::SourceFile;

/// A packaged version.
#[derive(Debug, Clone)]
pub struct Package {
    /// The `.tar.gz` bytes.
    pub bytes: Vec<u8>,
    /// Lowercase hex sha256 of `bytes`.
    pub sha256: String,
    /// Lowercase hex sha256 of the uncompressed tar (identifies the files whatever the
    /// compressor does).
    pub content_sha256: String,
    /// Each file's archive path and contents, in archive order (for the preview).
    pub files: Vec<(String, Vec<u8>)>,
}

/// Lowercase hex sha256.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where an archive's entries go and what time they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The one top-level folder (`postgres-failover-runbook-1.2.0`).
    pub root: String,
    /// Modification time of every entry, in seconds since 1970 (the release date).
    pub mtime: u64,
}

impl Layout {
    /// `<slug>-<version>/`, dated `released` at 00:00 UTC.
    #[must_use]
    pub fn new(slug: &str, version: &catalog::Version, released: chrono::NaiveDate) -> Self {
        let midnight = released.and_time(chrono::NaiveTime::MIN).and_utc().timestamp();
        Self {
            root: format!("{slug}-{version}"),
            mtime: u64::try_from(midnight).unwrap_or(0),
        }
    }
}

fn read(f: &SourceFile) -> std::io::Result<Vec<u8>> {
    std::fs::read(&f.disk_path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", f.disk_path.display())))
}

fn header(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(kind);
    header
}

fn sorted(files: &[SourceFile]) -> Vec<&SourceFile> {
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.archive_path.cmp(&b.archive_path));
    sorted
}

/// Reads and packages files under `layout.root/`, each folder listed before what it holds.
///
/// # Errors
/// An I/O error naming the file that could not be read.
pub fn package(files: &[SourceFile], layout: &Layout) -> std::io::Result<Package> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let mut contents = Vec::with_capacity(files.len());
    let mut folders: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut folder = |tar: &mut tar::Builder<Vec<u8>>, path: String| -> std::io::Result<()> {
        if folders.insert(path.clone()) {
            let mut h = header(tar::EntryType::Directory, 0, 0o755, layout.mtime);
            tar.append_data(&mut h, format!("{path}/"), std::io::empty())?;
        }
        Ok(())
    };
    folder(&mut tar, layout.root.clone())?;
    for f in sorted(files) {
        let data = read(f)?;
        let parts: Vec<&str> = f.archive_path.split('/').collect();
        for depth in 1..parts.len() {
            folder(&mut tar, format!("{}/{}", layout.root, parts[..depth].join("/")))?;
        }
        let mode = if f.executable { 0o755 } else { 0o644 };
        let mut h = header(tar::EntryType::Regular, data.len() as u64, mode, layout.mtime);
        tar.append_data(&mut h, format!("{}/{}", layout.root, f.archive_path), data.as_slice())?;
        contents.push((f.archive_path.clone(), data));
    }
    let raw = tar.into_inner()?;
    let content_sha256 = sha256_hex(&raw);
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(raw.len() / 2), Compression::default());
    gz.write_all(&raw)?;
    let bytes = gz.finish()?;
    let sha256 = sha256_hex(&bytes);
    Ok(Package {
        bytes,
        sha256,
        content_sha256,
        files: contents,
    })
}

/// The content digest the same files had in the first layout (flat entries, time 0), to
/// recognise a version released in it as unchanged.
///
/// # Errors
/// An I/O error naming the file that could not be read.
pub fn legacy_content_sha256(files: &[SourceFile]) -> std::io::Result<String> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for f in sorted(files) {
        let data = read(f)?;
        let mode = if f.executable { 0o755 } else { 0o644 };
        let mut h = header(tar::EntryType::Regular, data.len() as u64, mode, 0);
        tar.append_data(&mut h, &f.archive_path, data.as_slice())?;
    }
    Ok(sha256_hex(&tar.into_inner()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packaging_is_deterministic_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), "bee").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.sh"), "#!/bin/sh\necho hi\n").unwrap();
        let files = vec![
            SourceFile {
                archive_path: "sub/a.sh".into(),
                disk_path: dir.path().join("sub/a.sh"),
                executable: true,
            },
            SourceFile {
                archive_path: "b.txt".into(),
                disk_path: dir.path().join("b.txt"),
                executable: false,
            },
        ];
        let layout = Layout::new(
            "demo-kit",
            &catalog::Version::new(1, 2, 0),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        );
        assert_eq!(layout.root, "demo-kit-1.2.0");
        assert_eq!(layout.mtime, 1_795_651_200, "2026-11-26T00:00:00Z");
        let a = package(&files, &layout).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut reversed = files.clone();
        reversed.reverse();
        let b = package(&reversed, &layout).unwrap();
        assert_eq!(a.sha256, b.sha256, "order and time must not change the archive");
        assert_eq!(a.sha256, sha256_hex(&a.bytes));

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(a.bytes.as_slice()));
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mode().unwrap(),
                    e.header().mtime().unwrap(),
                )
            })
            .collect();
        let t = layout.mtime;
        assert_eq!(
            entries,
            vec![
                ("demo-kit-1.2.0/".to_string(), 0o755, t),
                ("demo-kit-1.2.0/b.txt".to_string(), 0o644, t),
                ("demo-kit-1.2.0/sub/".to_string(), 0o755, t),
                ("demo-kit-1.2.0/sub/a.sh".to_string(), 0o755, t),
            ],
            "one top-level folder, folders before their files, the release date on every entry"
        );

        // Unpacked by a real tar: one folder, real dates.
        let out = tempfile::tempdir().unwrap();
        tar::Archive::new(flate2::read::GzDecoder::new(a.bytes.as_slice()))
            .unpack(out.path())
            .unwrap();
        let top: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(top, vec!["demo-kit-1.2.0".to_string()]);
        let modified = std::fs::metadata(out.path().join("demo-kit-1.2.0/sub/a.sh"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), t);

        // The first layout's digest is still computed the old way.
        let mut flat = tar::Builder::new(Vec::new());
        flat.mode(tar::HeaderMode::Deterministic);
        for (path, data, mode) in [("b.txt", "bee", 0o644), ("sub/a.sh", "#!/bin/sh\necho hi\n", 0o755)] {
            let mut h = header(tar::EntryType::Regular, data.len() as u64, mode, 0);
            flat.append_data(&mut h, path, data.as_bytes()).unwrap();
        }
        assert_eq!(
            legacy_content_sha256(&files).unwrap(),
            sha256_hex(&flat.into_inner().unwrap())
        );
        assert_ne!(legacy_content_sha256(&files).unwrap(), a.content_sha256);

        assert_eq!(a.content_sha256, b.content_sha256);
        assert_ne!(
            a.content_sha256, a.sha256,
            "the content digest is over the uncompressed tar"
        );

        std::fs::write(dir.path().join("b.txt"), "changed").unwrap();
        let changed = package(&files, &layout).unwrap();
        assert_ne!(changed.sha256, a.sha256);
        assert_ne!(changed.content_sha256, a.content_sha256);
    }
}
