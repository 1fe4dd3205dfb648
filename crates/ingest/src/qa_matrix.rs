//! The QA matrix: `docs/revenue/qa_matrix.toml` is the source of truth; `QA_MATRIX.md` is
//! rendered from it (`keys-ingest sales-docs`) and checked against the repository: every
//! proof names a test that exists (and is not ignored), a row is `passing` exactly when it has
//! a test, `benchmark` exactly when it has a benchmark script with its last figure, `missing`
//! when it has neither, and every category has at least three rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

/// The data file, relative to the repository root.
pub const QA_SOURCE: &str = "docs/revenue/qa_matrix.toml";
/// The rendered matrix, relative to the repository root.
pub const QA_DOC: &str = "docs/revenue/QA_MATRIX.md";

/// The categories, in order, with their id prefix.
pub const CATEGORIES: [(&str, &str); 10] = [
    ("BRW", "Browse & Discovery"),
    ("PAY", "Purchase & Payment"),
    ("ENT", "Entitlements & Access"),
    ("DLV", "Downloads & Asset Delivery"),
    ("UPG", "Upgrades & Credits"),
    ("WHK", "Webhooks & Events"),
    ("REV", "Revocation & Cancellation"),
    ("E2E", "End-to-End Flows"),
    ("SEC", "Security"),
    ("PRF", "Performance"),
];

/// Fewest rows in all, and per category.
pub const MIN_CASES: usize = 39;
/// Fewest rows per category.
pub const MIN_PER_CATEGORY: usize = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    case: Vec<Case>,
}

/// One row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `QA-BRW-01`.
    pub id: String,
    /// One of [`CATEGORIES`].
    pub category: String,
    /// What is exercised.
    pub case: String,
    /// The observable expected result.
    pub expected: String,
    /// `path/to/file.rs::test_fn`, for `passing` rows.
    #[serde(default)]
    pub proof: Option<String>,
    /// `passing`, `benchmark` or `missing`.
    pub status: String,
    /// For `benchmark` rows.
    #[serde(default)]
    pub benchmark: Option<Benchmark>,
}

/// A benchmark's last measurement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benchmark {
    /// The script that measures it (`.ci/bench`).
    pub script: String,
    /// The last measured figure, in words.
    pub figure: String,
    /// The target it is held to.
    pub target: String,
    /// Whether the figure meets the target.
    pub met: bool,
    /// When it was measured (`YYYY-MM-DD`).
    pub date: String,
}

/// Why the data file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct QaError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

/// Parses the data file.
///
/// # Errors
/// [`QaError`] naming the file and the TOML problem.
pub fn parse(text: &str) -> Result<Vec<Case>, QaError> {
    toml::from_str::<File>(text).map(|f| f.case).map_err(|e| QaError {
        file: QA_SOURCE.to_owned(),
        reason: e.to_string(),
    })
}

/// The counts the summary line states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows.
    pub total: usize,
    /// Rows with a test CI runs.
    pub passing: usize,
    /// Benchmark rows that meet their target.
    pub benchmark_met: usize,
    /// Benchmark rows that do not.
    pub benchmark_not_met: usize,
    /// Rows with no proof yet.
    pub missing: usize,
}

/// Counts the rows by status.
#[must_use]
pub fn summary(cases: &[Case]) -> Summary {
    let mut s = Summary {
        total: cases.len(),
        ..Summary::default()
    };
    for c in cases {
        match (c.status.as_str(), &c.benchmark) {
            ("passing", _) => s.passing += 1,
            ("benchmark", Some(b)) if b.met => s.benchmark_met += 1,
            ("benchmark", _) => s.benchmark_not_met += 1,
            _ => s.missing += 1,
        }
    }
    s
}

