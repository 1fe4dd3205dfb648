//! Server-rendered HTML pages.

use askama::Template;
use catalog::{CatalogQuery, Category, Intent, Key, Kind, QueryError, Role, Sort, Tier};
use poem::http::StatusCode;
use poem::web::{Data, Path, Redirect};
use poem::{IntoResponse, Request, Response, handler};

use crate::AppState;
use crate::access::library::{Access, access_to};
use crate::http::markdown::to_safe_html;
use crate::http::page::{error_page, kind_label, label, render, title_case};

/// A size in B, KiB or MiB, for people.
fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss, clippy::float_arithmetic)]
    let kib = bytes as f64 / 1024.0;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if kib < 1024.0 {
        format!("{kib:.1} KiB")
    } else {
        #[allow(clippy::float_arithmetic)]
        let mib = kib / 1024.0;
        format!("{mib:.1} MiB")
    }
}

struct Opt {
    value: String,
    label: String,
    selected: bool,
}

struct Filter {
    name: &'static str,
    label: &'static str,
    any: &'static str,
    options: Vec<Opt>,
}

fn filter<T: Copy + PartialEq + std::fmt::Display>(
    name: &'static str,
    label_text: &'static str,
    any: &'static str,
    all: &[T],
    selected: Option<T>,
    text: impl Fn(T) -> String,
) -> Filter {
    Filter {
        name,
        label: label_text,
        any,
        options: all
            .iter()
            .map(|v| Opt {
                value: v.to_string(),
                label: text(*v),
                selected: Some(*v) == selected,
            })
            .collect(),
    }
}

struct Card {
    slug: String,
    name: String,
    kind: &'static str,
    kind_label: &'static str,
    tier: &'static str,
    tier_label: String,
    summary: String,
    version: String,
    released: String,
    tags: Vec<String>,
    price: Option<String>,
}

fn card(k: &Key, offers: Option<&pricing::Offers>) -> Card {
    let current = k.current();
    Card {
        slug: k.meta.slug.to_string(),
        name: k.meta.name.clone(),
        kind: k.meta.kind.as_str(),
        kind_label: kind_label(k.meta.kind),
        tier: k.meta.tier.as_str(),
        tier_label: label(k.meta.tier.as_str()),
        summary: k.meta.summary.clone(),
        version: current.map(|v| v.version.to_string()).unwrap_or_default(),
        released: current.map(|v| v.released_at.to_string()).unwrap_or_default(),
        tags: k.meta.tags.iter().take(4).cloned().collect(),
        price: offers.and_then(|o| o.key_price(&k.meta.slug)).map(|p| p.to_string()),
    }
}

#[derive(Template)]
#[template(path = "marketplace.html")]
struct MarketplacePage {
    q: String,
    notices: Vec<String>,
    corrected: Option<String>,
    filters: Vec<Filter>,
    sorts: Vec<Opt>,
    cards: Vec<Card>,
    total: usize,
    page: u32,
    pages: u32,
    prev_url: Option<String>,
    next_url: Option<String>,
    filtered: bool,
    catalog_size: usize,
    recommended: Vec<crate::discover::RecView>,
}

fn page_url(q: &CatalogQuery, page: u32) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q.to_params() {
        s.append_pair(k, &v);
    }
    s.append_pair("page", &page.to_string());
    format!("/marketplace?{}", s.finish())
}

/// What a page calls a search parameter.
fn parameter_label(parameter: &str) -> &'static str {
    match parameter {
        "kind" => "Kind",
        "tier" => "Tier",
        "role" => "Role",
        "intent" => "Goal",
        "category" => "Problem",
        "sort" => "Sort",
        "page" => "Page",
        "per_page" => "Items per page",
        _ => "Search",
    }
}

