//! Guided discovery: `/discover` (three questions, no JavaScript), the recommendation surfaces
//! ("Recommended for you", "Pairs well with", "Next steps"), `GET /api/v1/recommendations`,
//! `POST/DELETE /api/v1/signals`, and the signals they learn from. Every list comes from the
//! `discovery` crate's rules, with reasons, and never shows a KEY the buyer can access.
//!
//! Anonymous visitors get a `keys_visitor` cookie when they answer the questions; their signals
//! and profile move to their account when they sign in.

use std::collections::BTreeSet;
use std::str::FromStr;

use accounts::SecretToken;
use accounts::ports::AccountId;
use askama::Template;
use catalog::{Category, Intent, Key, Role};
use discovery::{Context, Profile, Recommendation, Signal, SignalKind, Subject, human, pairs_with, recommend_with};
use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::AppState;
use crate::http::extract::{CheckedForm, CsrfOnly, HasCsrf};
use crate::http::page::{error_page, render};
use crate::http::problem::{Problem, e};
use crate::http::session::{account_of, session_of, set_cookie};

/// The anonymous visitor cookie.
pub const VISITOR_COOKIE: &str = "keys_visitor";
const VISITOR_MAX_AGE: i64 = 365 * 86_400;

/// The visitor subject of a request's cookie, if any.
fn visitor_of(state: &AppState, req: &Request) -> Option<Subject> {
    crate::http::session::shop_cookie(state, req, VISITOR_COOKIE)
        .filter(|c| !c.is_empty())
        .map(|c| Subject::Visitor(SecretToken::from_client(&c).digest()))
}

/// Moves the visitor's signals and profile to the account that just signed in.
pub(crate) async fn merge_visitor(state: &AppState, req: &Request, account: AccountId) {
    if let Some(visitor) = visitor_of(state, req)
        && let Err(err) = state.discovery.signals.merge(&visitor, &Subject::User(account.0)).await
    {
        tracing::warn!(error = %err, "could not merge visitor signals");
    }
}

/// Records a signal, logging (not failing) when storage is down.
pub(crate) async fn record(state: &AppState, subject: &Subject, kind: SignalKind) {
    let signal = Signal {
        kind,
        at: state.clock.now(),
    };
    if let Err(err) = state.discovery.signals.record(subject, &signal).await {
        tracing::warn!(error = %err, "signal not recorded");
    }
}

/// The subject of a request: the signed-in account, else the visitor cookie.
pub(crate) async fn subject_of(state: &AppState, req: &Request) -> (Option<AccountId>, Option<Subject>) {
    match account_of(state, req).await {
        Some(a) => (Some(a), Some(Subject::User(a.0))),
        None => (None, visitor_of(state, req)),
    }
}

/// Who is asking for recommendations, read in one database round trip: the account behind the
/// session cookie or API token with every entitlement it holds now (its own and its
/// organisations'), else the visitor cookie.
pub(crate) struct Asker {
    subject: Option<Subject>,
    held: Option<std::sync::Arc<crate::http::access_cache::Holdings>>,
    /// The entitlements could not be read: what the buyer owns is unknown, so nothing may be
    /// recommended (it could be something they own).
    ownership_unknown: bool,
}

impl Asker {
    /// A visitor without a cookie: nobody known, nothing owned.
    pub(crate) fn nobody() -> Self {
        Asker {
            subject: None,
            held: None,
            ownership_unknown: false,
        }
    }

    /// The subject their signals are recorded under.
    pub(crate) fn subject(&self) -> Option<&Subject> {
        self.subject.as_ref()
    }
}

/// Reads the [`Asker`] of a request. When the entitlements cannot be read (logged), a signed-in
/// buyer stays themselves (their signals are still theirs) and nothing is recommended.
pub(crate) async fn asker(state: &AppState, req: &Request) -> Asker {
    match crate::http::session::access_of(state, req, crate::http::session::Read::Cached).await {
        Ok(Some(held)) => Asker {
            subject: Some(Subject::User(held.principal.user.0)),
            held: Some(held),
            ownership_unknown: false,
        },
        Ok(None) => Asker {
            subject: visitor_of(state, req),
            held: None,
            ownership_unknown: false,
        },
        Err(()) => Asker {
            subject: subject_of(state, req).await.1,
            held: None,
            ownership_unknown: true,
        },
    }
}