/// Whether `file` (repository-relative, under `root`) defines a test named `name` that CI runs:
/// `fn name(` preceded, in its attribute block, by `#[test]` or `#[tokio::test…]` and no
/// `#[ignore]`.
fn test_exists(root: &Path, file: &str, name: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(root.join(file)).map_err(|e| format!("cannot read {file}: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let needle = format!("fn {name}(");
    let Some(at) = lines.iter().position(|l| {
        let t = l.trim_start();
        t.starts_with(&needle) || t.starts_with(&format!("async {needle}"))
    }) else {
        return Err(format!("{file} has no `fn {name}(`"));
    };
    let mut is_test = false;
    for l in lines[..at].iter().rev() {
        let t = l.trim();
        if t.starts_with("#[") {
            if t.starts_with("#[ignore") {
                return Err(format!("{file}::{name} is #[ignore]d, so CI does not run it"));
            }
            is_test |= t == "#[test]" || t.starts_with("#[tokio::test");
        } else if !(t.starts_with("///") || t.starts_with("//")) {
            break;
        }
    }
    if is_test {
        Ok(())
    } else {
        Err(format!("{file}::{name} is not a #[test] or #[tokio::test]"))
    }
}

/// Every way the rows disagree with the rules or the repository under `root` (empty: fine).
#[must_use]
pub fn check(cases: &[Case], root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut per_category: BTreeMap<&str, usize> = CATEGORIES.iter().map(|(_, c)| (*c, 0)).collect();
    for c in cases {
        let at = &c.id;
        if !seen.insert(c.id.clone()) {
            problems.push(format!("{at}: the id is used twice"));
        }
        match CATEGORIES.iter().find(|(_, name)| *name == c.category) {
            Some((prefix, name)) => {
                *per_category.entry(name).or_default() += 1;
                let well_formed =
                    c.id.strip_prefix(&format!("QA-{prefix}-"))
                        .is_some_and(|n| n.len() == 2 && n.chars().all(|d| d.is_ascii_digit()));
                if !well_formed {
                    problems.push(format!("{at}: the id must be QA-{prefix}-NN for {name}"));
                }
            }
            None => problems.push(format!("{at}: unknown category `{}`", c.category)),
        }
        if c.case.trim().is_empty() || c.expected.trim().is_empty() {
            problems.push(format!("{at}: `case` and `expected` must say something"));
        }
        match (c.status.as_str(), &c.proof, &c.benchmark) {
            ("passing", Some(proof), None) => match proof.split_once("::") {
                Some((file, name)) => {
                    if let Err(e) = test_exists(root, file, name) {
                        problems.push(format!("{at}: {e}"));
                    }
                }
                None => problems.push(format!("{at}: proof `{proof}` must be `path/to/file.rs::test_fn`")),
            },
            ("passing", None, _) => problems.push(format!("{at}: marked passing without a proof")),
            ("benchmark", None, Some(b)) => {
                if !root.join(&b.script).is_file() {
                    problems.push(format!("{at}: benchmark script {} does not exist", b.script));
                }
                if chrono::NaiveDate::parse_from_str(&b.date, "%Y-%m-%d").is_err() {
                    problems.push(format!("{at}: benchmark date `{}` is not YYYY-MM-DD", b.date));
                }
                if b.figure.trim().is_empty() || b.target.trim().is_empty() {
                    problems.push(format!("{at}: a benchmark row needs its figure and target"));
                }
            }
            ("benchmark", _, None) => problems.push(format!("{at}: marked benchmark without a benchmark")),
            ("missing", None, None) => {}
            ("missing", _, _) => problems.push(format!(
                "{at}: marked missing but has a proof or benchmark; say what it is"
            )),
            (other, _, _) if !["passing", "benchmark", "missing"].contains(&other) => {
                problems.push(format!("{at}: status `{other}` is not passing, benchmark or missing"));
            }
            _ => problems.push(format!("{at}: a row has either a test proof or a benchmark, not both")),
        }
    }
    for (name, n) in &per_category {
        if *n < MIN_PER_CATEGORY {
            problems.push(format!("{name}: {n} cases, at least {MIN_PER_CATEGORY} needed"));
        }
    }
    if cases.len() < MIN_CASES {
        problems.push(format!("{} cases, at least {MIN_CASES} needed", cases.len()));
    }
    problems
}

/// The summary line at the top of the matrix.
#[must_use]
pub fn summary_line(s: &Summary) -> String {
    format!(
        "**{} cases: {} passing, {} benchmark ({} met, {} not met), {} missing.**",
        s.total,
        s.passing,
        s.benchmark_met + s.benchmark_not_met,
        s.benchmark_met,
        s.benchmark_not_met,
        s.missing
    )
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// `QA_MATRIX.md`.
#[must_use]
pub fn render(cases: &[Case]) -> String {
    let s = summary(cases);
    let mut out = String::new();
    let _ = writeln!(out, "# QA matrix\n");
    let _ = writeln!(out, "{}\n", summary_line(&s));
    let _ = writeln!(
        out,
        "Generated from [`qa_matrix.toml`](qa_matrix.toml) by `cargo run -p keys-ingest -- sales-docs`; do not \
         edit by hand. CI fails when a row names a test that does not exist or is ignored, when a row is \
         marked passing without a test, when a category has fewer than {MIN_PER_CATEGORY} rows, or when this \
         file differs from the data (`crates/ingest/tests/ingest.rs::sales_docs_are_current`).\n"
    );
    let _ = writeln!(
        out,
        "Status: **passing** — the named test exists and `cargo test --workspace` (CI) runs it; \
         **benchmark** — measured by a script, never a timed test, with the last figure and whether it meets \
         its target; **missing** — not covered yet, listed so it is not forgotten.\n"
    );
    let _ = writeln!(
        out,
        "| Category | Cases | Passing | Benchmark (met / not met) | Missing |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (_, name) in CATEGORIES {
        let rows: Vec<Case> = cases.iter().filter(|c| c.category == name).cloned().collect();
        let t = summary(&rows);
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} / {} | {} |",
            t.total, t.passing, t.benchmark_met, t.benchmark_not_met, t.missing
        );
    }
    let _ = writeln!(
        out,
        "| **All** | **{}** | **{}** | **{} / {}** | **{}** |",
        s.total, s.passing, s.benchmark_met, s.benchmark_not_met, s.missing
    );
    for (_, name) in CATEGORIES {
        let _ = writeln!(out, "\n## {name}\n");
        let _ = writeln!(out, "| ID | Case | Expected result | Proof | Status |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for c in cases.iter().filter(|c| c.category == name) {
            let (proof, status) = match (&c.proof, &c.benchmark) {
                (Some(p), _) => (format!("`{p}`"), "passing".to_owned()),
                (None, Some(b)) => (
                    format!("`{}`: {} ({})", b.script, cell(&b.figure), b.date),
                    format!(
                        "benchmark: {} — target {}",
                        if b.met { "met" } else { "**not met**" },
                        cell(&b.target)
                    ),
                ),
                (None, None) => ("—".to_owned(), "**missing**".to_owned()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {proof} | {status} |",
                c.id,
                cell(&c.case),
                cell(&c.expected)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, category: &str, proof: Option<&str>, status: &str) -> Case {
        Case {
            id: id.into(),
            category: category.into(),
            case: "a case".into(),
            expected: "a result".into(),
            proof: proof.map(str::to_owned),
            status: status.into(),
            benchmark: None,
        }
    }

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("t")).unwrap();
        std::fs::write(
            dir.path().join("t/a.rs"),
            "#[test]\nfn real() {}\n\n#[tokio::test]\n#[allow(x)]\n/// doc\nasync fn real_async() {}\n\n\
             #[test]\n#[ignore]\nfn skipped() {}\n\nfn helper() {}\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn proofs_must_name_tests_ci_runs() {
        let root = repo();
        let ok = [
            row("QA-BRW-01", "Browse & Discovery", Some("t/a.rs::real"), "passing"),
            row("QA-BRW-02", "Browse & Discovery", Some("t/a.rs::real_async"), "passing"),
        ];
        let problems = check(&ok, root.path());
        assert!(problems.iter().all(|p| !p.starts_with("QA-")), "{problems:?}");
        for (proof, why) in [
            ("t/a.rs::nope", "has no `fn nope(`"),
            ("t/a.rs::helper", "is not a #[test]"),
            ("t/a.rs::skipped", "#[ignore]d"),
            ("t/missing.rs::real", "cannot read"),
            ("t/a.rs", "must be `path/to/file.rs::test_fn`"),
        ] {
            let problems = check(
                &[row("QA-BRW-01", "Browse & Discovery", Some(proof), "passing")],
                root.path(),
            );
            assert!(problems.iter().any(|p| p.contains(why)), "{proof}: {problems:?}");
        }
    }

    #[test]
    fn a_status_must_match_its_proof_and_the_counts_add_up() {
        let root = repo();
        let problems = check(&[row("QA-PAY-01", "Purchase & Payment", None, "passing")], root.path());
        assert!(
            problems.iter().any(|p| p.contains("passing without a proof")),
            "{problems:?}"
        );
        let problems = check(
            &[row("QA-PAY-01", "Purchase & Payment", Some("t/a.rs::real"), "missing")],
            root.path(),
        );
        assert!(problems.iter().any(|p| p.contains("marked missing")), "{problems:?}");
        let problems = check(&[row("QA-PAY-1", "Purchase & Payment", None, "missing")], root.path());
        assert!(problems.iter().any(|p| p.contains("QA-PAY-NN")), "{problems:?}");
        let problems = check(&[row("QA-PAY-01", "Purchase & Payment", None, "missing")], root.path());
        assert!(
            problems.iter().any(|p| p.starts_with("Security: 0 cases")),
            "every category needs three: {problems:?}"
        );
        let mut bench = row("QA-PRF-01", "Performance", None, "benchmark");
        bench.benchmark = Some(Benchmark {
            script: "t/a.rs".into(),
            figure: "1 ms".into(),
            target: "2 ms".into(),
            met: false,
            date: "2026-12-03".into(),
        });
        let rows = [
            row("QA-SEC-01", "Security", Some("t/a.rs::real"), "passing"),
            row("QA-SEC-02", "Security", None, "missing"),
            bench,
        ];
        let s = summary(&rows);
        assert_eq!(
            (s.total, s.passing, s.benchmark_met, s.benchmark_not_met, s.missing),
            (3, 1, 0, 1, 1)
        );
        assert_eq!(s.passing + s.benchmark_met + s.benchmark_not_met + s.missing, s.total);
        let text = render(&rows);
        assert!(text.contains(&summary_line(&s)), "{text}");
        assert!(text.contains("**not met**"));
    }
}