/// A marketplace query read the forgiving way a page should (the JSON API keeps its 400s): a
/// value that is not one of the choices is left out with a plain-language notice, numbers are
/// clamped, and search text is cut to its longest allowed length. Also says whether the
/// visitor chose a sort (the form's "Best match" sends none).
fn parse_query(req: &Request) -> (CatalogQuery, Vec<String>, bool) {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut notices = Vec::new();
    for (name, value) in &mut pairs {
        let v = value.trim();
        match name.as_str() {
            "page" | "per_page" if !v.is_empty() => {
                let max = if name == "page" { 100_000 } else { catalog::MAX_PER_PAGE };
                let clamped = match v.parse::<u64>() {
                    Ok(n) => n.clamp(1, u64::from(max)).to_string(),
                    Err(_) => String::new(),
                };
                if clamped != v {
                    notices.push(format!(
                        "{} “{}” was changed to {}.",
                        parameter_label(name),
                        crate::clip(v),
                        if clamped.is_empty() {
                            "the default"
                        } else {
                            clamped.as_str()
                        }
                    ));
                    *value = clamped;
                }
            }
            "q" if v.chars().count() > 200 => {
                *value = v.chars().take(200).collect();
                notices.push("Your search was cut to its first 200 characters.".to_owned());
            }
            _ => {}
        }
    }
    let chose_sort = pairs.iter().any(|(k, v)| k == "sort" && !v.trim().is_empty());
    // Each round drops the one parameter the catalog could not use; there are at most nine.
    for _ in 0..16 {
        match CatalogQuery::from_params(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok(q) => return (q, notices, chose_sort),
            Err(QueryError { parameter, .. }) => {
                let bad: Vec<String> = pairs
                    .iter()
                    .filter(|(k, v)| *k == parameter && !v.trim().is_empty())
                    .map(|(_, v)| crate::clip(v.trim()))
                    .collect();
                notices.push(format!(
                    "{} “{}” is not one of the choices, so it was left out.",
                    parameter_label(&parameter),
                    bad.join("”, “")
                ));
                pairs.retain(|(k, _)| *k != parameter);
            }
        }
    }
    (CatalogQuery::default(), notices, false)
}

#[handler]
pub(crate) fn home() -> Redirect {
    Redirect::see_other("/marketplace")
}

/// "Recommended for you", on its own: what a signed-in marketplace page renders for the buyer
/// (the rest is the anonymous page of the same URL).
#[derive(Template)]
#[template(path = "marketplace_recommended.html")]
struct RecommendedPart {
    recommended: Vec<crate::discover::RecView>,
}

/// `/marketplace`: to a visitor without a cookie, the page as it is for everyone (kept by the
/// response cache); to a known buyer, that same page — the anonymous rendering of this URL,
/// from the response cache — with only "Recommended for you" rendered for them.
#[handler]
pub(crate) async fn marketplace(req: &Request, state: Data<&AppState>) -> Response {
    let index = state.catalog.cache.snapshot();
    if !(req.headers().contains_key(poem::http::header::COOKIE)
        || req.headers().contains_key(poem::http::header::AUTHORIZATION))
    {
        return render(&marketplace_page(&state, req, &index));
    }
    let recs = crate::discover::for_request(&state, req, None, 3).await;
    let part = RecommendedPart {
        recommended: crate::discover::views(&state, &recs),
    };
    let responses = &state.catalog.responses;
    let shared = responses.page(index.revision(), req).or_else(|| {
        let html = marketplace_page(&state, req, &index).render().ok()?;
        Some(responses.keep_page(index.revision(), req, html))
    });
    let spliced = shared.and_then(|page| crate::http::page::splice(&page, "recommended", &part.render().ok()?));
    match spliced {
        Some(html) => poem::web::Html(html).into_response(),
        None => {
            // Not renderable from the shared page: the whole page, with the buyer's part.
            let mut page = marketplace_page(&state, req, &index);
            page.recommended = part.recommended;
            render(&page)
        }
    }
}

/// The marketplace page of `req`'s URL as everyone sees it (no recommendations).
fn marketplace_page(state: &AppState, req: &Request, index: &catalog::CatalogIndex) -> MarketplacePage {
    let (mut query, mut notices, chose_sort) = parse_query(req);
    let offers = state.catalog.cache.offers();
    let mut result = index.search(&query);
    let pages = result.pages();
    if query.page > pages {
        notices.push(format!(
            "There {} only {pages} page{} of results, so this is the last one.",
            if pages == 1 { "is" } else { "are" },
            if pages == 1 { "" } else { "s" }
        ));
        query.page = pages;
        result = index.search(&query);
    }
    // "Best match" (no sort chosen) is relevance with text and name order without.
    let mut sorts: Vec<Opt> = vec![Opt {
        value: String::new(),
        label: "Best match".to_owned(),
        selected: !chose_sort,
    }];
    sorts.extend(Sort::ACCEPTED.iter().filter(|s| **s != "relevance").map(|s| Opt {
        value: (*s).to_owned(),
        label: match *s {
            "name" => "Name (A–Z)".to_owned(),
            "newest" => "Newest first".to_owned(),
            "tier" => "Tier (starter first)".to_owned(),
            other => title_case(other),
        },
        selected: chose_sort && *s == query.sort.as_str(),
    }));
    if chose_sort && query.sort == Sort::Relevance {
        sorts[0].selected = true;
    }
    MarketplacePage {
        q: query.text.clone().unwrap_or_default(),
        notices,
        corrected: result.corrected.clone(),
        filters: vec![
            filter("kind", "Kind", "All kinds", Kind::ALL, query.kind, |k| {
                kind_label(k).to_owned()
            }),
            filter("tier", "Tier", "All tiers", Tier::ALL, query.tier, |t| {
                label(t.as_str())
            }),
            filter("role", "Role", "Any role", Role::ALL, query.role, |r| label(r.as_str())),
            filter("intent", "Goal", "Any goal", Intent::ALL, query.intent, |i| {
                label(i.as_str())
            }),
            filter(
                "category",
                "Problem",
                "Any problem",
                Category::ALL,
                query.category,
                |c| label(c.as_str()),
            ),
        ],
        sorts,
        cards: result.items.iter().map(|k| card(k, offers.as_ref().as_ref())).collect(),
        total: result.total,
        page: query.page,
        pages,
        prev_url: (query.page > 1).then(|| page_url(&query, (query.page - 1).min(pages))),
        next_url: (query.page < pages).then(|| page_url(&query, query.page + 1)),
        filtered: query.text.is_some()
            || query.kind.is_some()
            || query.tier.is_some()
            || query.role.is_some()
            || query.intent.is_some()
            || query.category.is_some(),
        catalog_size: index.len(),
        recommended: Vec::new(),
    }
}

