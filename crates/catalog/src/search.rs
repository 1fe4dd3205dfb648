//! Catalog search: the query a visitor sends (text, filters, sort, page) and an in-memory
//! index that answers it.
//!
//! The index is built from [`CatalogRepository::list_keys`](crate::CatalogRepository) and is
//! immutable; readers swap in a new one when [`CatalogRepository::revision`](crate::CatalogRepository)
//! changes.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::{Category, Intent, Key, Kind, Role, Tier, VocabError};

/// Default page size.
pub const DEFAULT_PER_PAGE: u32 = 24;
/// Largest page size.
pub const MAX_PER_PAGE: u32 = 100;
const MAX_PAGE: u32 = 100_000;
const MAX_QUERY_CHARS: usize = 200;

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best text match first (ties: name, then slug). The default when there is text.
    Relevance,
    /// Name A→Z (ties: slug). The default without text.
    #[default]
    Name,
    /// Newest release first (ties: name, then slug).
    Newest,
    /// Tier from starter to enterprise (ties: name, then slug).
    Tier,
}

impl Sort {
    /// Every accepted spelling.
    pub const ACCEPTED: &'static [&'static str] = &["relevance", "name", "newest", "tier"];

    /// The spelling used in URLs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Name => "name",
            Sort::Newest => "newest",
            Sort::Tier => "tier",
        }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A query parameter that could not be used. Names the parameter and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad value for parameter `{parameter}`: {reason}")]
pub struct QueryError {
    /// The parameter (`kind`, `page`, …).
    pub parameter: String,
    /// Why, with the accepted values where there is a list.
    pub reason: String,
}

/// What a visitor asks the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogQuery {
    /// Free text; every word must match the name, slug, tags, summary or description.
    pub text: Option<String>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only this tier.
    pub tier: Option<Tier>,
    /// Only KEYS for this role.
    pub role: Option<Role>,
    /// Only KEYS for this tool intent.
    pub intent: Option<Intent>,
    /// Only KEYS for this problem category.
    pub category: Option<Category>,
    /// Order.
    pub sort: Sort,
    /// 1-based page.
    pub page: u32,
    /// Items per page, 1 to [`MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Default for CatalogQuery {
    fn default() -> Self {
        Self {
            text: None,
            kind: None,
            tier: None,
            role: None,
            intent: None,
            category: None,
            sort: Sort::Name,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

fn vocab<T: FromStr<Err = VocabError>>(parameter: &str, value: &str) -> Result<T, QueryError> {
    value.parse().map_err(|e: VocabError| QueryError {
        parameter: parameter.to_owned(),
        reason: format!(
            "`{value}` is not a known {}; accepted: {}",
            e.vocabulary,
            e.accepted.join(", ")
        ),
    })
}

fn number(parameter: &str, value: &str, min: u32, max: u32) -> Result<u32, QueryError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| QueryError {
            parameter: parameter.to_owned(),
            reason: format!("`{value}` is not a whole number from {min} to {max}"),
        })
}

impl CatalogQuery {
    /// Reads a query from URL parameters (`q`, `kind`, `tier`, `role`, `intent`, `category`,
    /// `sort`, `page`, `per_page`). Empty values count as absent (an HTML form's "any");
    /// other parameters are ignored.
    ///
    /// # Errors
    /// [`QueryError`] naming the first bad parameter.
    ///
    /// ```
    /// use catalog::{CatalogQuery, Kind, Sort};
    /// let q = CatalogQuery::from_params([("q", "stripe"), ("kind", "node-next"), ("tier", "")]).unwrap();
    /// assert_eq!(q.kind, Some(Kind::NodeNext));
    /// assert_eq!(q.sort, Sort::Relevance);
    /// let err = CatalogQuery::from_params([("tier", "gold")]).unwrap_err();
    /// assert_eq!(err.parameter, "tier");
    /// ```
    pub fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, QueryError> {
        let mut q = CatalogQuery::default();
        let mut sort = None;
        for (name, value) in params {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match name {
                "q" => {
                    if value.chars().count() > MAX_QUERY_CHARS {
                        return Err(QueryError {
                            parameter: "q".into(),
                            reason: format!("search text is longer than {MAX_QUERY_CHARS} characters"),
                        });
                    }
                    q.text = Some(value.to_owned());
                }
                "kind" => q.kind = Some(vocab("kind", value)?),
                "tier" => q.tier = Some(vocab("tier", value)?),
                "role" => q.role = Some(vocab("role", value)?),
                "intent" => q.intent = Some(vocab("intent", value)?),
                "category" => q.category = Some(vocab("category", value)?),
                "page" => q.page = number("page", value, 1, MAX_PAGE)?,
                "per_page" => q.per_page = number("per_page", value, 1, MAX_PER_PAGE)?,
                "sort" => {
                    sort = Some(match value {
                        "relevance" => Sort::Relevance,
                        "name" => Sort::Name,
                        "newest" => Sort::Newest,
                        "tier" => Sort::Tier,
                        other => {
                            return Err(QueryError {
                                parameter: "sort".into(),
                                reason: format!(
                                    "`{other}` is not a known sort; accepted: {}",
                                    Sort::ACCEPTED.join(", ")
                                ),
                            });
                        }
                    });
                }
                _ => {}
            }
        }
        q.sort = sort.unwrap_or(if q.text.is_some() { Sort::Relevance } else { Sort::Name });
        Ok(q)
    }