/// KEYS the asker can access now (own, organisations', plans), resolved from the scopes of
/// the entitlements in force — not by asking `can_access` for every KEY of the catalog.
fn accessible(state: &AppState, asker: &Asker, ranking: &crate::snapshot::cache::Ranking) -> BTreeSet<catalog::Slug> {
    let none: &[entitlements::Entitlement] = &[];
    let list = asker.held.as_ref().map_or(none, |h| h.entitlements.as_slice());
    entitlements::Coverage::of(list, state.clock.now()).slugs(ranking.keys.iter().map(|k| (&k.meta.slug, k.meta.tier)))
}

/// Builds the rules' context for a request: the saved profile overridden by `asked`, what the
/// buyer owns, their recent views, co-purchases, bundles. The profile and the views come in
/// one read, concurrently with the co-purchase statistics (when the buyer owns anything).
///
/// `ranking` is the catalog the caller ranks with: plan coverage is resolved against the same
/// KEYS, so a catalog reload in between cannot let a covered KEY through.
pub(crate) async fn context(
    state: &AppState,
    asker: &Asker,
    asked: Option<Profile>,
    ranking: &crate::snapshot::cache::Ranking,
) -> Context {
    discovery::context::gather(
        state.discovery.signals.as_ref(),
        discovery::context::Asking {
            subject: asker.subject.as_ref(),
            owned: accessible(state, asker, ranking),
            asked,
            bundles: ranking.bundles.clone(),
            window_days: i64::from(ranking.weights.recent_view_days).min(state.discovery.retention_days),
            now: state.clock.now(),
        },
    )
    .await
}

/// One recommendation for a page.
pub(crate) struct RecView {
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) score: u32,
    pub(crate) reasons: Vec<String>,
}

pub(crate) fn views(state: &AppState, recs: &[Recommendation]) -> Vec<RecView> {
    let index = state.catalog.cache.snapshot();
    recs.iter()
        .filter_map(|r| {
            index.get(r.slug.as_str()).map(|k: std::sync::Arc<Key>| RecView {
                slug: r.slug.to_string(),
                name: k.meta.name.clone(),
                summary: k.meta.summary.clone(),
                score: r.score,
                reasons: r.reasons.clone(),
            })
        })
        .collect()
}

/// Recommendations for a request (profile from storage, optionally overridden).
pub(crate) async fn for_request(
    state: &AppState,
    req: &Request,
    asked: Option<Profile>,
    limit: usize,
) -> Vec<Recommendation> {
    timed_for_request(state, req, asked, limit)
        .await
        .map(|r| r.0)
        .unwrap_or_default()
}

/// [`for_request`], with how long the ranking itself took (not the storage reads); `None`
/// when what the buyer owns cannot be read.
async fn timed_for_request(
    state: &AppState,
    req: &Request,
    asked: Option<Profile>,
    limit: usize,
) -> Option<(Vec<Recommendation>, std::time::Duration)> {
    let who = asker(state, req).await;
    if who.ownership_unknown {
        return None;
    }
    if who.subject.is_none() && asked.as_ref().is_none_or(Profile::is_empty) {
        // Nothing known about the visitor: no rule can match.
        return Some((Vec::new(), std::time::Duration::ZERO));
    }
    let ranking = state.catalog.cache.ranking();
    let ctx = context(state, &who, asked, &ranking).await;
    let started = std::time::Instant::now();
    let recs = recommend_with(&ranking.keys, &ranking.positions, &ctx, &ranking.weights, limit);
    Some((recs, started.elapsed()))
}

/// A `Server-Timing` entry (`rank;dur=0.183`: milliseconds with microsecond precision).
fn server_timing(name: &str, took: std::time::Duration) -> String {
    let micros = took.as_micros();
    format!("{name};dur={}.{:03}", micros / 1_000, micros % 1_000)
}

/// "Pairs well with" a KEY, for a request.
pub(crate) async fn pairs_for(state: &AppState, who: &Asker, anchor: &Key, limit: usize) -> Vec<Recommendation> {
    if who.ownership_unknown {
        return Vec::new();
    }
    let ranking = state.catalog.cache.ranking();
    let ctx = context(state, who, None, &ranking).await;
    pairs_with(
        &anchor.meta,
        &ranking.keys,
        &ranking.positions,
        &ctx,
        &ranking.weights,
        limit,
    )
}

/// Parses a vocabulary parameter (`role=sre`), naming the parameter when it is unknown.
fn parse_one<T: FromStr<Err = catalog::VocabError>>(name: &str, value: Option<&str>) -> Result<Option<T>, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<T>().map(Some).map_err(|e| format!("`{name}`: {e}")),
    }
}