struct VersionView {
    version: String,
    released_at: String,
    size: String,
    sha256: String,
    changelog_html: String,
    current: bool,
}

struct CellView {
    notebook: String,
    cell_type: String,
    source: String,
}

struct HeadingView {
    indent: u8,
    title: String,
}

#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage {
    slug: String,
    name: String,
    kind: &'static str,
    kind_label: &'static str,
    tier: &'static str,
    tier_label: String,
    summary: String,
    description_html: String,
    roles: Vec<String>,
    intents: Vec<String>,
    categories: Vec<String>,
    tags: Vec<String>,
    current_version: String,
    versions: Vec<VersionView>,
    files: Vec<(String, String)>,
    readme_excerpt: Option<String>,
    excerpts: Vec<(String, String, bool)>,
    cells: Vec<CellView>,
    outline: Vec<HeadingView>,
    access: Access,
    price: Option<String>,
    in_bundles: Vec<(String, String, String, String)>,
    plan: Option<(String, String)>,
    pairs: Vec<crate::discover::RecView>,
    public_url: String,
    owned: bool,
    signed_in: bool,
}

/// A KEY page's personal parts, on their own: the buy bar, the access section and "Pairs well
/// with" (the rest is the anonymous page of the same URL).
struct KeyPersonal {
    slug: String,
    price: Option<String>,
    owned: bool,
    signed_in: bool,
    access: Access,
    versions: Vec<VersionView>,
    pairs: Vec<crate::discover::RecView>,
}

/// The parts' templates read [`KeyPersonal`]'s fields (through `Deref`), as the whole page's do.
macro_rules! key_part {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a>(&'a KeyPersonal);

        impl std::ops::Deref for $name<'_> {
            type Target = KeyPersonal;
            fn deref(&self) -> &KeyPersonal {
                self.0
            }
        }
    };
}
key_part!(BuybarPart, "key_buybar.html");
key_part!(AccessPart, "key_access.html");
key_part!(PairsPart, "key_pairs.html");

/// A KEY page: to a visitor without a cookie, the page as it is for everyone (kept by the
/// response cache); to a known buyer, that same page — the anonymous rendering of this URL,
/// from the response cache — with only the buy bar, the access section and "Pairs well with"
/// rendered for them.
#[handler]
pub(crate) async fn key_page(Path(slug): Path<String>, state: Data<&AppState>, req: &Request) -> Response {
    let index = state.catalog.cache.snapshot();
    let Some(key) = index.get(&slug) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No such KEY",
            &format!("There is no KEY called “{slug}”. Browse the marketplace to find one."),
        );
    };
    let personal = req.headers().contains_key(poem::http::header::COOKIE)
        || req.headers().contains_key(poem::http::header::AUTHORIZATION);
    if !personal {
        return render(&anonymous_key_page(&state, &key).await);
    }
    let access = access_to(&state, req, &key).await;
    let who = crate::discover::asker(&state, req).await;
    let pairs = crate::discover::pairs_for(&state, &who, &key, 4).await;
    if let Some(s) = who.subject() {
        crate::discover::record(&state, s, discovery::SignalKind::View(key.meta.slug.clone())).await;
    }
    let responses = &state.catalog.responses;
    let shared = match responses.page(index.revision(), req) {
        Some(page) => Some(page),
        None => anonymous_key_page(&state, &key)
            .await
            .render()
            .ok()
            .map(|html| responses.keep_page(index.revision(), req, html)),
    };
    let part = KeyPersonal {
        slug: key.meta.slug.to_string(),
        price: key_price(&state, &key),
        owned: matches!(access, Access::Owned { .. }),
        signed_in: !matches!(access, Access::Anonymous),
        access,
        versions: versions_of(&key),
        pairs: crate::discover::views(&state, &pairs),
    };
    let spliced = shared.and_then(|page| {
        let page = crate::http::page::splice(&page, "buybar", &BuybarPart(&part).render().ok()?)?;
        let page = crate::http::page::splice(page.as_bytes(), "access", &AccessPart(&part).render().ok()?)?;
        crate::http::page::splice(page.as_bytes(), "pairs", &PairsPart(&part).render().ok()?)
    });
    match spliced {
        Some(html) => poem::web::Html(html).into_response(),
        None => {
            let mut page = key_page_of(&state, &key, part.access);
            page.pairs = part.pairs;
            render(&page)
        }
    }
}

