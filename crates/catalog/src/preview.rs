//! Building the public preview of a version from its files, and checking notebooks.
//!
//! Pure functions over bytes: the ingester reads the files and hands them in.

use serde_json::Value;

use crate::{FileExcerpt, Kind, NotebookCell, OutlineHeading, Preview, PreviewFile};

const EXCERPT_LINES: usize = 40;
const EXCERPT_CHARS: usize = 4_000;
const README_CHARS: usize = 1_200;
const CELLS_PER_NOTEBOOK: usize = 4;
const CELL_CHARS: usize = 1_500;

/// A checked notebook: its cells as `(cell_type, source)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notebook {
    /// Cells in order.
    pub cells: Vec<(String, String)>,
}

/// Checks that bytes are a Jupyter notebook in nbformat 4 and returns its cells.
///
/// # Errors
/// A reason naming what is wrong (not JSON, wrong `nbformat`, a cell without `cell_type`, …).
///
/// ```
/// let nb = br##"{"nbformat": 4, "nbformat_minor": 5, "metadata": {},
///   "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Hi\n", "there"]}]}"##;
/// let parsed = catalog::check_notebook(nb).unwrap();
/// assert_eq!(parsed.cells[0], ("markdown".to_string(), "# Hi\nthere".to_string()));
/// assert!(catalog::check_notebook(b"{\"nbformat\": 3}").is_err());
/// ```
pub fn check_notebook(bytes: &[u8]) -> Result<Notebook, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("notebook is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("notebook must be a JSON object")?;
    match obj.get("nbformat").and_then(Value::as_u64) {
        Some(4) => {}
        Some(n) => return Err(format!("notebook has nbformat {n}; nbformat 4 is required")),
        None => return Err("notebook has no integer `nbformat`; nbformat 4 is required".into()),
    }
    if obj.get("nbformat_minor").and_then(Value::as_u64).is_none() {
        return Err("notebook has no integer `nbformat_minor`".into());
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        return Err("notebook has no `metadata` object".into());
    }
    let cells = obj
        .get("cells")
        .and_then(Value::as_array)
        .ok_or("notebook has no `cells` array")?;
    let mut out = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let cell_type = cell
            .get("cell_type")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("cell {i} has no `cell_type`"))?;
        if !matches!(cell_type, "code" | "markdown" | "raw") {
            return Err(format!(
                "cell {i} has unknown cell_type `{cell_type}` (expected code, markdown or raw)"
            ));
        }
        if !cell.get("metadata").is_some_and(Value::is_object) {
            return Err(format!("cell {i} has no `metadata` object"));
        }
        let source = match cell.get("source") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => {
                let mut s = String::new();
                for p in parts {
                    s.push_str(
                        p.as_str()
                            .ok_or_else(|| format!("cell {i} has a non-string line in `source`"))?,
                    );
                }
                s
            }
            _ => return Err(format!("cell {i} has no `source` (string or list of strings)")),
        };
        if cell_type == "code" && !cell.get("outputs").is_some_and(Value::is_array) {
            return Err(format!("code cell {i} has no `outputs` array"));
        }
        out.push((cell_type.to_owned(), source));
    }
    Ok(Notebook { cells: out })
}

fn shorten(text: &str, max_chars: usize, max_lines: usize) -> (String, bool) {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i >= max_lines || out.chars().count() + line.chars().count() > max_chars {
            return (out.trim_end().to_owned(), true);
        }
        out.push_str(line);
        out.push('\n');
    }
    (out.trim_end().to_owned(), false)
}

/// One file handed to [`build_preview`].
#[derive(Debug, Clone, Copy)]
pub struct PreviewInput<'a> {
    /// Path inside the archive.
    pub path: &'a str,
    /// File bytes.
    pub bytes: &'a [u8],
}

