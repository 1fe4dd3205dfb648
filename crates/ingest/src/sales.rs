//! The numbers in the sales documents, computed from the shipped catalog, price list and
//! recommender so they cannot drift (`keys-ingest sales-docs`): what is inside every KEY
//! (counted from its current version's files), conservative hour estimates with their method,
//! the cost comparison, and the four personas' recommendations. The prose around them is written
//! by hand; each generated block sits between `<!-- BEGIN GENERATED: name -->` and
//! `<!-- END GENERATED: name -->` and is replaced whole.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use catalog::{Intent, KeyMetadata, Kind, Role, Slug, Tier};
use pricing::{Interval, Money, Offers};

use crate::source::{Limits, read_sources};

/// The proof pack, relative to the repository root.
pub const PROOF_PACK: &str = "docs/sales/PROOF_PACK.md";
/// The enablement guide, relative to the repository root.
pub const ENABLEMENT: &str = "docs/sales/ENABLEMENT.md";

/// The hourly rate the estimates are valued at, in minor units of the price list's currency.
pub const HOURLY_RATE_MINOR: i64 = 10_000;
/// A consultant's day rate for the same work (8 hours), in minor units.
pub const CONSULTANT_DAY_MINOR: i64 = 120_000;

/// Minutes of work one unit replaces, low and high (conservative: writing it, not
/// researching what to write).
#[derive(Debug, Clone, Copy)]
struct Rate {
    what: &'static str,
    low: i64,
    high: i64,
}

const SCRIPT: Rate = Rate {
    what: "script (`scripts/`, `*.sh`): written with its safety checks and tried once",
    low: 120,
    high: 240,
};
const CODE: Rate = Rate {
    what: "source file (`*.ts`, `*.tsx`, `*.js`, `*.py`, …): written and wired in",
    low: 45,
    high: 90,
};
const TEST: Rate = Rate {
    what: "test file",
    low: 45,
    high: 90,
};
const CONFIG: Rate = Rate {
    what: "configuration or alert-rule file (`*.yml`, `*.json`, `*.toml`, `.env.example`)",
    low: 20,
    high: 60,
};
const SECTION: Rate = Rate {
    what: "documentation section (a `##` heading in a Markdown file)",
    low: 20,
    high: 40,
};
const STEP: Rate = Rate {
    what: "checklist step (`- [ ]`)",
    low: 5,
    high: 10,
};
const CODE_CELL: Rate = Rate {
    what: "notebook code cell",
    low: 10,
    high: 20,
};
const TEXT_CELL: Rate = Rate {
    what: "notebook Markdown cell",
    low: 3,
    high: 8,
};

/// What one KEY's current version contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Catalog fields.
    pub meta: Option<KeyMetadata>,
    /// The current (highest) version.
    pub version: String,
    /// Files in it.
    pub files: usize,
    /// Scripts.
    pub scripts: usize,
    /// Application source files.
    pub code: usize,
    /// Test files.
    pub tests: usize,
    /// Configuration and alert-rule files.
    pub configs: usize,
    /// `##` sections of the Markdown files.
    pub sections: usize,
    /// Checklist steps.
    pub steps: usize,
    /// Notebooks.
    pub notebooks: usize,
    /// Notebook code cells.
    pub code_cells: usize,
    /// Notebook Markdown cells.
    pub text_cells: usize,
}

impl Inventory {
    /// Estimated minutes of work, low and high.
    #[must_use]
    pub fn minutes(&self) -> (i64, i64) {
        let units = [
            (SCRIPT, self.scripts),
            (CODE, self.code),
            (TEST, self.tests),
            (CONFIG, self.configs),
            (SECTION, self.sections),
            (STEP, self.steps),
            (CODE_CELL, self.code_cells),
            (TEXT_CELL, self.text_cells),
        ];
        units.iter().fold((0, 0), |(lo, hi), (r, n)| {
            let n = i64::try_from(*n).unwrap_or(i64::MAX);
            (lo + r.low * n, hi + r.high * n)
        })
    }

    fn slug(&self) -> String {
        self.meta.as_ref().map(|m| m.slug.to_string()).unwrap_or_default()
    }

    fn name(&self) -> String {
        self.meta.as_ref().map(|m| m.name.clone()).unwrap_or_default()
    }
}