fn key_price(state: &AppState, key: &Key) -> Option<String> {
    let offers = state.catalog.cache.offers();
    offers
        .as_ref()
        .as_ref()
        .and_then(|o| o.key_price(&key.meta.slug))
        .map(|p| p.to_string())
}

fn versions_of(key: &Key) -> Vec<VersionView> {
    let current = key.current();
    key.versions
        .iter()
        .rev()
        .map(|v| VersionView {
            version: v.version.to_string(),
            released_at: v.released_at.to_string(),
            size: human_size(v.archive.size_bytes),
            sha256: v.archive.sha256.clone(),
            changelog_html: to_safe_html(&v.changelog),
            current: current.is_some_and(|c| c.version == v.version),
        })
        .collect()
}

/// The KEY page everyone sees: no account, pairs from the KEY alone.
async fn anonymous_key_page(state: &AppState, key: &Key) -> KeyPage {
    let pairs = crate::discover::pairs_for(state, &crate::discover::Asker::nobody(), key, 4).await;
    let mut page = key_page_of(state, key, Access::Anonymous);
    page.pairs = crate::discover::views(state, &pairs);
    page
}

/// A KEY page for someone with `access` (no pairs yet).
fn key_page_of(state: &AppState, key: &Key, access: Access) -> KeyPage {
    let m = &key.meta;
    let offers = state.catalog.cache.offers();
    let offers = offers.as_ref().as_ref();
    let price = offers.and_then(|o| o.key_price(&m.slug)).map(|p| p.to_string());
    let in_bundles = offers
        .map(|o| {
            o.bundles()
                .iter()
                .filter(|b| b.keys.contains(&m.slug))
                .filter_map(|b| {
                    o.bundle_price(b).map(|p| {
                        (
                            b.slug.to_string(),
                            b.title.clone(),
                            p.price.to_string(),
                            pricing::percent_text(b.discount),
                        )
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let plan = offers.map(|o| {
        (
            label(m.tier.as_str()),
            o.plan_price(m.tier, pricing::Interval::Monthly).to_string(),
        )
    });
    let current = key.current();
    let preview = current.map(|v| v.preview.clone()).unwrap_or_default();
    KeyPage {
        slug: m.slug.to_string(),
        name: m.name.clone(),
        kind: m.kind.as_str(),
        kind_label: kind_label(m.kind),
        tier: m.tier.as_str(),
        tier_label: label(m.tier.as_str()),
        summary: m.summary.clone(),
        description_html: to_safe_html(&m.description),
        roles: m.roles.iter().map(|r| label(r.as_str())).collect(),
        intents: m.intents.iter().map(|i| label(i.as_str())).collect(),
        categories: m.categories.iter().map(|c| label(c.as_str())).collect(),
        tags: m.tags.clone(),
        current_version: current.map(|v| v.version.to_string()).unwrap_or_default(),
        versions: versions_of(key),
        files: preview
            .files
            .iter()
            .map(|f| (f.path.clone(), human_size(f.size_bytes)))
            .collect(),
        readme_excerpt: preview.readme_excerpt.clone(),
        excerpts: preview
            .excerpts
            .iter()
            .filter(|e| {
                !(e.path.eq_ignore_ascii_case("README.md") || e.path.eq_ignore_ascii_case("RUNBOOK.md"))
                    || preview.readme_excerpt.is_none()
            })
            .map(|e| (e.path.clone(), e.text.clone(), e.truncated))
            .collect(),
        cells: preview
            .notebook_cells
            .iter()
            .map(|c| CellView {
                notebook: c.notebook.clone(),
                cell_type: c.cell_type.clone(),
                source: c.source.clone(),
            })
            .collect(),
        outline: preview
            .outline
            .iter()
            .map(|h| HeadingView {
                indent: h.level.saturating_sub(1),
                title: h.title.clone(),
            })
            .collect(),
        owned: matches!(access, Access::Owned { .. }),
        signed_in: !matches!(access, Access::Anonymous),
        access,
        price,
        in_bundles,
        plan,
        pairs: Vec::new(),
        public_url: state.http.public_url.to_string(),
    }
}
