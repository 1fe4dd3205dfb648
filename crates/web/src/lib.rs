//! # web — the HTTP adapter
//!
//! Everything a browser or an API client reaches, on poem:
//!
//! * HTML pages rendered on the server with compile-time-checked askama templates
//!   (`/marketplace`, `/marketplace/{slug}`), plain CSS, no JavaScript needed;
//! * the JSON API under `/api/v1` (poem-openapi), its document at `/api/openapi.json` and
//!   Swagger UI at `/api/docs`;
//! * `/healthz` and `/readyz`;
//! * security headers on every response.
//!
//! Layout: [`http`] is the layer every feature shares (who is calling, the one JSON error
//! shape, extractors, middleware, the OpenAPI document); `snapshot` the catalog every request
//! reads; then one folder per bounded context — `browse` (marketplace and catalog API),
//! `identity` (accounts, tokens, organisations), `access` (entitlements, download links,
//! library), `shop` (prices, checkout, billing), `discover` (recommendations). Features depend
//! on `http`, `snapshot` and `discover`, never on each other in a cycle; handlers extract, call
//! one application service, and map its error.

mod access;
mod browse;
mod discover;
pub mod http;
mod identity;
mod legal;
mod shop;
mod snapshot;

use std::sync::Arc;

use catalog::CatalogRepository;
use poem::http::{StatusCode, header};
use poem::web::Json;
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use poem_openapi::OpenApiService;

pub use http::access_cache::AccessCache;
pub use http::guard;
pub use shop::checkout;
pub use snapshot::cache::CatalogCache;
pub use snapshot::response_cache::ResponseCache;

/// How the shop is reached, from the settings: cookies, HTTPS, proxies, the page CSP.
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    /// Cookies are `Secure` and named with the `__Host-` prefix (the public URL is HTTPS, or
    /// `server.secure_cookies` says so).
    pub secure_cookies: bool,
    /// Served over HTTPS: send `Strict-Transport-Security`.
    pub https: bool,
    /// Base URL buyers reach the shop at (no trailing slash).
    pub public_url: Arc<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// The pages' Content-Security-Policy ([`guard::page_csp`]).
    pub csp: Arc<String>,
    /// Request counts and latencies (registered on the metrics endpoint by the server).
    pub metrics: Arc<http::metrics::HttpMetrics>,
    /// Set on SIGTERM: `/readyz` answers 503 and answers close their connections, so the
    /// proxy moves traffic away while this instance still serves.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl HttpPolicy {
    /// A policy for `public_url`: HTTPS (Secure `__Host-` cookies, HSTS) exactly when it is
    /// `https://`; forms may be redirected to `redirect_origins` (the payment provider's
    /// checkout and billing portal).
    #[must_use]
    pub fn new(
        public_url: &str,
        secure_cookies: bool,
        trusted_proxies: Vec<ipnet::IpNet>,
        redirect_origins: &[String],
    ) -> Self {
        Self {
            secure_cookies,
            https: public_url.starts_with("https://"),
            public_url: Arc::new(public_url.trim_end_matches('/').to_owned()),
            trusted_proxies: Arc::new(trusted_proxies),
            csp: Arc::new(guard::page_csp(redirect_origins)),
            metrics: Arc::new(http::metrics::HttpMetrics::default()),
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }
}

/// What every handler shares, grouped by bounded context.
#[derive(Clone)]
pub struct AppState {
    /// The catalog.
    pub catalog: CatalogPart,
    /// Accounts, sessions, tokens, organisations.
    pub identity: IdentityPart,
    /// Entitlements and downloads.
    pub access: AccessPart,
    /// Quotes, orders, checkout, refunds, the webhook inbox.
    pub shop: ShopPart,
    /// Recommendation profiles and signals.
    pub discovery: DiscoveryPart,
    /// Time.
    pub clock: Arc<dyn catalog::Clock>,
    /// Cookies, HTTPS, proxies, CSP.
    pub http: HttpPolicy,
    /// Who runs the shop (legal pages, footer, receipts).
    pub site: SiteInfo,
}

/// Who runs the shop, from the `[site]` settings: the legal pages are templates filled with it.
#[derive(Clone, Debug)]
pub struct SiteInfo {
    /// The seller's name.
    pub company_name: Arc<String>,
    /// Where buyers write for help.
    pub support_email: Arc<String>,
    /// Days a subscription keeps access after a failed renewal (`stripe.grace_days`).
    pub grace_days: i64,
}

impl SiteInfo {
    /// The seller `company_name`, reached at `support_email`; failed renewals keep access
    /// `grace_days`.
    #[must_use]
    pub fn new(company_name: &str, support_email: &str, grace_days: i64) -> Self {
        Self {
            company_name: Arc::new(company_name.trim().to_owned()),
            support_email: Arc::new(support_email.trim().to_owned()),
            grace_days,
        }
    }
}

