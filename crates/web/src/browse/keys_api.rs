//! The JSON API under `/api/v1` (poem-openapi).

use catalog::{CatalogQuery, Key, Preview};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::AppState;
use crate::http::problem::{Problem, e, e_param};

#[derive(Tags)]
enum ApiTags {
    /// The public catalog.
    Keys,
}

/// A KEY in a list.
#[derive(Object)]
pub(crate) struct KeySummary {
    /// Stable identifier.
    slug: String,
    /// Display name.
    name: String,
    /// `node-next`, `runbook` or `jupyter`.
    kind: String,
    /// `starter`, `operator`, `scale` or `enterprise`.
    tier: String,
    /// Newest version.
    latest_version: String,
    /// Release date of the newest version (YYYY-MM-DD).
    released_at: String,
    /// One-line summary.
    summary: String,
    /// Roles it is for.
    roles: Vec<String>,
    /// Tool intents.
    intents: Vec<String>,
    /// Problem categories.
    categories: Vec<String>,
    /// Tags.
    tags: Vec<String>,
}

/// One page of KEYS.
#[derive(Object)]
pub(crate) struct KeyList {
    /// The KEYS on this page.
    items: Vec<KeySummary>,
    /// Matches in all.
    total: u64,
    /// This page, from 1.
    page: u32,
    /// Page size.
    per_page: u32,
    /// The search text as it was run when a misspelt word was corrected (`kubernets` →
    /// `kubernetes`); absent when the text was used as typed.
    #[oai(skip_serializing_if_is_none)]
    corrected_query: Option<String>,
}

/// A released version.
#[derive(Object)]
pub(crate) struct VersionInfo {
    /// `MAJOR.MINOR.PATCH`.
    version: String,
    /// Release date (YYYY-MM-DD).
    released_at: String,
    /// Archive size in bytes.
    size_bytes: u64,
    /// sha256 of the archive (hex).
    sha256: String,
    /// Markdown changelog.
    changelog: String,
}

/// A file of the archive.
#[derive(Object)]
pub(crate) struct PreviewFileInfo {
    /// Path inside the archive.
    path: String,
    /// Size in bytes.
    size_bytes: u64,
}

/// The beginning of a preview file.
#[derive(Object)]
pub(crate) struct ExcerptInfo {
    /// Path inside the archive.
    path: String,
    /// First lines.
    text: String,
    /// Whether the file continues.
    truncated: bool,
}

/// A notebook cell.
#[derive(Object)]
pub(crate) struct CellInfo {
    /// Notebook path.
    notebook: String,
    /// `code`, `markdown` or `raw`.
    cell_type: String,
    /// Source.
    source: String,
}

/// A runbook heading.
#[derive(Object)]
pub(crate) struct HeadingInfo {
    /// Markdown file.
    file: String,
    /// Heading level (1 = `#`).
    level: u8,
    /// Text.
    title: String,
}

/// The public preview of the current version.
#[derive(Object)]
pub(crate) struct PreviewInfo {
    /// File tree.
    files: Vec<PreviewFileInfo>,
    /// README excerpt.
    #[oai(nullable)]
    readme_excerpt: Option<String>,
    /// Preview file excerpts.
    excerpts: Vec<ExcerptInfo>,
    /// First notebook cells.
    notebook_cells: Vec<CellInfo>,
    /// Runbook outline.
    outline: Vec<HeadingInfo>,
}

/// A KEY with its versions and preview.
#[derive(Object)]
pub(crate) struct KeyDetail {
    #[oai(flatten)]
    summary: KeySummary,
    /// Markdown description.
    description: String,
    /// Every version, newest first.
    versions: Vec<VersionInfo>,
    /// Preview of the current version.
    preview: PreviewInfo,
}

#[derive(ApiResponse)]
pub(crate) enum ListResponse {
    /// A page of KEYS.
    #[oai(status = 200)]
    Ok(Json<KeyList>),
    /// A query parameter is invalid; `parameter` names it.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
}

#[derive(ApiResponse)]
pub(crate) enum DetailResponse {
    /// The KEY.
    #[oai(status = 200)]
    Ok(Json<Box<KeyDetail>>),
    /// No KEY has this slug.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
}

fn strings<T: std::fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn summary(k: &Key) -> KeySummary {
    let current = k.current();
    KeySummary {
        slug: k.meta.slug.to_string(),
        name: k.meta.name.clone(),
        kind: k.meta.kind.to_string(),
        tier: k.meta.tier.to_string(),
        latest_version: current.map(|v| v.version.to_string()).unwrap_or_default(),
        released_at: current.map(|v| v.released_at.to_string()).unwrap_or_default(),
        summary: k.meta.summary.clone(),
        roles: strings(&k.meta.roles),
        intents: strings(&k.meta.intents),
        categories: strings(&k.meta.categories),
        tags: k.meta.tags.clone(),
    }
}