/// Why the sales numbers cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum SalesError {
    /// The assets directory cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A KEY was rejected: the documents would not describe the catalog.
    #[error("{0}: the KEY is rejected by ingestion; fix it first (run keys-ingest --dry-run)")]
    Rejected(String),
    /// A notebook is not JSON.
    #[error("{file}: not a notebook: {reason}")]
    Notebook {
        /// The file.
        file: String,
        /// The parser's message.
        reason: String,
    },
    /// A generated block's markers are missing.
    #[error("{file}: no `<!-- BEGIN GENERATED: {name} -->` … `<!-- END GENERATED: {name} -->` block")]
    Markers {
        /// The document.
        file: String,
        /// The block.
        name: String,
    },
}

/// Whether `path` (relative) lies in a folder named `folder` at any depth.
fn in_folder(path: &str, folder: &str) -> bool {
    path.split('/').rev().skip(1).any(|segment| segment == folder)
}

fn extension(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(_, e)| e)
}

/// Counts what every KEY in `assets` ships in its current version.
///
/// # Errors
/// [`SalesError`] when the assets cannot be read or a KEY is rejected.
pub fn inventory(assets: &Path) -> Result<Vec<Inventory>, SalesError> {
    let far = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default();
    let sources = read_sources(assets, Limits::default(), far).map_err(|source| SalesError::Read {
        path: assets.display().to_string(),
        source,
    })?;
    if let Some(r) = sources.rejections.first() {
        return Err(SalesError::Rejected(r.slug.clone()));
    }
    let mut out = Vec::new();
    for c in sources.candidates {
        let Some((version, files)) = c.versions.iter().max_by_key(|(v, _)| v.version) else {
            continue;
        };
        let mut inv = Inventory {
            meta: Some(c.draft.meta.clone()),
            version: version.version.to_string(),
            files: files.len(),
            ..Inventory::default()
        };
        for f in files {
            let p = f.archive_path.as_str();
            let ext = extension(p);
            let text = || std::fs::read_to_string(&f.disk_path).unwrap_or_default();
            if ext == "ipynb" {
                inv.notebooks += 1;
                let nb: serde_json::Value = serde_json::from_str(&text()).map_err(|e| SalesError::Notebook {
                    file: f.disk_path.display().to_string(),
                    reason: e.to_string(),
                })?;
                for cell in nb["cells"].as_array().into_iter().flatten() {
                    match cell["cell_type"].as_str() {
                        Some("code") => inv.code_cells += 1,
                        Some("markdown") => inv.text_cells += 1,
                        _ => {}
                    }
                }
            } else if ext == "md" {
                let t = text();
                inv.steps += t.lines().filter(|l| l.trim_start().starts_with("- [ ]")).count();
                inv.sections += t.lines().filter(|l| l.starts_with("## ")).count();
            } else if in_folder(p, "test") || in_folder(p, "tests") || p.contains(".test.") {
                inv.tests += 1;
            } else if in_folder(p, "scripts") || ext == "sh" {
                inv.scripts += 1;
            } else if ["ts", "tsx", "js", "mjs", "cjs", "py", "sql", "prisma", "css"].contains(&ext) {
                inv.code += 1;
            } else if ["yml", "yaml", "json", "toml"].contains(&ext) || p.ends_with(".env.example") {
                inv.configs += 1;
            }
        }
        out.push(inv);
    }
    out.sort_by_key(|i| (i.meta.as_ref().map(|m| m.kind as usize), i.name()));
    Ok(out)
}

/// `minutes` as hours with one decimal (`7.5`).
fn hours(minutes: i64) -> String {
    let tenths = (minutes * 10 + 30) / 60;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// The value of `minutes` at the hourly rate.
fn value(minutes: i64, currency: pricing::Currency) -> Money {
    Money::from_minor(minutes * HOURLY_RATE_MINOR / 60, currency)
}

/// Hours of work at the hourly rate that `price` buys (the break-even), as `7.5`.
fn break_even(price: Money) -> String {
    hours(price.minor() * 60 / HOURLY_RATE_MINOR)
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::NodeNext => "Node/Next starter",
        Kind::Runbook => "Runbook",
        Kind::Jupyter => "Notebook pack",
    }
}

