//! Buying: `POST /api/v1/checkout` and the Buy forms, cancelling a pending checkout,
//! Stripe's webhooks in (`POST /webhooks/stripe` → verified → inbox), the checkout return page,
//! the billing portal, and the local payment mode (a test-mode checkout page that emits
//! Stripe-format, signed events into the same intake). Every workflow is
//! `payments::checkout::CheckoutService`'s; the handlers extract, call it and map the error.

use askama::Template;
use entitlements::Holder;
use payments::checkout::{CheckoutError, Started, page_of};
use payments::intake::{WebhookError, receive};
use payments::ports::GatewayError;
use payments_local::{LocalError, LocalGateway};
use poem::http::StatusCode;
use poem::web::{Data, Path, Query, Redirect};
use poem::{Body, IntoResponse, Request, Response, handler};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Deserialize;
use upgrades::ports::{Order, OrderStatus};
use upgrades::service::QuoteRequestError;
use upgrades::{PurchaseId, QuoteError, Sku};

use crate::AppState;
use crate::http::extract::{CsrfOnly, HasCsrf, PageSession, SignedIn, SignedInForm};
use crate::http::page::{error_page, error_page_with_link, render};
use crate::http::problem::{Problem, e};
use crate::shop::prices::{buyer_holder, parse_org, parse_sku};

pub use crate::http::guard::MAX_WEBHOOK_BYTES;

/// `POST /webhooks/stripe`.
#[handler]
pub(crate) async fn webhook(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let bytes = match body.into_bytes_limit(MAX_WEBHOOK_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                poem::web::Json(serde_json::json!({"error": "bad_request", "message": format!("body is unreadable or over {MAX_WEBHOOK_BYTES} bytes")})),
            )
                .into_response();
        }
    };
    let header = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    match receive(
        state.shop.inbox.as_ref(),
        &state.shop.webhook_secrets,
        state.clock.now(),
        &bytes,
        header,
    )
    .await
    {
        Ok(fresh) => poem::web::Json(serde_json::json!({"received": true, "duplicate": !fresh})).into_response(),
        Err(WebhookError::Store(err)) => {
            tracing::error!(error = %err, "webhook could not be stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                poem::web::Json(serde_json::json!({"error": "unavailable", "message": "try again"})),
            )
                .into_response()
        }
        Err(err) => {
            tracing::warn!(error = %err, "webhook refused");
            (
                StatusCode::BAD_REQUEST,
                poem::web::Json(serde_json::json!({"error": "bad_request", "message": err.to_string()})),
            )
                .into_response()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checkout
// ---------------------------------------------------------------------------------------------

/// Why a checkout could not start: (status, error code, message).
type CheckoutFailure = (StatusCode, &'static str, String);

/// What a started checkout returns.
#[derive(Object, Clone)]
pub(crate) struct CheckoutStarted {
    /// Where to send the buyer (Stripe Checkout, the local test page, or — for a free upgrade —
    /// the return page directly).
    checkout_url: String,
    /// The Checkout Session (null for a free upgrade).
    #[oai(nullable)]
    session_id: Option<String>,
    /// Our order id.
    order_id: i64,
}

impl From<Started> for CheckoutStarted {
    fn from(s: Started) -> Self {
        Self {
            checkout_url: s.checkout_url,
            session_id: s.session_id,
            order_id: s.order_id.0,
        }
    }
}

/// Checkout request.
#[derive(Object, Deserialize)]
pub(crate) struct CheckoutBody {
    /// What to buy: `key:<slug>`, `bundle:<slug>` or `plan:<tier>:<monthly|annual>`.
    #[oai(validator(
        max_length = 120,
        pattern = r"^(key|bundle):[a-z0-9][a-z0-9-]{0,63}$|^plan:(starter|operator|scale|enterprise):(monthly|annual)$"
    ))]
    sku: crate::http::text::Text,
    /// Buy for this organisation (you must be its owner or an admin).
    #[oai(nullable)]
    org: Option<i64>,
}