    /// The query as URL parameters (without `page`), to build links that keep the filters.
    #[must_use]
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(t) = &self.text {
            out.push(("q", t.clone()));
        }
        if let Some(v) = self.kind {
            out.push(("kind", v.to_string()));
        }
        if let Some(v) = self.tier {
            out.push(("tier", v.to_string()));
        }
        if let Some(v) = self.role {
            out.push(("role", v.to_string()));
        }
        if let Some(v) = self.intent {
            out.push(("intent", v.to_string()));
        }
        if let Some(v) = self.category {
            out.push(("category", v.to_string()));
        }
        out.push(("sort", self.sort.to_string()));
        if self.per_page != DEFAULT_PER_PAGE {
            out.push(("per_page", self.per_page.to_string()));
        }
        out
    }
}

/// Facets of one KEY, stored inline so that filtering is a scan of contiguous memory.
struct Entry {
    key: Arc<Key>,
    kind: Kind,
    tier: Tier,
    roles: u32,
    intents: u32,
    categories: u32,
}

fn bits<T: Copy + PartialEq>(all: &[T], values: &[T]) -> u32 {
    all.iter()
        .enumerate()
        .filter(|(_, v)| values.contains(v))
        .fold(0, |acc, (i, _)| acc | (1 << i))
}

fn bit<T: Copy + PartialEq>(all: &[T], value: T) -> u32 {
    all.iter().position(|v| *v == value).map_or(0, |i| 1 << i)
}

/// Splits text into lowercase words (letters and digits).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Word → (entry, weight) postings, words sorted, so a query word finds every indexed word it
/// is a prefix of with two binary searches.
#[derive(Default)]
struct TextIndex {
    words: Vec<String>,
    postings: Vec<Vec<(u32, u8)>>,
}

/// Weight of a word by where it occurs.
const W_NAME: u8 = 8;
const W_SLUG_TAG: u8 = 5;
const W_SUMMARY: u8 = 3;
const W_DESCRIPTION: u8 = 1;
/// Query words at least this long are corrected when nothing begins with them.
pub const MIN_TYPO_CHARS: usize = 5;