/// The inventory table.
#[must_use]
pub fn render_inventory(items: &[Inventory]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| KEY | Kind | Version | Files | Scripts | Source files | Tests | Config / alert files | Doc sections | Checklist steps | Notebooks (code + text cells) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for i in items {
        let kind = i.meta.as_ref().map_or("", |m| kind_label(m.kind));
        let nb = if i.notebooks == 0 {
            "—".to_owned()
        } else {
            format!("{} ({} + {})", i.notebooks, i.code_cells, i.text_cells)
        };
        let _ = writeln!(
            out,
            "| {} | {kind} | {} | {} | {} | {} | {} | {} | {} | {} | {nb} |",
            i.name(),
            i.version,
            i.files,
            i.scripts,
            i.code,
            i.tests,
            i.configs,
            i.sections,
            i.steps
        );
    }
    let mut totals: BTreeMap<usize, (usize, Inventory)> = BTreeMap::new();
    for i in items {
        let Some(m) = &i.meta else { continue };
        let e = totals.entry(m.kind as usize).or_default();
        e.0 += 1;
        let t = &mut e.1;
        t.meta = Some(m.clone());
        t.files += i.files;
        t.scripts += i.scripts;
        t.code += i.code;
        t.tests += i.tests;
        t.configs += i.configs;
        t.sections += i.sections;
        t.steps += i.steps;
        t.notebooks += i.notebooks;
        t.code_cells += i.code_cells;
        t.text_cells += i.text_cells;
    }
    let _ = writeln!(
        out,
        "\n| Kind | KEYS | Files | Scripts | Source files | Tests | Config / alert files | Doc sections | Checklist steps | Notebooks (code + text cells) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    for (n, t) in totals.values() {
        let kind = t.meta.as_ref().map_or("", |m| kind_label(m.kind));
        let _ = writeln!(
            out,
            "| {kind} | {n} | {} | {} | {} | {} | {} | {} | {} | {} ({} + {}) |",
            t.files,
            t.scripts,
            t.code,
            t.tests,
            t.configs,
            t.sections,
            t.steps,
            t.notebooks,
            t.code_cells,
            t.text_cells
        );
    }
    out
}

/// The estimate method.
#[must_use]
pub fn render_method(cur: pricing::Currency) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| Unit counted in the KEY | Minutes it replaces (low – high) |");
    let _ = writeln!(out, "|---|---|");
    for r in [SCRIPT, CODE, TEST, CONFIG, SECTION, STEP, CODE_CELL, TEXT_CELL] {
        let _ = writeln!(out, "| {} | {} – {} |", r.what, r.low, r.high);
    }
    let _ = writeln!(
        out,
        "\nValued at **{} per hour** (an engineer's loaded cost) and compared with a consultant at **{} per day** (8 hours).",
        Money::from_minor(HOURLY_RATE_MINOR, cur),
        Money::from_minor(CONSULTANT_DAY_MINOR, cur)
    );
    out
}

/// Hours, value and price per KEY, with the break-even.
#[must_use]
pub fn render_keys(items: &[Inventory], offers: &Offers) -> String {
    let cur = offers.prices().currency();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| KEY | Estimated hours (low – high) | Value at the hourly rate | Consultant days (low – high) | Price | Break-even (hours of work) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let (mut above, mut priced) = (0, 0);
    let (mut min_even, mut max_even) = (i64::MAX, 0);
    for i in items {
        let (lo, hi) = i.minutes();
        let Ok(slug) = i.slug().parse::<Slug>() else { continue };
        let Some(price) = offers.key_price(&slug) else { continue };
        let even = price.minor() * 60 / HOURLY_RATE_MINOR;
        priced += 1;
        above += usize::from(lo > even);
        min_even = min_even.min(even);
        max_even = max_even.max(even);
        let _ = writeln!(
            out,
            "| {} | {} – {} | {} – {} | {} – {} | {price} | {} |",
            i.name(),
            hours(lo),
            hours(hi),
            value(lo, cur),
            value(hi, cur),
            hours(lo / 8),
            hours(hi / 8),
            break_even(price)
        );
    }
    if priced > 0 {
        let _ = writeln!(
            out,
            "\nBreak-even from {} to {} hours of work; for {above} of the {priced} KEYS the low end of the estimate is above it.",
            hours(min_even),
            hours(max_even)
        );
    }
    out
}