/// The HTTP answer for a checkout error.
pub(crate) fn checkout_failure(err: CheckoutError) -> CheckoutFailure {
    match err {
        CheckoutError::Quote(QuoteRequestError::Resolve(r)) => (StatusCode::NOT_FOUND, "not_found", r.to_string()),
        CheckoutError::Quote(QuoteRequestError::Quote(
            q @ (QuoteError::AlreadyOwned { .. } | QuoteError::NotAnUpgrade { .. }),
        )) => (StatusCode::CONFLICT, "conflict", q.to_string()),
        // Sellable, but not to this holder (Enterprise is for organisations, …).
        CheckoutError::Quote(QuoteRequestError::Quote(q)) => (StatusCode::CONFLICT, "conflict", q.to_string()),
        e @ (CheckoutError::CreditTaken | CheckoutError::InProgress(_) | CheckoutError::NotPending(_)) => {
            (StatusCode::CONFLICT, "conflict", e.to_string())
        }
        e @ CheckoutError::NoSuchSubscription(_) => (StatusCode::NOT_FOUND, "not_found", e.to_string()),
        CheckoutError::Gateway(g @ GatewayError::CatalogOutOfSync { .. }) => {
            tracing::error!(error = %g, "payment catalog out of date");
            (StatusCode::SERVICE_UNAVAILABLE, "payment_provider", g.to_string())
        }
        CheckoutError::Gateway(g) => {
            tracing::error!(error = %g, "payment provider failed");
            (StatusCode::BAD_GATEWAY, "payment_provider", g.to_string())
        }
        e @ (CheckoutError::Quote(QuoteRequestError::Store(_)) | CheckoutError::Store(_)) => {
            tracing::error!(error = %e, "checkout could not start");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "try again shortly".into(),
            )
        }
    }
}

/// Opens a checkout for `account` (for `org` when given): resolves who buys, then calls the
/// checkout service.
pub(crate) async fn start_checkout(
    state: &AppState,
    account: accounts::ports::AccountId,
    sku_text: &str,
    org: Option<i64>,
) -> Result<CheckoutStarted, CheckoutFailure> {
    may_buy(state, account).await?;
    let sku = parse_sku(Some(sku_text)).map_err(|p| match p {
        crate::shop::prices::SkuProblem::Unknown(m) => (StatusCode::NOT_FOUND, "not_found", m),
        crate::shop::prices::SkuProblem::Malformed(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
    })?;
    let holder = buyer_holder(state, account, org).await.map_err(|(k, m)| match k {
        "forbidden" => (StatusCode::FORBIDDEN, "forbidden", m),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
    })?;
    let offers = state.catalog.cache.offers();
    let Some(offers) = offers.as_ref() else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "nothing is priced yet: run `keys-ingest`".into(),
        ));
    };
    let email = state
        .identity
        .accounts
        .email_of(account)
        .await
        .ok()
        .flatten()
        .map(|e| e.to_string())
        .unwrap_or_default();
    state
        .shop
        .checkout
        .start(holder, account, &email, &sku, offers, state.clock.now())
        .await
        .map(Into::into)
        .map_err(checkout_failure)
}

#[derive(Tags)]
enum CheckoutTags {
    /// Buying.
    Checkout,
}

#[derive(ApiResponse)]
pub(crate) enum CheckoutResponse {
    /// The checkout is open: send the buyer to `checkout_url`.
    #[oai(status = 200)]
    Ok(Json<CheckoutStarted>),
    /// The SKU is malformed or cannot be sold to this holder.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// `org` names an organisation the caller is not an owner or admin of, or the caller's
    /// email is not confirmed yet (`error`: `email_unconfirmed`).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No KEY or bundle by that slug.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Already owned, not an upgrade of the current plan, or a payment for it is in progress.
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    /// The payment provider failed.
    #[oai(status = 502)]
    BadGateway(Json<Problem>),
    /// Storage failed, nothing is priced, or the payment catalog is out of date.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

/// Buying needs a confirmed email (receipts and password resets must reach the buyer).
const UNCONFIRMED: &str = "confirm your email address first: open the link mailed to you at sign-up, or ask for a new one on your account page (/account)";

/// Whether `account` may buy: its email is confirmed.
async fn may_buy(state: &AppState, account: accounts::ports::AccountId) -> Result<(), CheckoutFailure> {
    match state.identity.accounts.email_confirmed(account).await {
        Ok(true) => Ok(()),
        Ok(false) => Err((StatusCode::FORBIDDEN, "email_unconfirmed", UNCONFIRMED.to_owned())),
        Err(err) => {
            tracing::error!(error = %err, "email confirmation lookup failed");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "accounts are unavailable; try again shortly".to_owned(),
            ))
        }
    }
}

fn checkout_response(status: StatusCode, code: &str, message: String) -> CheckoutResponse {
    match status {
        StatusCode::BAD_REQUEST => CheckoutResponse::BadRequest(e(code, message)),
        StatusCode::UNAUTHORIZED => CheckoutResponse::Unauthorized(e(code, message)),
        StatusCode::FORBIDDEN => CheckoutResponse::Forbidden(e(code, message)),
        StatusCode::NOT_FOUND => CheckoutResponse::NotFound(e(code, message)),
        StatusCode::CONFLICT => CheckoutResponse::Conflict(e(code, message)),
        StatusCode::BAD_GATEWAY => CheckoutResponse::BadGateway(e(code, message)),
        _ => CheckoutResponse::Unavailable(e(code, message)),
    }
}