impl TextIndex {
    fn build(keys: &[Arc<Key>]) -> Self {
        let mut map: std::collections::BTreeMap<String, HashMap<u32, u8>> = std::collections::BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let m = &k.meta;
            let mut add = |text: &str, w: u8| {
                for word in words(text) {
                    let best = map.entry(word).or_default().entry(i).or_insert(0);
                    *best = (*best).max(w);
                }
            };
            add(&m.name, W_NAME);
            add(m.slug.as_str(), W_SLUG_TAG);
            for t in &m.tags {
                add(t, W_SLUG_TAG);
            }
            add(&m.summary, W_SUMMARY);
            add(&m.description, W_DESCRIPTION);
        }
        let mut index = TextIndex::default();
        for (word, hits) in map {
            let mut hits: Vec<(u32, u8)> = hits.into_iter().collect();
            hits.sort_unstable();
            index.words.push(word);
            index.postings.push(hits);
        }
        index
    }

    /// The indexed words that begin with `prefix`, as a range of `words`.
    fn prefixed(&self, prefix: &str) -> std::ops::Range<usize> {
        let from = self.words.partition_point(|w| w.as_str() < prefix);
        let to = from + self.words[from..].partition_point(|w| w.starts_with(prefix));
        from..to
    }

    /// The indexed word closest to `q`, for a query word no indexed word begins with: words of
    /// [`MIN_TYPO_CHARS`] or more characters may be one edit away (two from eight characters
    /// on), an edit being an insertion, deletion, substitution or swap of neighbours. Only
    /// words with the same first letter are compared (typos rarely hit the first letter, and
    /// the candidates are then one contiguous range of the sorted words). Ties go to the word
    /// in more KEYS, then to the alphabetically first.
    fn correction(&self, q: &str) -> Option<&str> {
        let n = q.chars().count();
        if n < MIN_TYPO_CHARS {
            return None;
        }
        let max = if n >= 8 { 2 } else { 1 };
        let first = q.chars().next()?;
        let mut buf = [0u8; 4];
        let range = self.prefixed(first.encode_utf8(&mut buf));
        let start = range.start;
        self.words[range]
            .iter()
            .enumerate()
            .filter(|(_, w)| w.chars().count().abs_diff(n) <= max)
            .map(|(i, w)| (strsim::damerau_levenshtein(q, w), i + start))
            .filter(|(d, _)| *d <= max)
            .min_by_key(|&(d, i)| (d, std::cmp::Reverse(self.postings[i].len()), i))
            .map(|(_, i)| self.words[i].as_str())
    }

    /// Per-entry scores for a query: 0 unless every query word is a prefix of a word of the
    /// entry; otherwise the sum, over query words, of the best weight of the words it prefixes.
    /// A query word that begins no indexed word is replaced by its [`correction`](Self::correction)
    /// when there is one; the second value is the query as corrected, when anything was.
    fn scores(&self, query_words: &[String], n: usize) -> (Vec<u32>, Option<String>) {
        let mut total = vec![0u32; n];
        let mut matched = vec![0u16; n];
        let mut best = vec![0u8; n];
        let mut used: Vec<&str> = Vec::with_capacity(query_words.len());
        let mut corrected = false;
        for (qi, q) in query_words.iter().enumerate() {
            let mut range = self.prefixed(q);
            let mut word = q.as_str();
            if range.is_empty()
                && let Some(fixed) = self.correction(q)
            {
                range = self.prefixed(fixed);
                word = fixed;
                corrected = true;
            }
            used.push(word);
            best.iter_mut().for_each(|b| *b = 0);
            for postings in &self.postings[range] {
                for &(e, w) in postings {
                    let slot = &mut best[e as usize];
                    *slot = (*slot).max(w);
                }
            }
            let needed = u16::try_from(qi).unwrap_or(u16::MAX);
            for (e, w) in best.iter().enumerate() {
                if *w > 0 && matched[e] == needed {
                    matched[e] += 1;
                    total[e] += u32::from(*w);
                }
            }
        }
        let all = u16::try_from(query_words.len()).unwrap_or(u16::MAX);
        for (t, m) in total.iter_mut().zip(&matched) {
            if *m != all {
                *t = 0;
            }
        }
        (total, corrected.then(|| used.join(" ")))
    }
}

/// An immutable, searchable snapshot of the catalog.
pub struct CatalogIndex {
    entries: Vec<Entry>,
    by_slug: HashMap<String, usize>,
    by_name: Vec<u32>,
    by_newest: Vec<u32>,
    by_tier: Vec<u32>,
    text: TextIndex,
    revision: i64,
}

impl fmt::Debug for CatalogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogIndex")
            .field("keys", &self.entries.len())
            .field("revision", &self.revision)
            .finish()
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The KEYS on this page.
    pub items: Vec<Arc<Key>>,
    /// How many KEYS match in all.
    pub total: usize,
    /// This page (1-based).
    pub page: u32,
    /// Page size.
    pub per_page: u32,
    /// The search text as it was run, when a misspelt word was corrected ("kubernets" →
    /// "kubernetes"): pages say "showing results for …".
    pub corrected: Option<String>,
}

impl SearchPage {
    /// How many pages there are (at least 1).
    #[must_use]
    pub fn pages(&self) -> u32 {
        let pages = self.total.div_ceil(self.per_page.max(1) as usize).max(1);
        u32::try_from(pages).unwrap_or(u32::MAX)
    }
}

fn ordering(n: usize, cmp: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..u32::try_from(n).unwrap_or(u32::MAX)).collect();
    idx.sort_by(|a, b| cmp(*a as usize, *b as usize));
    idx
}