/// Bundles and plans against the hours of what they contain.
#[must_use]
pub fn render_bundles_and_plans(items: &[Inventory], offers: &Offers) -> String {
    let cur = offers.prices().currency();
    let minutes: BTreeMap<String, (i64, i64)> = items.iter().map(|i| (i.slug(), i.minutes())).collect();
    let sum = |slugs: &mut dyn Iterator<Item = String>| {
        slugs.fold((0, 0), |(lo, hi), s| {
            let (a, b) = minutes.get(&s).copied().unwrap_or_default();
            (lo + a, hi + b)
        })
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| Bundle | KEYS | Estimated hours (low – high) | Value at the hourly rate | Members' list total | Bundle price | Break-even (hours) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for b in offers.bundles() {
        let Some(p) = offers.bundle_price(b) else { continue };
        let (lo, hi) = sum(&mut b.keys.iter().map(ToString::to_string));
        let _ = writeln!(
            out,
            "| {} | {} | {} – {} | {} – {} | {} | {} | {} |",
            b.title,
            b.keys.len(),
            hours(lo),
            hours(hi),
            value(lo, cur),
            value(hi, cur),
            p.list_total,
            p.price,
            break_even(p.price)
        );
    }
    let _ = writeln!(
        out,
        "\n| Plan | KEYS today | Estimated hours in scope (low – high) | Monthly | Annual | Break-even per month (hours) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for &tier in Tier::ALL {
        let scope = offers.plan_scope(tier);
        let (lo, hi) = sum(&mut scope.iter().map(|(s, _)| s.to_string()));
        let monthly = offers.plan_price(tier, Interval::Monthly);
        let annual = offers.plan_price(tier, Interval::Annual);
        let _ = writeln!(
            out,
            "| {} | {} | {} – {} | {monthly} | {annual} | {} |",
            catalog::title(tier.as_str()),
            scope.len(),
            hours(lo),
            hours(hi),
            break_even(monthly)
        );
    }
    out
}

/// A persona: who, and what they tell the shop.
#[derive(Debug, Clone)]
pub struct Persona {
    /// Heading.
    pub title: &'static str,
    /// The role (one the discovery rules know).
    pub role: Role,
    /// What they want to do.
    pub intents: Vec<Intent>,
}

/// The four personas of the enablement guide.
#[must_use]
pub fn personas() -> Vec<Persona> {
    vec![
        Persona {
            title: "The on-call SRE",
            role: Role::Sre,
            intents: vec![Intent::RespondToIncidents],
        },
        Persona {
            title: "The full-stack developer shipping a SaaS",
            role: Role::FullstackDeveloper,
            intents: vec![Intent::BootstrapProject, Intent::AddPayments],
        },
        Persona {
            title: "The data scientist",
            role: Role::DataScientist,
            intents: vec![Intent::AnalyzeData, Intent::TrainModels],
        },
        Persona {
            title: "The founder",
            role: Role::Founder,
            intents: vec![Intent::BootstrapProject, Intent::ReduceCosts],
        },
    ]
}