fn parse_many<T: FromStr<Err = catalog::VocabError>>(name: &str, value: Option<&str>) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for v in value.unwrap_or("").split(',').map(str::trim).filter(|v| !v.is_empty()) {
        out.push(v.parse::<T>().map_err(|e| format!("`{name}`: {e}"))?);
    }
    Ok(out)
}

fn asked_profile(role: Option<&str>, intent: Option<&str>, category: Option<&str>) -> Result<Profile, String> {
    Ok(Profile {
        role: parse_one::<Role>("role", role)?,
        intents: parse_many::<Intent>("intent", intent)?,
        categories: parse_many::<Category>("category", category)?,
    })
}

// ---------------------------------------------------------------------------------------------
// /discover
// ---------------------------------------------------------------------------------------------

struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "discover.html")]
struct DiscoverPage {
    roles: Vec<Choice>,
    intents: Vec<Choice>,
    categories: Vec<Choice>,
    answered: bool,
    results: Vec<RecView>,
    clear_token: Option<String>,
    csrf: String,
}

fn choices<T: Copy + PartialEq>(all: &[T], chosen: &[T], text: impl Fn(T) -> &'static str) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: text(*v),
            label: {
                let h = human(text(*v));
                let mut c = h.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            },
            selected: chosen.contains(v),
        })
        .collect()
}

/// The `/discover` query.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DiscoverQuery {
    role: Option<String>,
    intent: Option<String>,
    category: Option<String>,
}

/// The CSRF token of the answer form: the session's when signed in, else a double-submit
/// token (the `keys_csrf` cookie, set when missing). Returns the token and a cookie to set.
fn answer_csrf(
    state: &AppState,
    req: &Request,
    session: Option<&accounts::ports::Session>,
) -> (String, Option<String>) {
    if let Some(s) = session {
        return (s.csrf_token.clone(), None);
    }
    match crate::http::session::shop_cookie(state, req, crate::http::session::CSRF_COOKIE).filter(|c| !c.is_empty()) {
        Some(c) => (c, None),
        None => {
            let token = SecretToken::generate("").expose().to_owned();
            let cookie = set_cookie(state, crate::http::session::CSRF_COOKIE, &token, 3600);
            (token, Some(cookie))
        }
    }
}

