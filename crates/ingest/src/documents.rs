//! The pricing file and bundle definitions, ingested after the KEYS so bundles and price
//! overrides can be checked against the catalog they will sell.
//!
//! Each document is checked on its own: a bad bundle is rejected (its previous stored
//! version, if any, stays on sale) without blocking the others or the pricing file. A
//! document removed from the assets directory is removed from the catalog.

use std::collections::BTreeMap;
use std::path::Path;

use catalog::{Document, Slug, Tier};
use pricing::{BUNDLES_DIR, Bundle, Offers, PRICING_FILE, PriceList, PricingError};
use serde::Serialize;

/// What happened to one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentOutcome {
    /// New or changed, and stored (or would be, in a dry run).
    Stored,
    /// Same as the stored copy.
    Unchanged,
    /// Refused; the previously stored copy, if any, stays.
    Rejected,
}

/// The report of one document.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentReport {
    /// Path relative to the assets directory.
    pub name: String,
    /// Outcome.
    pub outcome: DocumentOutcome,
    /// Why it was rejected.
    pub errors: Vec<PricingError>,
}

/// Reads, checks and chooses the documents to store. `stored` is the current set;
/// `tiers` is the catalog after this run's KEYS.
pub(crate) fn plan_documents(
    assets: &Path,
    stored: &[Document],
    tiers: &BTreeMap<Slug, Tier>,
) -> std::io::Result<(Vec<Document>, Vec<DocumentReport>)> {
    let stored: BTreeMap<&str, &Document> = stored.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut keep = Vec::new();
    let mut reports = Vec::new();
    let mut decide = |name: String, body: String, checked: Result<(), Vec<PricingError>>| {
        let previous = stored.get(name.as_str()).copied();
        match checked {
            Ok(()) => {
                let outcome = if previous.is_some_and(|p| p.body == body) {
                    DocumentOutcome::Unchanged
                } else {
                    DocumentOutcome::Stored
                };
                reports.push(DocumentReport {
                    name: name.clone(),
                    outcome,
                    errors: Vec::new(),
                });
                keep.push(Document { name, body });
            }
            Err(errors) => {
                if let Some(p) = previous {
                    keep.push(p.clone());
                }
                reports.push(DocumentReport {
                    name,
                    outcome: DocumentOutcome::Rejected,
                    errors,
                });
            }
        }
    };

    let pricing_path = assets.join(PRICING_FILE);
    if pricing_path.is_file() {
        let body = std::fs::read_to_string(&pricing_path)?;
        let checked =
            PriceList::parse(&body, PRICING_FILE).and_then(|prices| Offers::check_prices(&prices, PRICING_FILE, tiers));
        decide(PRICING_FILE.to_owned(), body, checked);
    }

    let weights_path = assets.join(discovery::DISCOVERY_FILE);
    if weights_path.is_file() {
        let body = std::fs::read_to_string(&weights_path)?;
        let checked = discovery::Weights::parse(&body, discovery::DISCOVERY_FILE)
            .map(|_| ())
            .map_err(|e| {
                vec![PricingError {
                    file: e.file,
                    field: "(file)".into(),
                    reason: e.reason,
                }]
            });
        decide(discovery::DISCOVERY_FILE.to_owned(), body, checked);
    }

    let dir = assets.join(BUNDLES_DIR);
    if dir.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&dir)?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for path in files {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = format!("{BUNDLES_DIR}/{stem}.toml");
            let body = std::fs::read_to_string(&path)?;
            let checked = Bundle::parse(&body, &name).and_then(|b| Offers::check_bundle(&b, &name, tiers));
            decide(name, body, checked);
        }
    }
    keep.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((keep, reports))
}

/// Why the offers could not be read from an assets directory.
#[derive(Debug, thiserror::Error)]
pub enum AssetOffersError {
    /// The directory or a file is unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The pricing file or a bundle is invalid.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<PricingError>),
}

/// Reads the offers straight from an assets directory (no database): the KEYS' tiers and names
/// from their manifests, then the pricing file and every bundle, all checked. Used to generate
/// `docs/revenue/PRICING_MODEL.md`.
///
/// # Errors
/// [`AssetOffersError`] naming the file and field of every problem.
pub fn offers_from_assets(assets: &Path) -> Result<(pricing::Offers, BTreeMap<Slug, String>), AssetOffersError> {
    let io = |source| AssetOffersError::Io {
        path: assets.to_path_buf(),
        source,
    };
    let today = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default();
    let sources = crate::source::read_sources(assets, crate::Limits::default(), today).map_err(io)?;
    let mut tiers = BTreeMap::new();
    let mut names = BTreeMap::new();
    for c in &sources.candidates {
        tiers.insert(c.draft.meta.slug.clone(), c.draft.meta.tier);
        names.insert(c.draft.meta.slug.clone(), c.draft.meta.name.clone());
    }
    let (keep, reports) = plan_documents(assets, &[], &tiers).map_err(io)?;
    let errors: Vec<PricingError> = reports.into_iter().flat_map(|r| r.errors).collect();
    if !errors.is_empty() {
        return Err(AssetOffersError::Invalid(errors));
    }
    match pricing::offers_from(&keep, tiers) {
        (Some(offers), problems) if problems.is_empty() => Ok((offers, names)),
        (None, problems) if problems.is_empty() => Err(AssetOffersError::Invalid(vec![PricingError {
            file: PRICING_FILE.to_owned(),
            field: "(file)".to_owned(),
            reason: format!("missing: {} has no {PRICING_FILE}", assets.display()),
        }])),
        (_, problems) => Err(AssetOffersError::Invalid(problems)),
    }
}