/// Each persona with the top five KEYS the shop's recommender gives them (the rules and weights
/// of `keys-assets/discovery.toml`; a visitor who owns nothing).
///
/// # Errors
/// [`SalesError`] when the weights file cannot be read (a rejected file means the defaults).
pub fn render_personas(items: &[Inventory], assets: &Path, offers: &Offers) -> Result<String, SalesError> {
    let path = assets.join(discovery::DISCOVERY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| SalesError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let weights = discovery::Weights::parse(&text, discovery::DISCOVERY_FILE).unwrap_or_default();
    let mut metas: Vec<KeyMetadata> = items.iter().filter_map(|i| i.meta.clone()).collect();
    metas.sort_by(|a, b| a.slug.cmp(&b.slug));
    let now = chrono::DateTime::<chrono::Utc>::from_timestamp(1_764_720_000, 0).unwrap_or_default();
    let mut out = String::new();
    for p in personas() {
        let profile = discovery::Profile::for_role(p.role, p.intents.iter().copied());
        let ctx = discovery::Context::for_profile(profile, now);
        let recs = discovery::recommend(&metas, &ctx, &weights, 5);
        let intents: Vec<&str> = p.intents.iter().map(|i| i.as_str()).collect();
        let _ = writeln!(out, "### {}\n", p.title);
        let _ = writeln!(
            out,
            "Role **{}**, wants to {}. Ask the shop: `/discover`, or `GET /api/v1/recommendations?role={}&intent={}&limit=5`.\n",
            discovery::human(p.role.as_str()),
            intents
                .iter()
                .map(|i| discovery::human(i))
                .collect::<Vec<_>>()
                .join(" and "),
            p.role.as_str(),
            intents.join(",")
        );
        let _ = writeln!(out, "| # | KEY | Price | Score | Why (the recommender's reasons) |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for (n, r) in recs.iter().enumerate() {
            let name = metas
                .iter()
                .find(|m| m.slug == r.slug)
                .map_or_else(|| r.slug.to_string(), |m| m.name.clone());
            let price = offers.key_price(&r.slug).map_or_else(String::new, |p| p.to_string());
            let _ = writeln!(
                out,
                "| {} | {name} | {price} | {} | {} |",
                n + 1,
                r.score,
                r.reasons.join("; ")
            );
        }
        let _ = writeln!(out);
    }
    Ok(out)
}

/// `doc` with the block `name` replaced by `content`.
///
/// # Errors
/// [`SalesError::Markers`] when the block is missing.
pub fn splice(doc: &str, file: &str, name: &str, content: &str) -> Result<String, SalesError> {
    let begin = format!("<!-- BEGIN GENERATED: {name} -->");
    let end = format!("<!-- END GENERATED: {name} -->");
    let missing = || SalesError::Markers {
        file: file.to_owned(),
        name: name.to_owned(),
    };
    let start = doc.find(&begin).ok_or_else(missing)? + begin.len();
    let stop = doc[start..].find(&end).ok_or_else(missing)? + start;
    Ok(format!("{}\n{}\n{}", &doc[..start], content.trim_end(), &doc[stop..]))
}

/// Every generated document and block, rendered from `repo` (the repository root holding
/// `keys-assets/` and `docs/`): `(path relative to repo, new text)`.
///
/// # Errors
/// [`SalesError`], or the QA data file's problems as [`SalesError::Rejected`].
pub fn regenerate(repo: &Path) -> Result<Vec<(String, String)>, SalesError> {
    let assets = repo.join("keys-assets");
    let items = inventory(&assets)?;
    let (offers, _) = crate::documents::offers_from_assets(&assets).map_err(|e| SalesError::Rejected(e.to_string()))?;
    let read = |rel: &str| {
        std::fs::read_to_string(repo.join(rel)).map_err(|source| SalesError::Read {
            path: rel.to_owned(),
            source,
        })
    };
    let mut proof = read(PROOF_PACK)?;
    for (name, content) in [
        ("inventory", render_inventory(&items)),
        ("method", render_method(offers.prices().currency())),
        ("keys", render_keys(&items, &offers)),
        ("bundles-and-plans", render_bundles_and_plans(&items, &offers)),
    ] {
        proof = splice(&proof, PROOF_PACK, name, &content)?;
    }
    let enablement = splice(
        &read(ENABLEMENT)?,
        ENABLEMENT,
        "personas",
        &render_personas(&items, &assets, &offers)?,
    )?;
    let cases = crate::qa_matrix::parse(&read(crate::qa_matrix::QA_SOURCE)?)
        .map_err(|e| SalesError::Rejected(e.to_string()))?;
    Ok(vec![
        (PROOF_PACK.to_owned(), proof),
        (ENABLEMENT.to_owned(), enablement),
        (crate::qa_matrix::QA_DOC.to_owned(), crate::qa_matrix::render(&cases)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_break_even_are_integer_arithmetic() {
        assert_eq!(hours(0), "0.0");
        assert_eq!(hours(90), "1.5");
        assert_eq!(hours(61), "1.0");
        assert_eq!(break_even(Money::from_minor(19_900, pricing::Currency::Usd)), "2.0");
        assert_eq!(value(90, pricing::Currency::Usd).minor(), 15_000);
        assert!(in_folder("scripts/seed.ts", "scripts") && in_folder("a/scripts/x.sh", "scripts"));
        assert!(!in_folder("scripts", "scripts") && !in_folder("myscripts/x", "scripts"));
    }

    #[test]
    fn a_block_is_replaced_whole_and_a_missing_one_is_named() {
        let doc = "a\n<!-- BEGIN GENERATED: x -->\nold\n<!-- END GENERATED: x -->\nb\n";
        let new = splice(doc, "d.md", "x", "new\n").unwrap();
        assert_eq!(
            new,
            "a\n<!-- BEGIN GENERATED: x -->\nnew\n<!-- END GENERATED: x -->\nb\n"
        );
        assert_eq!(splice(&new, "d.md", "x", "new").unwrap(), new, "idempotent");
        let err = splice(doc, "d.md", "y", "z").unwrap_err().to_string();
        assert!(err.contains("d.md") && err.contains("GENERATED: y"), "{err}");
    }
}