#[derive(ApiResponse)]
pub(crate) enum SubscriptionChangeResponse {
    /// The subscription now.
    #[oai(status = 200)]
    Ok(Json<crate::shop::prices::SubscriptionInfo>),
    /// `org` is malformed.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// `org` names an organisation the caller does not manage.
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No live subscription by that id for this holder.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// The payment provider failed: nothing changed.
    #[oai(status = 502)]
    BadGateway(Json<Problem>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

/// Cancels (at the end of the paid period) or resumes `id` for the caller or `org`.
async fn cancel_or_resume(
    state: &AppState,
    account: accounts::ports::AccountId,
    id: &str,
    org: Option<&str>,
    cancel: bool,
) -> SubscriptionChangeResponse {
    let org = match crate::shop::prices::parse_api_org(org) {
        Ok(o) => o,
        Err(m) => return SubscriptionChangeResponse::BadRequest(e("bad_request", m)),
    };
    let holder = match crate::shop::prices::buyer_holder(state, account, org).await {
        Ok(h) => h,
        Err(("forbidden", m)) => return SubscriptionChangeResponse::Forbidden(e("forbidden", m)),
        Err((k, m)) => return SubscriptionChangeResponse::Unavailable(e(k, m)),
    };
    let now = state.clock.now();
    if let Err(err) = state
        .shop
        .checkout
        .set_cancel_at_period_end(holder, id, cancel, now)
        .await
    {
        let (status, code, message) = checkout_failure(err);
        return match status {
            StatusCode::NOT_FOUND => SubscriptionChangeResponse::NotFound(e(code, message)),
            StatusCode::BAD_GATEWAY => SubscriptionChangeResponse::BadGateway(e(code, message)),
            _ => SubscriptionChangeResponse::Unavailable(e(code, message)),
        };
    }
    match state.shop.commerce.live_subscription(holder, now).await {
        Ok(Some(s)) => SubscriptionChangeResponse::Ok(Json(crate::shop::prices::subscription_info(s, holder))),
        Ok(None) => SubscriptionChangeResponse::NotFound(e("not_found", format!("no live subscription `{id}`"))),
        Err(err) => {
            tracing::error!(error = %err, "subscription lookup failed");
            SubscriptionChangeResponse::Unavailable(e("unavailable", "try again shortly"))
        }
    }
}

/// Checkout endpoints.
pub struct CheckoutApi;

#[OpenApi]
impl CheckoutApi {
    /// Start buying a SKU: a pending order with the quote's credit reserved and a Checkout
    /// Session charging exactly the quote's amount due (credit applied as a one-off discount).
    /// A fully credited upgrade is granted at once without payment. An earlier open checkout
    /// for the same SKU is closed first — never one whose payment started (409 then).
    #[oai(path = "/checkout", method = "post", tag = "CheckoutTags::Checkout")]
    async fn checkout(&self, state: Data<&AppState>, caller: SignedIn, body: Json<CheckoutBody>) -> CheckoutResponse {
        match start_checkout(&state, caller.account(), &body.sku, body.org).await {
            Ok(started) => CheckoutResponse::Ok(Json(started)),
            Err((status, code, message)) => checkout_response(status, code, message),
        }
    }

    /// Cancel your live subscription (or, with `org=`, an organisation's you own or administer)
    /// at the end of its paid period: access continues until then, nothing is refunded, and it
    /// does not renew. Undo it with `…/resume` before then.
    #[oai(
        path = "/me/subscriptions/:id/cancel",
        method = "post",
        tag = "CheckoutTags::Checkout"
    )]
    async fn cancel_subscription(
        &self,
        state: Data<&AppState>,
        caller: SignedIn,
        /// The subscription id from `GET /api/v1/me/subscriptions`.
        #[oai(validator(max_length = 255))]
        id: poem_openapi::param::Path<String>,
        /// An organisation's subscription (the document says integer).
        #[oai(validator(max_length = 20))]
        org: poem_openapi::param::Query<Option<String>>,
    ) -> SubscriptionChangeResponse {
        cancel_or_resume(&state, caller.account(), &id.0, org.0.as_deref(), true).await
    }