/// The catalog as requests read it.
#[derive(Clone)]
pub struct CatalogPart {
    /// Catalog storage (for readiness).
    pub repo: Arc<dyn CatalogRepository>,
    /// Searchable catalog snapshot.
    pub cache: Arc<CatalogCache>,
    /// Rendered anonymous catalog responses, per catalog revision.
    pub responses: Arc<ResponseCache>,
}

/// Accounts, sessions, tokens, organisations.
#[derive(Clone)]
pub struct IdentityPart {
    /// Accounts and sessions.
    pub accounts: accounts::AccountService,
    /// Personal API tokens.
    pub tokens: Arc<dyn accounts::ports::TokenRepository>,
    /// Organisations.
    pub orgs: accounts::OrgService,
}

/// Who may access what, and the downloads.
#[derive(Clone)]
pub struct AccessPart {
    /// Entitlements.
    pub entitlements: Arc<dyn entitlements::ports::EntitlementRepository>,
    /// Archive storage (downloads).
    pub archives: Arc<dyn catalog::ArchiveStore>,
    /// Download record.
    pub downloads: Arc<dyn entitlements::ports::DownloadLog>,
    /// Signs and checks download links (the key is the same on every instance).
    pub links: entitlements::DownloadLinks,
    /// This instance's memory of sessions and holdings, trusted while the database's access
    /// feed is live (never on SQLite); see [`http::access_cache`].
    pub cache: Arc<http::access_cache::AccessCache>,
    /// Heartbeats on demand through the access feed (Postgres), for read-your-writes after a
    /// state-changing request; `None` without a feed.
    pub sync: Option<Arc<dyn entitlements::ports::AccessSync>>,
}

/// Buying.
#[derive(Clone)]
pub struct ShopPart {
    /// Quotes, orders and refunds.
    pub commerce: upgrades::service::Commerce,
    /// The checkout workflow over the payment provider (Stripe, or the local test mode).
    pub checkout: payments::checkout::CheckoutService,
    /// The local gateway, in local payment mode (its pages act on it).
    pub local: Option<Arc<payments_local::LocalGateway>>,
    /// The webhook inbox.
    pub inbox: Arc<dyn payments::ports::InboxRepository>,
    /// Webhook signing secrets (any verifies: rotation).
    pub webhook_secrets: Arc<Vec<String>>,
}

/// Recommendation profiles and signals.
#[derive(Clone)]
pub struct DiscoveryPart {
    /// Discovery profiles and signals.
    pub signals: Arc<dyn discovery::SignalRepository>,
    /// How long signals are kept, in days.
    pub retention_days: i64,
}

impl AppState {
    /// The payment provider.
    #[must_use]
    pub fn gateway(&self) -> &Arc<dyn payments::ports::PaymentGateway> {
        self.shop.checkout.gateway()
    }
}

/// At most this many characters of something a client sent are echoed in an error message.
pub const ECHO_CHARS: usize = 100;

/// `text` as an error message may echo it: its first [`ECHO_CHARS`] characters, with `…` when
/// cut.
#[must_use]
pub fn clip(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(ECHO_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[handler]
fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// How long `/readyz` waits for the database before it answers 503.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

#[handler]
async fn readyz(state: poem::web::Data<&AppState>) -> Response {
    let draining = state.http.draining.load(std::sync::atomic::Ordering::Relaxed);
    let reason = match tokio::time::timeout(READY_WITHIN, state.catalog.repo.ping()).await {
        _ if draining => "shutting down",
        Ok(Ok(())) => return Json(serde_json::json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            "database unreachable"
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            "database did not answer within 0.9 s"
        }
    };
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": "unavailable", "reason": reason })),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    resp
}

#[handler]
fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(include_str!("../static/app.css"))
}

/// The shop's icon (SVG; `/favicon.ico` serves the same for browsers that ask for it).
#[handler]
fn favicon() -> Response {
    Response::builder()
        .content_type("image/svg+xml")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(include_str!("../static/favicon.svg"))
}

/// Errors under `/api/` (unknown route, wrong method) as JSON.
async fn api_error(err: poem::Error) -> Response {
    if let Some(problem) = err.downcast_ref::<http::extract::ProblemError>() {
        return problem.response();
    }
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(error = %err, "API request failed");
    }
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_client_error() => "bad_request",
        _ => "internal_error",
    };
    (
        status,
        Json(serde_json::json!({ "error": code, "message": clip(&err.to_string()), "field": null, "parameter": null })),
    )
        .into_response()
}

/// The OpenAPI service (also used to write the document to a file).
#[must_use]
pub fn openapi_service() -> OpenApiService<
    (
        browse::keys_api::KeysApi,
        identity::signin::AuthApi,
        identity::reset::ResetApi,
        identity::signin::TokensApi,
        access::entitlements_api::EntitlementsApi,
        identity::orgs::OrgsApi,
        shop::prices::CommerceApi,
        shop::checkout::CheckoutApi,
        discover::DiscoveryApi,
    ),
    (),
