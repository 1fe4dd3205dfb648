//! Packaging a version's files into one deterministic `.tar.gz`.
//!
//! The same files always give the same bytes (sorted entries, zero timestamps and owners,
//! fixed modes, gzip without a timestamp), so the archive's sha256 identifies the content and
//! re-ingesting an unchanged version is recognised without storing anything.

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

/// Reads and packages files.
///
/// # Errors
/// An I/O error naming the file that could not be read.
pub fn package(files: &[SourceFile]) -> std::io::Result<Package> {
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.archive_path.cmp(&b.archive_path));
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let mut contents = Vec::with_capacity(sorted.len());
    for f in sorted {
        let data = std::fs::read(&f.disk_path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", f.disk_path.display())))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(if f.executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &f.archive_path, data.as_slice())?;
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
        let a = package(&files).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut reversed = files.clone();
        reversed.reverse();
        let b = package(&reversed).unwrap();
        assert_eq!(a.sha256, b.sha256, "order and time must not change the archive");
        assert_eq!(a.sha256, sha256_hex(&a.bytes));

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(a.bytes.as_slice()));
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![("b.txt".to_string(), 0o644), ("sub/a.sh".to_string(), 0o755)]
        );

        assert_eq!(a.content_sha256, b.content_sha256);
        assert_ne!(
            a.content_sha256, a.sha256,
            "the content digest is over the uncompressed tar"
        );

        std::fs::write(dir.path().join("b.txt"), "changed").unwrap();
        let changed = package(&files).unwrap();
        assert_ne!(changed.sha256, a.sha256);
        assert_ne!(changed.content_sha256, a.content_sha256);
    }
}