    /// Resume a subscription cancelled for the end of its period, before that end: it renews
    /// again.
    #[oai(
        path = "/me/subscriptions/:id/resume",
        method = "post",
        tag = "CheckoutTags::Checkout"
    )]
    async fn resume_subscription(
        &self,
        state: Data<&AppState>,
        caller: SignedIn,
        /// The subscription id from `GET /api/v1/me/subscriptions`.
        #[oai(validator(max_length = 255))]
        id: poem_openapi::param::Path<String>,
        /// An organisation's subscription (the document says integer).
        #[oai(validator(max_length = 20))]
        org: poem_openapi::param::Query<Option<String>>,
    ) -> SubscriptionChangeResponse {
        cancel_or_resume(&state, caller.account(), &id.0, org.0.as_deref(), false).await
    }

    /// Cancel a pending checkout of yours (or of an organisation you own or administer),
    /// releasing the credit it reserved. A checkout whose payment started is never cancelled
    /// (409).
    #[oai(path = "/me/orders/:id/cancel", method = "post", tag = "CheckoutTags::Checkout")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        caller: SignedIn,
        id: poem_openapi::param::Path<i64>,
    ) -> CheckoutResponse {
        let account = caller.account();
        let order = match state.shop.commerce.order(PurchaseId(id.0)).await {
            Ok(Some(o)) if may_manage(&state, account, &o).await => o,
            Ok(_) => {
                return CheckoutResponse::NotFound(e("not_found", format!("you have no order {}", id.0)));
            }
            Err(err) => {
                tracing::error!(error = %err, "order lookup failed");
                return CheckoutResponse::Unavailable(e("unavailable", "try again shortly"));
            }
        };
        match state.shop.checkout.cancel(&order).await {
            Ok(()) => CheckoutResponse::Ok(Json(CheckoutStarted {
                checkout_url: page_of(&order.sku),
                session_id: order.refs.checkout_session.clone(),
                order_id: order.id.0,
            })),
            Err(err) => {
                let (status, code, message) = checkout_failure(err);
                checkout_response(status, code, message)
            }
        }
    }
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    sku: String,
    org: Option<i64>,
    what: String,
    kind: &'static str,
    lines: Vec<(String, String, String)>,
    amount_now: String,
    free: bool,
    terms: String,
    back: String,
    csrf: String,
}

/// `?sku=&org=` of the review page.
#[derive(Debug, Deserialize)]
pub(crate) struct ReviewQuery {
    sku: String,
    #[serde(default)]
    org: Option<String>,
}