/// Filters of a query as bit masks (0 = no filter).
struct Masks {
    kind: Option<Kind>,
    tier: Option<Tier>,
    roles: u32,
    intents: u32,
    categories: u32,
}

impl Masks {
    fn of(q: &CatalogQuery) -> Self {
        Self {
            kind: q.kind,
            tier: q.tier,
            roles: q.role.map_or(0, |r| bit(Role::ALL, r)),
            intents: q.intent.map_or(0, |i| bit(Intent::ALL, i)),
            categories: q.category.map_or(0, |c| bit(Category::ALL, c)),
        }
    }

    fn pass(&self, e: &Entry) -> bool {
        self.kind.is_none_or(|k| e.kind == k)
            && self.tier.is_none_or(|t| e.tier == t)
            && e.roles & self.roles == self.roles
            && e.intents & self.intents == self.intents
            && e.categories & self.categories == self.categories
    }
}

impl CatalogIndex {
    /// Builds an index over `keys` at catalog `revision`.
    ///
    /// ```
    /// use catalog::{CatalogIndex, CatalogQuery};
    /// let index = CatalogIndex::new(Vec::new(), 7);
    /// assert_eq!(index.revision(), 7);
    /// assert_eq!(index.search(&CatalogQuery::default()).total, 0);
    /// ```
    #[must_use]
    pub fn new(keys: Vec<Key>, revision: i64) -> Self {
        let keys: Vec<Arc<Key>> = keys.into_iter().map(Arc::new).collect();
        let entries: Vec<Entry> = keys
            .iter()
            .map(|k| Entry {
                key: Arc::clone(k),
                kind: k.meta.kind,
                tier: k.meta.tier,
                roles: bits(Role::ALL, &k.meta.roles),
                intents: bits(Intent::ALL, &k.meta.intents),
                categories: bits(Category::ALL, &k.meta.categories),
            })
            .collect();
        let by_slug = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.meta.slug.to_string(), i))
            .collect();
        let lower: Vec<String> = keys.iter().map(|k| k.meta.name.to_lowercase()).collect();
        let name_then_slug = |a: usize, b: usize| {
            lower[a]
                .cmp(&lower[b])
                .then_with(|| keys[a].meta.slug.cmp(&keys[b].meta.slug))
        };
        let newest = |i: usize| keys[i].current().map(|v| v.released_at);
        let by_name = ordering(keys.len(), name_then_slug);
        let by_newest = ordering(keys.len(), |a, b| {
            newest(b).cmp(&newest(a)).then_with(|| name_then_slug(a, b))
        });
        let by_tier = ordering(keys.len(), |a, b| {
            keys[a]
                .meta
                .tier
                .cmp(&keys[b].meta.tier)
                .then_with(|| name_then_slug(a, b))
        });
        let text = TextIndex::build(&keys);
        Self {
            entries,
            by_slug,
            by_name,
            by_newest,
            by_tier,
            text,
            revision,
        }
    }

    /// The catalog revision this index was built from.
    #[must_use]
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Number of KEYS.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One KEY by slug.
    #[must_use]
    pub fn get(&self, slug: &str) -> Option<Arc<Key>> {
        self.by_slug.get(slug).map(|i| Arc::clone(&self.entries[*i].key))
    }

    /// Every KEY, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Key>> {
        self.by_name.iter().map(|i| &self.entries[*i as usize].key)
    }

    /// Answers a query: filters, text match, order, then the requested page.
    ///
    /// Text matching is by word prefix: every word of `q` must begin a word of the KEY's name,
    /// slug, tags, summary or description (`postgres` finds "PostgreSQL"). Relevance weighs a
    /// match in the name 8, slug or tag 5, summary 3, description 1. A word of five letters or
    /// more that begins no word of the catalog is read as the closest word one edit away (two
    /// from eight letters), and [`SearchPage::corrected`] says so.
    #[must_use]
    pub fn search(&self, q: &CatalogQuery) -> SearchPage {
        let query_words: Vec<String> = q.text.as_deref().map(|t| words(t).collect()).unwrap_or_default();
        let per_page = q.per_page.clamp(1, MAX_PER_PAGE) as usize;
        let skip = (q.page.max(1) as usize - 1).saturating_mul(per_page);
        let masks = Masks::of(q);
        let (scores, corrected) = if query_words.is_empty() {
            (None, None)
        } else {
            let (scores, corrected) = self.text.scores(&query_words, self.entries.len());
            (Some(scores), corrected)
        };
        let order = match q.sort {
            Sort::Newest => &self.by_newest,
            Sort::Tier => &self.by_tier,
            Sort::Name | Sort::Relevance => &self.by_name,
        };
        let matching = order
            .iter()
            .copied()
            .filter(|&i| masks.pass(&self.entries[i as usize]) && scores.as_ref().is_none_or(|s| s[i as usize] > 0));
        let (items, total) = if let (Sort::Relevance, Some(scores)) = (q.sort, &scores) {
            let mut hits: Vec<u32> = matching.collect();
            // Stable: equal scores keep name order.
            hits.sort_by_key(|&i| std::cmp::Reverse(scores[i as usize]));
            let items = hits
                .iter()
                .skip(skip)
                .take(per_page)
                .map(|&i| Arc::clone(&self.entries[i as usize].key))
                .collect();
            (items, hits.len())
        } else {
            let mut total = 0;
            let mut items = Vec::with_capacity(per_page);
            for i in matching {
                if total >= skip && items.len() < per_page {
                    items.push(Arc::clone(&self.entries[i as usize].key));
                }
                total += 1;
            }
            (items, total)
        };
        SearchPage {
            items,
            total,
            page: q.page,
            per_page: u32::try_from(per_page).unwrap_or(MAX_PER_PAGE),
            corrected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArchiveRef, KeyMetadata, KeyVersion, Preview, Version};
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn key(slug: &str, name: &str, kind: Kind, tier: Tier, roles: Vec<Role>, tags: &[&str], released: u32) -> Key {
        Key {
            meta: KeyMetadata {
                slug: slug.parse().unwrap(),
                name: name.into(),
                kind,
                tier,
                summary: format!("Summary of {name}"),
                description: "A longer description about postgres.".into(),
                roles,
                intents: vec![Intent::Learn],
                categories: vec![Category::Security],
                tags: tags.iter().map(|t| (*t).to_string()).collect(),
            },
            versions: vec![KeyVersion {
                version: Version::new(1, 0, 0),
                released_at: NaiveDate::from_ymd_opt(2026, 1, released).unwrap(),
                changelog: "c".into(),
                archive: ArchiveRef {
                    object_key: "k".into(),
                    sha256: "s".into(),
                    size_bytes: 1,
                    content_sha256: String::new(),
                },
                preview: Preview::default(),
            }],
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn sample() -> CatalogIndex {
        CatalogIndex::new(
            vec![
                key(
                    "stripe-kit",
                    "Stripe Checkout Kit",
                    Kind::NodeNext,
                    Tier::Operator,
                    vec![Role::FullstackDeveloper],
                    &["stripe"],
                    3,
                ),
                key(
                    "pg-failover",
                    "Postgres Failover",
                    Kind::Runbook,
                    Tier::Scale,
                    vec![Role::Sre],
                    &["postgres"],
                    5,
                ),
                key(
                    "churn-pack",
                    "Churn Pack",
                    Kind::Jupyter,
                    Tier::Starter,
                    vec![Role::DataScientist],
                    &[],
                    1,
                ),
                key(
                    "auth-kit",
                    "Auth Kit",
                    Kind::NodeNext,
                    Tier::Starter,
                    vec![Role::FullstackDeveloper, Role::Sre],
                    &["oauth"],
                    9,
                ),
            ],
            1,
        )
    }

    fn slugs(p: &SearchPage) -> Vec<&str> {
        p.items.iter().map(|k| k.meta.slug.as_str()).collect()
    }

    fn run(params: &[(&str, &str)]) -> SearchPage {
        sample().search(&CatalogQuery::from_params(params.iter().copied()).unwrap())
    }

    #[test]
    fn filters_sorts_and_text() {
        let cases: &[(&[(&str, &str)], &[&str])] = &[
            (&[], &["auth-kit", "churn-pack", "pg-failover", "stripe-kit"]),
            (&[("kind", "node-next")], &["auth-kit", "stripe-kit"]),
            (&[("tier", "starter")], &["auth-kit", "churn-pack"]),
            (&[("role", "sre")], &["auth-kit", "pg-failover"]),
            (&[("role", "sre"), ("kind", "runbook")], &["pg-failover"]),
            (
                &[("sort", "newest")],
                &["auth-kit", "pg-failover", "stripe-kit", "churn-pack"],
            ),
            (
                &[("sort", "tier")],
                &["auth-kit", "churn-pack", "stripe-kit", "pg-failover"],
            ),
            (&[("q", "STRIPE checkout")], &["stripe-kit"]),
            // name beats description: "postgres" is in every description but one name.
            (
                &[("q", "postgres")],
                &["pg-failover", "auth-kit", "churn-pack", "stripe-kit"],
            ),
            (
                &[("q", "postgres"), ("sort", "name")],
                &["auth-kit", "churn-pack", "pg-failover", "stripe-kit"],
            ),
            (&[("q", "nothing-matches")], &[]),
            // Word prefixes match, inner fragments do not.
            (&[("q", "postg fail")], &["pg-failover"]),
            (&[("q", "ailover")], &[]),
            (&[("q", "oauth")], &["auth-kit"]),
            (&[("per_page", "2"), ("page", "2")], &["pg-failover", "stripe-kit"]),
            (&[("per_page", "2"), ("page", "9")], &[]),
        ];
        for (params, want) in cases {
            assert_eq!(slugs(&run(params)), *want, "{params:?}");
        }
        assert_eq!(run(&[("per_page", "3")]).pages(), 2);
    }

    #[test]
    fn misspelt_words_of_five_letters_or_more_are_corrected() {
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            // One edit: a missing letter, a swapped pair, a wrong letter.
            (
                "Postgrs",
                &["pg-failover", "auth-kit", "churn-pack", "stripe-kit"],
                Some("postgres"),
            ),
            ("stirpe", &["stripe-kit"], Some("stripe")),
            ("checkuot kit", &["stripe-kit"], Some("checkout kit")),
            ("failovr", &["pg-failover"], Some("failover")),
            // Two edits only from eight letters on.
            (
                "desciptoin",
                &["auth-kit", "churn-pack", "pg-failover", "stripe-kit"],
                Some("description"),
            ),
            ("failvr", &[], None),
            // Short words are never corrected; the first letter must match.
            ("aut", &["auth-kit"], None),
            ("oaht", &[], None),
            ("xtripe", &[], None),
            // A word that begins an indexed word is taken as typed.
            ("postg", &["pg-failover", "auth-kit", "churn-pack", "stripe-kit"], None),
        ];
        for (text, want, corrected) in cases {
            let page = run(&[("q", text)]);
            assert_eq!(slugs(&page), *want, "{text}");
            assert_eq!(page.corrected.as_deref(), *corrected, "{text}");
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases = [
            ("kind", "video", "accepted: node-next, runbook, jupyter"),
            ("tier", "gold", "accepted: starter"),
            ("role", "wizard", "not a known role"),
            ("intent", "x", "not a known intent"),
            ("category", "x", "not a known category"),
            ("sort", "price", "accepted: relevance, name, newest, tier"),
            ("page", "0", "from 1"),
            ("page", "abc", "whole number"),
            ("per_page", "101", "from 1 to 100"),
        ];
        for (p, v, reason) in cases {
            let err = CatalogQuery::from_params([(p, v)]).unwrap_err();
            assert_eq!(err.parameter, p);
            assert!(err.reason.contains(reason), "{p}={v}: {}", err.reason);
        }
        let long = "x".repeat(201);
        assert_eq!(
            CatalogQuery::from_params([("q", long.as_str())]).unwrap_err().parameter,
            "q"
        );
    }

    proptest! {
        #[test]
        fn pages_partition_the_results(per_page in 1u32..6, kind in proptest::option::of(0usize..3)) {
            let index = sample();
            let mut q = CatalogQuery { per_page, kind: kind.map(|k| Kind::ALL[k]), ..CatalogQuery::default() };
            let all = index.search(&CatalogQuery { per_page: 100, ..q.clone() });
            let mut seen = Vec::new();
            let pages = index.search(&q).pages();
            for page in 1..=pages {
                q.page = page;
                let p = index.search(&q);
                prop_assert_eq!(p.total, all.total);
                prop_assert!(p.items.len() <= per_page as usize);
                seen.extend(p.items.iter().map(|k| k.meta.slug.clone()));
            }
            let want: Vec<_> = all.items.iter().map(|k| k.meta.slug.clone()).collect();
            prop_assert_eq!(seen, want);
        }
    }
}