/// `GET /discover`: three questions, and — for the answers in the query, or the saved ones —
/// recommendations with their reasons. It changes nothing: answering is a `POST`.
#[handler]
pub(crate) async fn discover_page(
    state: Data<&AppState>,
    req: &Request,
    poem::web::Query(q): poem::web::Query<DiscoverQuery>,
) -> Response {
    let asked = match asked_profile(q.role.as_deref(), q.intent.as_deref(), q.category.as_deref()) {
        Ok(p) => p,
        Err(msg) => return error_page(StatusCode::BAD_REQUEST, "That answer is not one we know", &msg),
    };
    let who = asker(&state, req).await;
    let session = session_of(&state, req).await;
    let (csrf, csrf_cookie) = answer_csrf(&state, req, session.as_ref());
    let ranking = state.catalog.cache.ranking();
    let ctx = context(&state, &who, Some(asked.clone()), &ranking).await;
    let recs = if who.ownership_unknown {
        Vec::new()
    } else {
        recommend_with(&ranking.keys, &ranking.positions, &ctx, &ranking.weights, 9)
    };
    let p = &ctx.profile;
    let page = DiscoverPage {
        roles: choices(Role::ALL, &p.role.into_iter().collect::<Vec<_>>(), Role::as_str),
        intents: choices(Intent::ALL, &p.intents, Intent::as_str),
        categories: choices(Category::ALL, &p.categories, Category::as_str),
        answered: !p.is_empty(),
        results: views(&state, &recs),
        clear_token: has_history(&state, req).await.then(|| csrf.clone()),
        csrf,
    };
    let mut resp = render(&page);
    if let Some(c) = csrf_cookie
        && let Ok(v) = c.parse()
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The answer form.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct DiscoverForm {
    csrf: String,
    role: Option<String>,
    intent: Option<String>,
    category: Option<String>,
}

impl HasCsrf for DiscoverForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /discover`: saves the answers in the caller's profile (an anonymous visitor gets a
/// visitor cookie) and redirects to the recommendations for them.
#[handler]
pub(crate) async fn discover_post(
    state: Data<&AppState>,
    req: &Request,
    CheckedForm(f): CheckedForm<DiscoverForm>,
) -> Response {
    let asked = match asked_profile(f.role.as_deref(), f.intent.as_deref(), f.category.as_deref()) {
        Ok(p) => p,
        Err(msg) => return error_page(StatusCode::BAD_REQUEST, "That answer is not one we know", &msg),
    };
    let mut who = asker(&state, req).await;
    let mut new_cookie = None;
    if !asked.is_empty() {
        if who.subject.is_none() {
            let token = SecretToken::generate("keys_v_");
            who.subject = Some(Subject::Visitor(token.digest()));
            new_cookie = Some(set_cookie(&state, VISITOR_COOKIE, token.expose(), VISITOR_MAX_AGE));
        }
        if let Some(s) = &who.subject {
            let now = state.clock.now();
            if let Err(err) = state.discovery.signals.save_profile(s, &asked, now).await {
                tracing::warn!(error = %err, "profile not saved");
            }
            if let Some(r) = asked.role {
                record(&state, s, SignalKind::Role(r)).await;
            }
            for i in &asked.intents {
                record(&state, s, SignalKind::Intent(*i)).await;
            }
            for c in &asked.categories {
                record(&state, s, SignalKind::Category(*c)).await;
            }
        }
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            [("role", &f.role), ("intent", &f.intent), ("category", &f.category)]
                .into_iter()
                .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v))),
        )
        .finish();
    let to = if query.is_empty() {
        "/discover".to_owned()
    } else {
        format!("/discover?{query}")
    };
    let mut resp = poem::web::Redirect::see_other(to).into_response();
    if let Some(c) = new_cookie
        && let Ok(v) = c.parse()
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

#[derive(Tags)]
enum DiscoveryTags {
    /// Explainable recommendations.
    Discovery,
}

/// A recommended KEY.
#[derive(Object)]
pub(crate) struct RecommendationItem {
    /// KEY slug.
    slug: String,
    /// KEY name.
    name: String,
    /// Points from every rule that matched.
    score: u32,
    /// Why, in plain language (at least one).
    reasons: Vec<String>,
}

/// Recommendations.
#[derive(Object)]
pub(crate) struct RecommendationList {
    /// Best first (score, then lower tier, then slug).
    items: Vec<RecommendationItem>,
}

/// What a signal says.
#[derive(poem_openapi::Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[oai(rename_all = "lowercase")]
pub(crate) enum SignalKindName {
    /// Looked at a KEY (`value`: its slug).
    View,
    /// Bought a KEY (`value`: its slug).
    Purchase,
    /// Chose a role.
    Role,
    /// Chose a tool intent.
    Intent,
    /// Chose a problem category.
    Category,
}

/// A signal to record.
#[derive(Object)]
pub(crate) struct SignalBody {
    /// `view`, `purchase`, `role`, `intent` or `category`.
    kind: SignalKindName,
    /// A KEY slug (view, purchase) or a vocabulary value; an unknown one is 404.
    #[oai(validator(max_length = 64, pattern = r"^[a-z0-9-]{1,64}$"))]
    value: crate::http::text::Text,
}

#[derive(ApiResponse)]
pub(crate) enum RecResponse {
    /// Recommendations. `Server-Timing: rank;dur=…` tells how long the ranking itself took,
    /// in milliseconds (storage reads excluded).
    #[oai(status = 200)]
    Ok(Json<RecommendationList>, #[oai(header = "Server-Timing")] String),
    /// A parameter is not a known value (the message lists the accepted ones).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// What the caller owns cannot be read right now, so nothing is recommended; try again.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

#[derive(ApiResponse)]
pub(crate) enum SignalResponse {
    /// Recorded (or cleared).
    #[oai(status = 204)]
    Done,
    /// Neither signed in nor a visitor (answer `/discover` first).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// No KEY has that slug, or the value is not one of the vocabulary's.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

/// Discovery endpoints.
pub struct DiscoveryApi;

#[OpenApi]
impl DiscoveryApi {
    /// Recommended KEYS with their score and reasons. `role`, `intent` and `category` (comma
    /// separated) override the saved profile; KEYS the caller can access are never listed.
    #[oai(path = "/recommendations", method = "get", tag = "DiscoveryTags::Discovery")]
    async fn recommendations(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// A role (one).
        #[oai(validator(max_length = 64))]
        role: Query<Option<String>>,
        /// Tool intents, comma-separated.
        #[oai(validator(max_length = 400))]
        intent: Query<Option<String>>,
        /// Problem categories, comma-separated.
        #[oai(validator(max_length = 400))]
        category: Query<Option<String>>,
        /// How many, 1 to 50 (default 10).
        #[oai(validator(minimum(value = "1"), maximum(value = "50")))]
        limit: Query<Option<u32>>,
    ) -> RecResponse {
        let asked = match asked_profile(role.0.as_deref(), intent.0.as_deref(), category.0.as_deref()) {
            Ok(p) => p,
            Err(msg) => return RecResponse::BadRequest(e("bad_request", msg)),
        };
        let limit = limit.0.unwrap_or(10).clamp(1, 50) as usize;
        let Some((recs, took)) = timed_for_request(&state, req, Some(asked), limit).await else {
            return RecResponse::Unavailable(e("unavailable", "try again shortly"));
        };
        let index = state.catalog.cache.snapshot();
        RecResponse::Ok(
            Json(RecommendationList {
                items: recs
                    .into_iter()
                    .map(|r| RecommendationItem {
                        name: index
                            .get(r.slug.as_str())
                            .map_or_else(String::new, |k| k.meta.name.clone()),
                        slug: r.slug.to_string(),
                        score: r.score,
                        reasons: r.reasons,
                    })
                    .collect(),
            }),
            server_timing("rank", took),
        )
    }

    /// Record a signal for the signed-in account (or the visitor cookie).
    #[oai(path = "/signals", method = "post", tag = "DiscoveryTags::Discovery")]
    async fn post_signal(&self, state: Data<&AppState>, req: &Request, body: Json<SignalBody>) -> SignalResponse {
        let (_, subject) = subject_of(&state, req).await;
        let Some(subject) = subject else {
            return SignalResponse::Unauthorized(e("unauthorized", "sign in (or answer /discover) first"));
        };
        let v = body.value.trim();
        let unknown = |err: String| SignalResponse::NotFound(e("not_found", format!("`value`: {}", crate::clip(&err))));
        let kind = match body.kind {
            SignalKindName::View | SignalKindName::Purchase => match v.parse::<catalog::Slug>() {
                Ok(slug) if state.catalog.cache.snapshot().get(slug.as_str()).is_some() => {
                    if body.kind == SignalKindName::View {
                        SignalKind::View(slug)
                    } else {
                        SignalKind::Purchase(slug)
                    }
                }
                _ => return unknown(format!("no KEY has the slug `{v}`")),
            },
            SignalKindName::Role => match v.parse() {
                Ok(r) => SignalKind::Role(r),
                Err(err) => return unknown(format!("{err}")),
            },
            SignalKindName::Intent => match v.parse() {
                Ok(i) => SignalKind::Intent(i),
                Err(err) => return unknown(format!("{err}")),
            },
            SignalKindName::Category => match v.parse() {
                Ok(c) => SignalKind::Category(c),
                Err(err) => return unknown(format!("{err}")),
            },
        };
        let signal = Signal {
            kind,
            at: state.clock.now(),
        };
        match state.discovery.signals.record(&subject, &signal).await {
            Ok(()) => SignalResponse::Done,
            Err(err) => {
                tracing::error!(error = %err, "signal not recorded");
                SignalResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// Delete every signal and the saved profile of the caller.
    #[oai(path = "/signals", method = "delete", tag = "DiscoveryTags::Discovery")]
    async fn clear_signals(&self, state: Data<&AppState>, req: &Request) -> SignalResponse {
        let (_, subject) = subject_of(&state, req).await;
        let Some(subject) = subject else {
            return SignalResponse::Unauthorized(e("unauthorized", "sign in (or answer /discover) first"));
        };
        match state.discovery.signals.clear(&subject).await {
            Ok(()) => SignalResponse::Done,
            Err(err) => {
                tracing::error!(error = %err, "signals not cleared");
                SignalResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }
}

/// The "forget me" form is shown to whoever has something to forget: a signed-in buyer or a
/// visitor with a visitor cookie. It carries the same CSRF token as the answer form.
async fn has_history(state: &AppState, req: &Request) -> bool {
    subject_of(state, req).await.1.is_some()
}

/// `POST /discover/clear`: deletes the caller's signals and profile (CSRF-checked).
#[handler]
pub(crate) async fn clear_form(
    state: Data<&AppState>,
    req: &Request,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> Response {
    let (_, subject) = subject_of(&state, req).await;
    if let Some(s) = subject
        && let Err(err) = state.discovery.signals.clear(&s).await
    {
        tracing::error!(error = %err, "signals not cleared");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    poem::web::Redirect::see_other("/discover").into_response()
}