/// `GET /checkout/review`: the last step before paying — what is bought (by name), every line
/// of the quote, the amount charged now (also when it is $0.00) and what happens next (a
/// one-time purchase, or when and at what price a plan renews, or how a plan change takes
/// effect). Confirming posts the checkout.
#[handler]
pub(crate) async fn review_page(
    state: Data<&AppState>,
    PageSession(session): PageSession,
    poem::web::Query(q): poem::web::Query<ReviewQuery>,
) -> Response {
    let fail = |status, message: String| error_page(status, "This purchase cannot be reviewed", &message);
    let sku = match parse_sku(Some(&q.sku)) {
        Ok(s) => s,
        Err(crate::shop::prices::SkuProblem::Unknown(m)) => return fail(StatusCode::NOT_FOUND, m),
        Err(crate::shop::prices::SkuProblem::Malformed(m)) => return fail(StatusCode::BAD_REQUEST, m),
    };
    let org = match parse_org(q.org.as_deref()) {
        Ok(o) => o,
        Err(m) => return fail(StatusCode::BAD_REQUEST, m),
    };
    let holder = match crate::shop::prices::buyer_holder(&state, session.account, org).await {
        Ok(h) => h,
        Err(("forbidden", m)) => return fail(StatusCode::FORBIDDEN, m),
        Err((_, m)) => return fail(StatusCode::SERVICE_UNAVAILABLE, m),
    };
    if let Err((status, _, _)) = may_buy(&state, session.account).await {
        return error_page(
            status,
            "Confirm your email first",
            "Buying needs a confirmed email address, so that your receipt and any password reset reach you. Open the link we mailed you at sign-up, or ask for a new one on your account page (/account).",
        );
    }
    let now = state.clock.now();
    // A downgrade (or annual → monthly) of a live plan is scheduled, not charged: its review
    // says from when.
    if let Sku::Plan { tier: to, interval } = &sku
        && let Ok(Some(live)) = state.shop.commerce.live_subscription(holder, now).await
        && upgrades::plan_move((live.tier, live.interval), (*to, *interval)) == upgrades::PlanMove::Downgrade
    {
        let offers = state.catalog.cache.offers();
        let price = offers
            .as_ref()
            .as_ref()
            .map(|o| o.plan_price(*to, *interval).to_string())
            .unwrap_or_default();
        let from = live
            .current_period_end
            .map(|t| t.date_naive().to_string())
            .unwrap_or_default();
        let name = format!(
            "{} plan, billed {}",
            crate::shop::prices::capitalise(to.as_str()),
            upgrades::interval_as_str(*interval)
        );
        return render(&ReviewPage {
            sku: sku.to_string(),
            org,
            what: name.clone(),
            kind: "plan",
            lines: Vec::new(),
            amount_now: pricing::Money::zero(live.order.cash_paid.currency()).to_string(),
            free: true,
            terms: format!(
                "Scheduled, not charged: your {} plan stays until the end of the period you paid for, {from}; \
                 from then on it becomes the {name} at {price}.",
                crate::shop::prices::capitalise(live.tier.as_str()),
            ),
            back: page_of(&sku),
            csrf: session.csrf_token,
        });
    }
    let quote = match crate::shop::prices::quote_for(&state, Some(holder), &sku).await {
        Ok(q) => q,
        Err(("not_found", m)) => return fail(StatusCode::NOT_FOUND, m),
        Err(("conflict" | "bad_request", m)) => return fail(StatusCode::CONFLICT, m),
        Err((_, m)) => return fail(StatusCode::SERVICE_UNAVAILABLE, m),
    };
    let offers = state.catalog.cache.offers();
    let (what, kind, terms) = match &sku {
        Sku::Key(_) => (
            crate::http::page::product_name(&state, &sku),
            "key",
            "One payment, nothing recurring: the KEY is yours to keep, with every version released later.".to_owned(),
        ),
        Sku::Bundle(_) => (
            crate::http::page::product_name(&state, &sku),
            "bundle",
            "One payment, nothing recurring: every KEY of the bundle is yours to keep, with every version released later.".to_owned(),
        ),
        Sku::Plan { tier, interval } => {
            let price = offers
                .as_ref()
                .as_ref()
                .map(|o| o.plan_price(*tier, *interval).to_string())
                .unwrap_or_default();
            let next = upgrades::service::period_end(now, *interval).date_naive();
            let every = match interval {
                pricing::Interval::Monthly => "month",
                pricing::Interval::Annual => "year",
            };
            let live = state.shop.commerce.live_subscription(holder, now).await.ok().flatten();
            let terms = match live {
                Some(current) => format!(
                    "This changes your current {} plan now (never a second subscription): you pay {} today, your \
                     paid period restarts today, and it renews on {next} at {price} every {every} until you cancel.",
                    crate::shop::prices::capitalise(current.tier.as_str()),
                    quote.amount_due
                ),
                None => format!(
                    "A subscription: {} today, then {price} every {every} from {next} until you cancel. \
                     Cancelling keeps access until the end of the period you paid for.",
                    quote.amount_due
                ),
            };
            (crate::http::page::product_name(&state, &sku), "plan", terms)
        }
    };
    let view = crate::shop::pages::quote_view(&state, &quote);
    render(&ReviewPage {
        sku: sku.to_string(),
        org,
        what,
        kind,
        lines: view.lines,
        amount_now: quote.amount_due.to_string(),
        free: quote.amount_due.minor() == 0,
        terms,
        back: page_of(&sku),
        csrf: session.csrf_token,
    })
}