/// Builds a version's public preview.
///
/// * `files`: every file of the version (sorted by path is best);
/// * `preview`: the paths the manifest names as preview.
///
/// Notebooks named as preview contribute their first cells; markdown files of a runbook their
/// outline; other text files an excerpt. The README (or RUNBOOK) gives the readme excerpt.
///
/// ```
/// use catalog::{build_preview, Kind, PreviewInput};
/// let files = [PreviewInput { path: "RUNBOOK.md", bytes: b"# Failover\n## Detect\ntext\n## Fix\n" }];
/// let p = build_preview(Kind::Runbook, &files, &["RUNBOOK.md".to_string()]);
/// assert_eq!(p.outline.len(), 3);
/// assert_eq!(p.files[0].size_bytes, 33);
/// ```
#[must_use]
pub fn build_preview(kind: Kind, files: &[PreviewInput<'_>], preview: &[String]) -> Preview {
    let mut p = Preview {
        files: files
            .iter()
            .map(|f| PreviewFile {
                path: f.path.to_owned(),
                size_bytes: f.bytes.len() as u64,
            })
            .collect(),
        ..Preview::default()
    };
    let readme = files
        .iter()
        .filter(|f| !f.path.contains('/'))
        .find(|f| {
            let lower = f.path.to_ascii_lowercase();
            lower == "readme.md" || lower == "runbook.md"
        })
        .or_else(|| {
            files
                .iter()
                .find(|f| f.path.to_ascii_lowercase().ends_with("readme.md"))
        });
    if let Some(readme) = readme
        && let Ok(text) = std::str::from_utf8(readme.bytes)
    {
        let (excerpt, _) = shorten(text, README_CHARS, 30);
        p.readme_excerpt = Some(excerpt);
    }
    for path in preview {
        let Some(file) = files.iter().find(|f| f.path == path) else {
            continue;
        };
        if path.ends_with(".ipynb") {
            if let Ok(nb) = check_notebook(file.bytes) {
                for (cell_type, source) in nb.cells.into_iter().take(CELLS_PER_NOTEBOOK) {
                    let (source, _) = shorten(&source, CELL_CHARS, 60);
                    p.notebook_cells.push(NotebookCell {
                        notebook: path.clone(),
                        cell_type,
                        source,
                    });
                }
            }
            continue;
        }
        let Ok(text) = std::str::from_utf8(file.bytes) else {
            continue;
        };
        if kind == Kind::Runbook && path.ends_with(".md") {
            let mut in_fence = false;
            for line in text.lines() {
                if line.trim_start().starts_with("```") {
                    in_fence = !in_fence;
                }
                if in_fence {
                    continue;
                }
                let level = line.bytes().take_while(|b| *b == b'#').count();
                if (1..=4).contains(&level) && line.as_bytes().get(level) == Some(&b' ') {
                    p.outline.push(OutlineHeading {
                        file: path.clone(),
                        level: u8::try_from(level).unwrap_or(4),
                        title: line[level..].trim().to_owned(),
                    });
                }
            }
        }
        let (text, truncated) = shorten(text, EXCERPT_CHARS, EXCERPT_LINES);
        p.excerpts.push(FileExcerpt {
            path: path.clone(),
            text,
            truncated,
        });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_rules() {
        let cases: &[(&str, &str)] = &[
            ("not json", "not valid JSON"),
            ("[]", "JSON object"),
            (r#"{"nbformat": 3}"#, "nbformat 3"),
            (r#"{"nbformat": 4, "metadata": {}, "cells": []}"#, "nbformat_minor"),
            (r#"{"nbformat": 4, "nbformat_minor": 5, "cells": []}"#, "metadata"),
            (r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}"#, "cells"),
            (
                r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"metadata": {}, "source": ""}]}"#,
                "cell 0 has no `cell_type`",
            ),
            (
                r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "video", "metadata": {}, "source": ""}]}"#,
                "unknown cell_type",
            ),
            (
                r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x"}]}"#,
                "outputs",
            ),
        ];
        for (input, reason) in cases {
            let err = check_notebook(input.as_bytes()).unwrap_err();
            assert!(err.contains(reason), "{input}: {err}");
        }
    }

    #[test]
    fn preview_of_a_next_kit() {
        let files = [
            PreviewInput {
                path: "README.md",
                bytes: b"# Kit\n\nRun `npm i`.\n",
            },
            PreviewInput {
                path: "package.json",
                bytes: b"{\"name\":\"kit\"}",
            },
            PreviewInput {
                path: "src/app.ts",
                bytes: b"export {}",
            },
        ];
        let p = build_preview(Kind::NodeNext, &files, &["package.json".into()]);
        assert_eq!(p.files.len(), 3);
        assert_eq!(p.readme_excerpt.as_deref(), Some("# Kit\n\nRun `npm i`."));
        assert_eq!(p.excerpts[0].path, "package.json");
        assert!(p.outline.is_empty());
    }

    #[test]
    fn long_files_are_truncated() {
        let long = "line\n".repeat(500);
        let files = [PreviewInput {
            path: "a.sh",
            bytes: long.as_bytes(),
        }];
        let p = build_preview(Kind::Runbook, &files, &["a.sh".into()]);
        assert!(p.excerpts[0].truncated);
        assert_eq!(p.excerpts[0].text.lines().count(), EXCERPT_LINES);
    }
}