> {
    OpenApiService::new(
        (
            browse::keys_api::KeysApi,
            identity::signin::AuthApi,
            identity::reset::ResetApi,
            identity::signin::TokensApi,
            access::entitlements_api::EntitlementsApi,
            identity::orgs::OrgsApi,
            shop::prices::CommerceApi,
            shop::checkout::CheckoutApi,
            discover::DiscoveryApi,
        ),
        "KEYS marketplace API",
        env!("CARGO_PKG_VERSION"),
    )
    .server("/api/v1")
}

/// The OpenAPI document (see `spec`).
#[must_use]
pub fn openapi_document() -> String {
    http::spec::document().to_owned()
}

#[handler]
fn openapi_json() -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(http::spec::document())
}

/// Every route, with middleware, ready to serve (boxed: the middleware stack is deep).
///
/// Every state-changing form route (a `post` below outside `/api/` and the webhook) takes a
/// `http::extract::CheckedForm` or `http::extract::SignedInForm`;
/// `tests/forms.rs` finds them in this function and posts each a forged token.
pub fn app(state: AppState) -> poem::endpoint::BoxEndpoint<'static> {
    use access::{library, links};
    use browse::pages;
    use identity::{org_pages, reset, signin};
    use shop::{checkout, pages as shop_pages};
    let api = openapi_service();
    let docs = api.swagger_ui();
    let api_routes = Route::new()
        .at("/v1/keys/:slug/download", poem::post(links::issue))
        .nest("/v1", api)
        .at("/openapi.json", get(openapi_json))
        .nest("/docs", docs)
        .catch_all_error(api_error);
    Route::new()
        .at("/", get(pages::home))
        .at("/marketplace", get(pages::marketplace))
        .at("/marketplace/bundles", get(shop_pages::bundles_page))
        .at("/marketplace/:slug", get(pages::key_page))
        .at("/pricing", get(shop_pages::pricing_page))
        .at("/discover", get(discover::discover_page).post(discover::discover_post))
        .at("/discover/clear", poem::post(discover::clear_form))
        .at("/account/billing", get(shop_pages::billing_page))
        .at("/signup", get(signin::signup_page).post(signin::signup_post))
        .at("/login", get(signin::login_page).post(signin::login_post))
        .at("/forgot", get(reset::forgot_page).post(reset::forgot_post))
        .at("/reset/:token", get(reset::reset_page).post(reset::reset_post))
        .at("/verify/:token", get(reset::verify_page))
        .at("/account/verify-email", poem::post(signin::resend_verification_post))
        .at("/logout", poem::post(signin::logout_post))
        .at("/account", get(signin::account_page))
        .at("/account/password", poem::post(signin::password_post))
        .at("/account/sessions/end", poem::post(signin::end_sessions_post))
        .at("/account/keys", get(library::account_keys))
        .at("/account/orgs", get(org_pages::orgs_page).post(org_pages::create_post))
        .at("/account/orgs/:id", get(org_pages::org_page))
        .at("/account/orgs/:id/invites", poem::post(org_pages::invite_post))
        .at(
            "/account/orgs/:id/invites/:invite/revoke",
            poem::post(org_pages::revoke_invite_post),
        )
        .at(
            "/account/orgs/:id/members/:account/remove",
            poem::post(org_pages::remove_post),
        )
        .at("/account/orgs/:id/leave", poem::post(org_pages::leave_post))
        .at("/join/:token", get(org_pages::join_page).post(org_pages::join_post))
        .at("/marketplace/:slug/download", poem::post(library::download_form))
        .at("/dl/:account/:slug/:version/:expires/:sig", get(links::serve))
        .at("/webhooks/stripe", poem::post(checkout::webhook))
        .at("/checkout", poem::post(checkout::buy_form))
        .at("/checkout/return", get(checkout::return_page))
        .at("/checkout/restart", poem::post(checkout::restart_post))
        .at("/checkout/resume", poem::post(checkout::resume_post))
        .at("/checkout/review", get(checkout::review_page))
        .at(
            "/pay/local/portal",
            get(checkout::local_portal).post(checkout::local_portal_post),
        )
        .at(
            "/pay/local/:session",
            get(checkout::local_pay_page).post(checkout::local_pay_post),
        )
        .at("/account/billing/portal", poem::post(checkout::billing_portal))
        .at("/static/app.css", get(stylesheet))
        .at("/favicon.svg", get(favicon))
        .at("/favicon.ico", get(favicon))
        .at("/terms", get(legal::terms))
        .at("/privacy", get(legal::privacy))
        .at("/refunds", get(legal::refunds))
        .at("/license", get(legal::license))
        .at("/support", get(legal::support))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .nest("/api", api_routes)
        .catch_all_error(http::page::not_found)
        .around(snapshot::response_cache::cached)
        .around(http::access_cache::settle)
        .around(guard::api_guard)
        .around(http::outage::fail_honestly)
        // Boxed halfway: the middleware types nest too deep for the compiler otherwise.
        .boxed()
        .around(guard::limit_body)
        .around(guard::response_headers)
        .around(guard::access_log)
        .data(state)
        .boxed()
}