/// The Buy forms' body. Without `confirm=1` it leads to the review page; the review page's
/// form confirms.
#[derive(Debug, Deserialize)]
pub(crate) struct BuyForm {
    csrf: String,
    sku: String,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

impl HasCsrf for BuyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /checkout` (the Buy buttons): first 303 to the review page (what is bought, the amount
/// now, the renewal terms); its confirmation (`confirm=1`) then 303 to the checkout. An `org`
/// that is not an organisation id is a 400, never a purchase for yourself.
#[handler]
pub(crate) async fn buy_form(state: Data<&AppState>, SignedInForm(session, f): SignedInForm<BuyForm>) -> Response {
    let org = match parse_org(f.org.as_deref()) {
        Ok(o) => o,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, "This purchase could not start", &message),
    };
    if f.confirm.as_deref() != Some("1") {
        if let Err(p) = parse_sku(Some(&f.sku)) {
            let message = match p {
                crate::shop::prices::SkuProblem::Unknown(m) | crate::shop::prices::SkuProblem::Malformed(m) => m,
            };
            return error_page(StatusCode::BAD_REQUEST, "This purchase could not start", &message);
        }
        // The SKU parsed: only `[a-z0-9:-]`, safe in a query string as it is.
        let org_part = org.map(|o| format!("&org={o}")).unwrap_or_default();
        return Redirect::see_other(format!("/checkout/review?sku={}{org_part}", f.sku.trim())).into_response();
    }
    match start_checkout(&state, session.account, &f.sku, org).await {
        Ok(started) => Redirect::see_other(started.checkout_url).into_response(),
        Err((status, _, message)) => error_page(status, "This purchase could not start", &message),
    }
}

/// May `account` see (and act on) this order? Its buyer; for an organisation's order, also
/// the organisation's current owners and admins (plain members may not see its checkouts).
async fn may_manage(state: &AppState, account: accounts::ports::AccountId, order: &Order) -> bool {
    match order.holder {
        Holder::User(u) => u.0 == account.0,
        Holder::Organisation(o) => {
            order.buyer.0 == account.0 || state.identity.orgs.manager_role(o, account).await.is_ok()
        }
    }
}

#[derive(Template)]
#[template(path = "checkout_return.html")]
struct ReturnPage {
    order_id: i64,
    what: String,
    status: String,
    paid: bool,
    /// Waiting for the confirmation, and still within the time it normally takes: refresh.
    waiting: bool,
    /// Not paid and no longer worth waiting for (or left by the buyer): offer a way on.
    stuck: bool,
    cancelled_by_buyer: bool,
    /// Still pending with a provider checkout: the buyer may go back to its payment page.
    resumable: bool,
    amount: String,
    back: String,
    test_mode: bool,
    /// `(slug, current version)` of a KEY order, for its download button.
    download: Option<(String, String)>,
    csrf: String,
}

/// `?order=` (and `&cancelled=1` when the buyer left the payment page).
#[derive(Debug, Deserialize)]
pub(crate) struct OrderQuery {
    order: i64,
    #[serde(default)]
    cancelled: Option<String>,
}

/// How long the return page waits (refreshing) for a payment confirmation before it offers to
/// start again. Stripe confirms in seconds; after this the webhook is late or the buyer left.
const CONFIRMATION_WAIT_SECS: i64 = 120;

/// Order `id`, when `account` may manage it (its buyer, or an owner or admin of the
/// organisation it is for); otherwise the page to answer with (404 for someone else's order,
/// 503 when storage fails).
async fn your_order(state: &AppState, account: accounts::ports::AccountId, id: i64) -> Result<Order, Response> {
    match state.shop.commerce.order(PurchaseId(id)).await {
        Ok(Some(o)) if may_manage(state, account, &o).await => Ok(o),
        Ok(_) => Err(error_page(
            StatusCode::NOT_FOUND,
            "No such order",
            "This order does not exist or is not yours.",
        )),
        Err(err) => {
            tracing::error!(error = %err, "order lookup failed");
            Err(error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Orders are unavailable",
                "We could not look up this order just now. Try again in a minute.",
            ))
        }
    }
}

/// `GET /checkout/return?order=…`: the order's state. Paid: thanks, and the download. Waiting:
/// refreshes by itself for a while, and fulfils from the Checkout Session itself when the
/// webhook has not arrived yet (only a session paid for exactly the order's amount). Left at
/// the payment page (`&cancelled=1`) or never confirmed: says so, and offers to start again.
#[handler]
pub(crate) async fn return_page(
    state: Data<&AppState>,
    PageSession(session): PageSession,
    Query(q): Query<OrderQuery>,
) -> Response {
    let mut order = match your_order(&state, session.account, q.order).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    match state.shop.checkout.reconcile(order.clone(), state.clock.now()).await {
        Ok(o) => order = o,
        Err(err) => tracing::warn!(error = %err, "fulfilment from the return page failed"),
    }
    let paid = order.was_paid() && order.status != OrderStatus::Refunded;
    if paid && let Sku::Key(slug) = &order.sku {
        crate::discover::record(
            &state,
            &discovery::Subject::User(session.account.0),
            discovery::SignalKind::Purchase(slug.clone()),
        )
        .await;
    }
    let cancelled_by_buyer = q.cancelled.is_some() && !paid;
    let pending = order.status == OrderStatus::Pending;
    let fresh = (state.clock.now() - order.created_at).num_seconds() < CONFIRMATION_WAIT_SECS;
    let waiting = pending && fresh && !cancelled_by_buyer;
    let resumable = pending && !waiting && order.refs.checkout_session.is_some();
    let download = match &order.sku {
        Sku::Key(slug) if paid => state
            .catalog
            .cache
            .snapshot()
            .get(slug.as_str())
            .and_then(|k| k.current().map(|v| (slug.to_string(), v.version.to_string()))),
        _ => None,
    };
    let page = ReturnPage {
        order_id: order.id.0,
        what: crate::http::page::product_name(&state, &order.sku),
        status: order.status.as_str().replace('_', " "),
        paid,
        waiting,
        stuck: !paid && !waiting && (pending || order.status == OrderStatus::Cancelled),
        cancelled_by_buyer,
        resumable,
        amount: order.amount_due.to_string(),
        back: page_of(&order.sku),
        test_mode: state.gateway().is_test_mode(),
        download,
        csrf: session.csrf_token,
    };
    render(&page)
}

/// The "start again" form of the return page.
#[derive(Debug, Deserialize)]
pub(crate) struct RestartForm {
    csrf: String,
    /// Missing: no order (a 404 once the token checks out).
    #[serde(default)]
    order: i64,
}

impl HasCsrf for RestartForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /checkout/restart`: gives up an unpaid checkout (closing it at the provider, so it
/// can never be paid later) and goes back to the review page of the same purchase. A
/// checkout whose payment already started is not touched: the page says to wait.
#[handler]
pub(crate) async fn restart_post(
    state: Data<&AppState>,
    SignedInForm(session, f): SignedInForm<RestartForm>,
) -> Response {
    let order = match your_order(&state, session.account, f.order).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    if order.status == OrderStatus::Pending {
        match state.shop.checkout.cancel(&order).await {
            Ok(()) | Err(CheckoutError::NotPending(_)) => {}
            Err(CheckoutError::InProgress(_)) => {
                return error_page(
                    StatusCode::CONFLICT,
                    "Your payment is being processed",
                    "The payment for this order has started, so it cannot be replaced. Wait a minute, then open the order again.",
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "closing a checkout failed");
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Payments are unavailable",
                    "We could not reach the payment provider. Try again in a minute.",
                );
            }
        }
    }
    if order.was_paid() {
        return Redirect::see_other(format!("/checkout/return?order={}", order.id.0)).into_response();
    }
    let org = match order.holder {
        Holder::Organisation(o) => format!("&org={}", o.0),
        Holder::User(_) => String::new(),
    };
    Redirect::see_other(format!("/checkout/review?sku={}{org}", order.sku)).into_response()
}

/// `POST /checkout/resume`: back to the payment page of an unpaid checkout, while the provider
/// still takes a payment there (asked now, never remembered from the browser); once it has
/// closed, a page that says so and offers to start again.
#[handler]
pub(crate) async fn resume_post(
    state: Data<&AppState>,
    SignedInForm(session, f): SignedInForm<RestartForm>,
) -> Response {
    let order = match your_order(&state, session.account, f.order).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let back = format!("/checkout/return?order={}", order.id.0);
    match state.shop.checkout.resume(&order).await {
        Ok(Some(url)) => Redirect::see_other(url).into_response(),
        Ok(None) => error_page_with_link(
            StatusCode::GONE,
            "This payment page has closed",
            "Nothing was charged. Open the order to start again with the current price.",
            &back,
            "Open the order",
        ),
        Err(CheckoutError::NotPending(_)) => Redirect::see_other(back).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "looking up a checkout to resume failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Payments are unavailable",
                "We could not reach the payment provider. Try again in a minute.",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "local_pay.html")]
struct LocalPayPage {
    session_id: String,
    order_id: i64,
    sku: String,
    explanation: String,
    amount: String,
    csrf: String,
}

fn local_off() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "Local payments are off: this shop uses Stripe.",
    )
}