fn preview(p: &Preview) -> PreviewInfo {
    PreviewInfo {
        files: p
            .files
            .iter()
            .map(|f| PreviewFileInfo {
                path: f.path.clone(),
                size_bytes: f.size_bytes,
            })
            .collect(),
        readme_excerpt: p.readme_excerpt.clone(),
        excerpts: p
            .excerpts
            .iter()
            .map(|e| ExcerptInfo {
                path: e.path.clone(),
                text: e.text.clone(),
                truncated: e.truncated,
            })
            .collect(),
        notebook_cells: p
            .notebook_cells
            .iter()
            .map(|c| CellInfo {
                notebook: c.notebook.clone(),
                cell_type: c.cell_type.clone(),
                source: c.source.clone(),
            })
            .collect(),
        outline: p
            .outline
            .iter()
            .map(|h| HeadingInfo {
                file: h.file.clone(),
                level: h.level,
                title: h.title.clone(),
            })
            .collect(),
    }
}

/// The catalog API.
pub struct KeysApi;

#[allow(clippy::too_many_arguments)]
#[OpenApi]
impl KeysApi {
    /// Search and filter the catalog.
    ///
    /// Every word of `q` must match a KEY's name, slug, tags, summary or description. Filters
    /// combine with AND. Unknown values are refused with 400 and the accepted values.
    #[oai(path = "/keys", method = "get", tag = "ApiTags::Keys")]
    async fn list_keys(
        &self,
        state: Data<&AppState>,
        /// Free text (at most 200 characters).
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// `node-next`, `runbook` or `jupyter`.
        #[oai(validator(max_length = 64))]
        kind: Query<Option<String>>,
        /// `starter`, `operator`, `scale` or `enterprise`.
        #[oai(validator(max_length = 64))]
        tier: Query<Option<String>>,
        /// A role, e.g. `sre`, `fullstack-developer`, `data-scientist`.
        #[oai(validator(max_length = 64))]
        role: Query<Option<String>>,
        /// A tool intent, e.g. `respond-to-incidents`, `add-payments`.
        #[oai(validator(max_length = 64))]
        intent: Query<Option<String>>,
        /// A problem category, e.g. `incident-response`, `payments`.
        #[oai(validator(max_length = 64))]
        category: Query<Option<String>>,
        /// `relevance` (default with `q`), `name` (default), `newest` or `tier`.
        #[oai(validator(max_length = 64))]
        sort: Query<Option<String>>,
        /// Page from 1 (default 1; the document says integer 1 to 100 000).
        #[oai(validator(max_length = 20))]
        page: Query<Option<String>>,
        /// Items per page, 1 to 100 (default 24).
        #[oai(validator(max_length = 20))]
        per_page: Query<Option<String>>,
    ) -> ListResponse {
        let params = [
            ("q", q.0),
            ("kind", kind.0),
            ("tier", tier.0),
            ("role", role.0),
            ("intent", intent.0),
            ("category", category.0),
            ("sort", sort.0),
            ("page", page.0),
            ("per_page", per_page.0),
        ];
        let query = match CatalogQuery::from_params(params.iter().filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))) {
            Ok(q) => q,
            Err(err) => {
                return ListResponse::BadRequest(e_param("bad_request", err.to_string(), Some(err.parameter)));
            }
        };
        let result = state.catalog.cache.snapshot().search(&query);
        ListResponse::Ok(Json(KeyList {
            items: result.items.iter().map(|k| summary(k)).collect(),
            total: result.total as u64,
            page: result.page,
            per_page: result.per_page,
            corrected_query: result.corrected.clone(),
        }))
    }

    /// One KEY with every version and the public preview of the current one.
    #[oai(path = "/keys/:slug", method = "get", tag = "ApiTags::Keys")]
    async fn get_key(&self, state: Data<&AppState>, slug: Path<String>) -> DetailResponse {
        let Some(key) = state.catalog.cache.snapshot().get(&slug.0) else {
            return DetailResponse::NotFound(e("not_found", format!("no KEY has the slug `{}`", slug.0)));
        };
        DetailResponse::Ok(Json(Box::new(KeyDetail {
            summary: summary(&key),
            description: key.meta.description.clone(),
            versions: key
                .versions
                .iter()
                .rev()
                .map(|v| VersionInfo {
                    version: v.version.to_string(),
                    released_at: v.released_at.to_string(),
                    size_bytes: v.archive.size_bytes,
                    sha256: v.archive.sha256.clone(),
                    changelog: v.changelog.clone(),
                })
                .collect(),
            preview: key
                .current()
                .map(|v| preview(&v.preview))
                .unwrap_or_else(|| preview(&Preview::default())),
        })))
    }
}