/// `GET /pay/local/{session}`: the local test-mode checkout page.
#[handler]
pub(crate) async fn local_pay_page(
    state: Data<&AppState>,
    PageSession(session): PageSession,
    Path(id): Path<String>,
) -> Response {
    let Some(local) = state.shop.local.as_ref() else {
        return local_off();
    };
    let order = match local_order(&state, local, session.account, &id).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    render(&LocalPayPage {
        session_id: id,
        order_id: order.id.0,
        sku: crate::http::page::product_name(&state, &order.sku),
        explanation: order.explanation.clone(),
        amount: order.amount_due.to_string(),
        csrf: session.csrf_token,
    })
}

async fn local_order(
    state: &AppState,
    local: &LocalGateway,
    account: accounts::ports::AccountId,
    id: &str,
) -> Result<Order, Response> {
    match local.order_of_session(id).await {
        Ok(Some(o)) if may_manage(state, account, &o).await => match local.payable(&o) {
            Ok(()) => Ok(o),
            Err(err) => Err(local_failure(&err)),
        },
        Ok(_) => Err(error_page(
            StatusCode::NOT_FOUND,
            "No such checkout",
            "This checkout does not exist or is not yours.",
        )),
        Err(err) => {
            tracing::error!(error = %err, "order lookup failed");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

/// The page for a local action that failed.
fn local_failure(err: &LocalError) -> Response {
    match err {
        LocalError::Closed => error_page(
            StatusCode::GONE,
            "This checkout has closed",
            "It was cancelled, already being paid, or left unfinished for a day. Start again from the KEY's page: the price and any credit are worked out afresh.",
        ),
        LocalError::Paid => error_page(
            StatusCode::GONE,
            "This checkout is already paid",
            "Find what you bought under Your KEYS (/account/keys).",
        ),
        LocalError::Store(_) | LocalError::Intake(_) => {
            tracing::error!(error = %err, "local payment failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Payment failed",
                "Try again in a moment.",
            )
        }
    }
}

/// The local checkout page's form.
#[derive(Debug, Deserialize)]
pub(crate) struct LocalPayForm {
    csrf: String,
    action: String,
}

impl HasCsrf for LocalPayForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /pay/local/{session}`: pay (or cancel) in test mode — emits the events Stripe would.
#[handler]
pub(crate) async fn local_pay_post(
    state: Data<&AppState>,
    Path(id): Path<String>,
    SignedInForm(session, f): SignedInForm<LocalPayForm>,
) -> Response {
    let Some(local) = state.shop.local.as_ref() else {
        return local_off();
    };
    let order = match local_order(&state, local, session.account, &id).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let done = if f.action == "cancel" {
        local.cancel_checkout(&id, &order).await
    } else {
        local.pay(&id, &order).await
    };
    match done {
        Ok(to) => Redirect::see_other(to).into_response(),
        Err(err) => local_failure(&err),
    }
}

/// `POST /account/billing/portal`: the payment provider's billing portal for the buyer.
#[handler]
pub(crate) async fn billing_portal(
    state: Data<&AppState>,
    SignedInForm(session, _): SignedInForm<CsrfOnly>,
) -> Response {
    let holder = Holder::User(session.account);
    match state.shop.checkout.billing_portal(holder, "/account/billing").await {
        Ok(Some(url)) => Redirect::see_other(url).into_response(),
        Ok(None) => error_page(StatusCode::NOT_FOUND, "Nothing to manage", "You have no payments yet."),
        Err(CheckoutError::Gateway(err)) => error_page(
            StatusCode::BAD_GATEWAY,
            "The billing portal is unavailable",
            &err.to_string(),
        ),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Template)]
#[template(path = "local_portal.html")]
struct LocalPortalPage {
    subscription: Option<(i64, String, String)>,
    /// Cancelled for the end of the period (the portal offers to resume).
    ending: bool,
    csrf: String,
}

/// The local portal's form: cancel at period end (default) or resume.
#[derive(Debug, Deserialize)]
pub(crate) struct PortalForm {
    csrf: String,
    #[serde(default)]
    action: Option<String>,
}

impl HasCsrf for PortalForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `GET /pay/local/portal`: the local billing portal (cancel the subscription, test mode).
#[handler]
pub(crate) async fn local_portal(state: Data<&AppState>, PageSession(session): PageSession) -> Response {
    if state.shop.local.is_none() {
        return local_off();
    }
    let holder = Holder::User(session.account);
    let current = state
        .shop
        .commerce
        .live_subscription(holder, state.clock.now())
        .await
        .ok()
        .flatten();
    render(&LocalPortalPage {
        ending: current.as_ref().is_some_and(|s| s.cancel_at_period_end),
        subscription: current.map(|s| {
            (
                s.order.id.0,
                crate::http::page::product_name(&state, &s.order.sku),
                s.current_period_end
                    .map(|t| t.date_naive().to_string())
                    .unwrap_or_default(),
            )
        }),
        csrf: session.csrf_token,
    })
}

/// `POST /pay/local/portal`: cancel the subscription at the end of its paid period (emits
/// `customer.subscription.updated` with `cancel_at_period_end`, as Stripe's portal does).
#[handler]
pub(crate) async fn local_portal_post(
    state: Data<&AppState>,
    SignedInForm(session, form): SignedInForm<PortalForm>,
) -> Response {
    if state.shop.local.is_none() {
        return local_off();
    }
    let holder = Holder::User(session.account);
    let now = state.clock.now();
    let Some(sub) = state
        .shop
        .commerce
        .live_subscription(holder, now)
        .await
        .ok()
        .flatten()
        .map(|s| s.id)
    else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No subscription",
            "There is no subscription to cancel.",
        );
    };
    let cancel = form.action.as_deref() != Some("resume");
    match state
        .shop
        .checkout
        .set_cancel_at_period_end(holder, &sub, cancel, now)
        .await
    {
        Ok(()) => Redirect::see_other("/account/billing").into_response(),
        Err(err) => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Changing the subscription failed",
            &err.to_string(),
        ),
    }
}
