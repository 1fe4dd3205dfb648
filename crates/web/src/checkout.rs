//! Buying: `POST /api/v1/checkout` and the Buy forms, cancelling a pending checkout,
//! Stripe's webhooks in (`POST /webhooks/stripe` → verified → inbox), the checkout return page,
//! the billing portal, and the local payment mode (a test-mode checkout page that emits
//! Stripe-format, signed events into the same intake). Every workflow is
//! `payments::checkout::CheckoutService`'s; the handlers extract, call it and map the error.

use std::sync::Arc;

use accounts::SecretToken;
use askama::Template;
use async_trait::async_trait;
use catalog::Clock;
use chrono::{DateTime, Utc};
use entitlements::Holder;
use payments::checkout::{CheckoutError, Started, holder_text, page_of, return_path};
use payments::events::parse_envelope;
use payments::ports::{CheckoutRequest, CheckoutSession, GatewayError, InboxRepository, PaymentGateway, SessionState};
use payments::signature;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{Body, IntoResponse, Request, Response, handler};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use pricing::Money;
use serde::Deserialize;
use upgrades::ports::{Order, OrderRef, OrderRepository, OrderStatus};
use upgrades::service::QuoteRequestError;
use upgrades::{PurchaseId, QuoteError, Sku};

use crate::AppState;
use crate::auth::{account_of, session_of};
use crate::commerce_api::{buyer_holder, parse_org, parse_sku};
use crate::entitlements_api::{ErrorBody, e};
use crate::pages::{error_page, render};

pub use crate::guard::MAX_WEBHOOK_BYTES;

/// Why a delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Signature missing, wrong or stale.
    #[error(transparent)]
    Signature(#[from] signature::SignatureError),
    /// Not a Stripe event.
    #[error(transparent)]
    Event(#[from] payments::events::EventError),
    /// The inbox could not store it (the sender retries).
    #[error(transparent)]
    Store(#[from] payments::ports::InboxError),
}

/// Verifies a delivery and stores it in the inbox: the one intake for Stripe's webhooks and the
/// local payment mode's events. `Ok(false)`: a duplicate (already stored).
///
/// # Errors
/// [`WebhookError`]; nothing is stored then.
pub async fn receive(
    inbox: &dyn InboxRepository,
    secrets: &[String],
    now: DateTime<Utc>,
    body: &[u8],
    signature_header: Option<&str>,
) -> Result<bool, WebhookError> {
    signature::verify(body, signature_header, secrets, now.timestamp())?;
    let env = parse_envelope(body)?;
    let payload = std::str::from_utf8(body).map_err(|_| payments::events::EventError::NotJson("not UTF-8".into()))?;
    Ok(inbox.intake(&env, payload, now).await?)
}

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
        state.inbox.as_ref(),
        &state.webhook_secrets,
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
// Local payment mode
// ---------------------------------------------------------------------------------------------

/// The embedded default's payment provider: no network, clearly test mode. Checkout opens a
/// local page; paying there (and admin refunds, and cancelling from the local billing portal)
/// emits Stripe-format events signed with the first webhook secret into the same intake as
/// `/webhooks/stripe`, and the worker applies them like Stripe's.
pub struct LocalGateway {
    inbox: Arc<dyn InboxRepository>,
    orders: Arc<dyn OrderRepository>,
    secrets: Arc<Vec<String>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LocalGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalGateway")
    }
}

fn rand_id(prefix: &str) -> String {
    let t = SecretToken::generate("");
    format!("{prefix}{}", &t.digest()[..24])
}

impl LocalGateway {
    /// Builds the local gateway over the inbox it emits into.
    #[must_use]
    pub fn new(
        inbox: Arc<dyn InboxRepository>,
        orders: Arc<dyn OrderRepository>,
        secrets: Arc<Vec<String>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inbox,
            orders,
            secrets,
            clock,
        }
    }

    /// The order of a local checkout session.
    ///
    /// # Errors
    /// The storage error.
    pub async fn order_of_session(&self, id: &str) -> Result<Option<Order>, upgrades::ports::OrderStoreError> {
        self.orders.find_by_ref(&OrderRef::CheckoutSession(id.to_owned())).await
    }

    /// Records that the buyer started paying (before the events are emitted), only while the
    /// order is pending with no payment started.
    ///
    /// # Errors
    /// The storage error.
    pub async fn start_payment(
        &self,
        id: PurchaseId,
        refs: &upgrades::ports::PaymentRefs,
    ) -> Result<bool, upgrades::ports::OrderStoreError> {
        self.orders.start_payment(id, refs).await
    }

    /// Emits a Stripe-format event: signed as Stripe signs, through the webhook intake.
    ///
    /// # Errors
    /// [`WebhookError`].
    pub async fn emit(&self, event_type: &str, object: serde_json::Value) -> Result<String, WebhookError> {
        let now = self.clock.now();
        let id = rand_id("evt_local_");
        let body = serde_json::json!({
            "id": id,
            "object": "event",
            "api_version": "2025-08-27.basil",
            "created": now.timestamp(),
            "livemode": false,
            "pending_webhooks": 1,
            "type": event_type,
            "data": {"object": object},
        })
        .to_string();
        let secret = self.secrets.first().cloned().unwrap_or_default();
        let header = signature::sign(body.as_bytes(), &secret, now.timestamp());
        receive(self.inbox.as_ref(), &self.secrets, now, body.as_bytes(), Some(&header)).await?;
        Ok(id)
    }
}

#[async_trait]
impl PaymentGateway for LocalGateway {
    fn is_test_mode(&self) -> bool {
        true
    }

    async fn create_customer(&self, holder: &str, _email: &str) -> Result<String, GatewayError> {
        Ok(format!("cus_local_{}", holder.replace(':', "_")))
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, GatewayError> {
        let id = rand_id(&format!("cs_local_{}_", request.order_id));
        Ok(CheckoutSession {
            url: format!("/pay/local/{id}"),
            id,
        })
    }

    async fn retrieve_session(&self, id: &str) -> Result<SessionState, GatewayError> {
        let order = self
            .orders
            .find_by_ref(&OrderRef::CheckoutSession(id.to_owned()))
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?
            .ok_or_else(|| GatewayError::Refused(format!("no such checkout session {id}")))?;
        Ok(SessionState {
            id: id.to_owned(),
            order_id: Some(order.id.0),
            paid: order.was_paid(),
            payment_intent: order.refs.payment_intent.clone(),
            subscription: order.refs.subscription.clone(),
            customer: order.refs.customer.clone(),
            amount_total: Some(order.amount_due.minor()),
            currency: Some(order.amount_due.currency().code().to_lowercase()),
        })
    }

    async fn expire_checkout(&self, id: &str) -> Result<bool, GatewayError> {
        // A local checkout is only its order: it can be closed while no payment started.
        let order = self
            .orders
            .find_by_ref(&OrderRef::CheckoutSession(id.to_owned()))
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?
            .ok_or_else(|| GatewayError::Refused(format!("no such checkout session {id}")))?;
        Ok(!payments::checkout::payment_started(&order) && !order.was_paid())
    }

    async fn refund(&self, payment_intent: &str, amount: Option<Money>, _key: &str) -> Result<(), GatewayError> {
        let order = self
            .orders
            .find_by_ref(&OrderRef::PaymentIntent(payment_intent.to_owned()))
            .await
            .map_err(|e| GatewayError::Unreachable(e.to_string()))?
            .ok_or_else(|| GatewayError::Refused(format!("no charge for {payment_intent}")))?;
        let charged = order.cash_paid.minor();
        let refunded = amount.map_or(charged, |a| (order.refunded.minor() + a.minor()).min(charged));
        self.emit(
            "charge.refunded",
            serde_json::json!({
                "id": rand_id("ch_local_"),
                "object": "charge",
                "amount": charged,
                "amount_refunded": refunded,
                "currency": order.cash_paid.currency().code().to_lowercase(),
                "payment_intent": payment_intent,
                "refunded": refunded >= charged,
                "created": self.clock.now().timestamp(),
            }),
        )
        .await
        .map(|_| ())
        .map_err(|e| GatewayError::Refused(e.to_string()))
    }

    async fn billing_portal(&self, _customer: &str, _return_url: &str) -> Result<String, GatewayError> {
        Ok("/pay/local/portal".to_owned())
    }

    async fn sync_catalog(
        &self,
        items: &[payments::ports::CatalogItem],
    ) -> Result<payments::ports::SyncReport, GatewayError> {
        Ok(payments::ports::SyncReport {
            unchanged: items.len(),
            ..Default::default()
        })
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
    sku: crate::text::Text,
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
    let sku = parse_sku(Some(sku_text)).map_err(|p| match p {
        crate::commerce_api::SkuProblem::Unknown(m) => (StatusCode::NOT_FOUND, "not_found", m),
        crate::commerce_api::SkuProblem::Malformed(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
    })?;
    let holder = buyer_holder(state, account, org).await.map_err(|(k, m)| match k {
        "forbidden" => (StatusCode::FORBIDDEN, "forbidden", m),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
    })?;
    let offers = state.catalog.offers();
    let Some(offers) = offers.as_ref() else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "nothing is priced yet: run `keys-ingest`".into(),
        ));
    };
    let email = state
        .accounts
        .email_of(account)
        .await
        .ok()
        .flatten()
        .map(|e| e.to_string())
        .unwrap_or_default();
    state
        .checkout
        .start(
            holder,
            entitlements::UserId(account.0),
            &email,
            &sku,
            offers,
            state.clock.now(),
        )
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
    BadRequest(Json<ErrorBody>),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `org` names an organisation the caller is not an owner or admin of.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No KEY or bundle by that slug.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Already owned, not an upgrade of the current plan, or a payment for it is in progress.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The payment provider failed.
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// Storage failed, nothing is priced, or the payment catalog is out of date.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
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

/// Checkout endpoints.
pub struct CheckoutApi;

#[OpenApi]
impl CheckoutApi {
    /// Start buying a SKU: a pending order with the quote's credit reserved and a Checkout
    /// Session charging exactly the quote's amount due (credit applied as a one-off discount).
    /// A fully credited upgrade is granted at once without payment. An earlier open checkout
    /// for the same SKU is closed first — never one whose payment started (409 then).
    #[oai(path = "/checkout", method = "post", tag = "CheckoutTags::Checkout")]
    async fn checkout(&self, state: Data<&AppState>, req: &Request, body: Json<CheckoutBody>) -> CheckoutResponse {
        let Some(account) = account_of(&state, req).await else {
            return CheckoutResponse::Unauthorized(e("unauthorized", "sign in to buy"));
        };
        match start_checkout(&state, account, &body.sku, body.org).await {
            Ok(started) => CheckoutResponse::Ok(Json(started)),
            Err((status, code, message)) => checkout_response(status, code, message),
        }
    }

    /// Cancel a pending checkout of yours (or of an organisation you own or administer),
    /// releasing the credit it reserved. A checkout whose payment started is never cancelled
    /// (409).
    #[oai(path = "/me/orders/:id/cancel", method = "post", tag = "CheckoutTags::Checkout")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: poem_openapi::param::Path<i64>,
    ) -> CheckoutResponse {
        let Some(account) = account_of(&state, req).await else {
            return CheckoutResponse::Unauthorized(e("unauthorized", "sign in first"));
        };
        let order = match state.commerce.order(PurchaseId(id.0)).await {
            Ok(Some(o)) if may_manage(&state, account, &o).await => o,
            Ok(_) => {
                return CheckoutResponse::NotFound(e("not_found", format!("you have no order {}", id.0)));
            }
            Err(err) => {
                tracing::error!(error = %err, "order lookup failed");
                return CheckoutResponse::Unavailable(e("unavailable", "try again shortly"));
            }
        };
        match state.checkout.cancel(&order).await {
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

/// The Buy forms' body.
#[derive(Debug, Deserialize)]
pub(crate) struct BuyForm {
    csrf: String,
    sku: String,
    #[serde(default)]
    org: Option<String>,
}

fn csrf_ok(expected: &str, got: &str) -> bool {
    crate::auth::constant_time_eq(expected.as_bytes(), got.as_bytes())
}

fn form_expired() -> Response {
    (
        StatusCode::FORBIDDEN,
        "The form expired. Reload the page and try again.",
    )
        .into_response()
}

/// `POST /checkout` (the Buy buttons): 303 to the checkout. An `org` that is not an
/// organisation id is a 400, never a purchase for yourself.
#[handler]
pub(crate) async fn buy_form(state: Data<&AppState>, req: &Request, Form(f): Form<BuyForm>) -> Response {
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    if !csrf_ok(&session.csrf_token, &f.csrf) {
        return form_expired();
    }
    let org = match parse_org(f.org.as_deref()) {
        Ok(o) => o,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, "This purchase could not start", &message),
    };
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
            order.buyer.0 == account.0 || state.orgs.manager_role(accounts::OrgId(o.0), account).await.is_ok()
        }
    }
}

#[derive(Template)]
#[template(path = "checkout_return.html")]
struct ReturnPage {
    order_id: i64,
    sku: String,
    status: String,
    paid: bool,
    pending: bool,
    amount: String,
    back: String,
    test_mode: bool,
}

/// `?order=`.
#[derive(Debug, Deserialize)]
pub(crate) struct OrderQuery {
    order: i64,
}

/// `GET /checkout/return?order=…`: the order's state; waits (refreshing) until it is fulfilled,
/// and fulfils from the Checkout Session itself when the webhook has not arrived yet (only a
/// session paid for exactly the order's amount).
#[handler]
pub(crate) async fn return_page(state: Data<&AppState>, req: &Request, Query(q): Query<OrderQuery>) -> Response {
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    let mut order = match state.commerce.order(PurchaseId(q.order)).await {
        Ok(Some(o)) if may_manage(&state, session.account, &o).await => o,
        Ok(_) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "No such order",
                "This order does not exist or is not yours.",
            );
        }
        Err(err) => {
            tracing::error!(error = %err, "order lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    match state.checkout.reconcile(order.clone(), state.clock.now()).await {
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
    let page = ReturnPage {
        order_id: order.id.0,
        sku: order.sku.to_string(),
        status: order.status.as_str().replace('_', " "),
        paid,
        pending: order.status == OrderStatus::Pending,
        amount: order.amount_due.to_string(),
        back: page_of(&order.sku),
        test_mode: state.gateway().is_test_mode(),
    };
    render(&page)
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
pub(crate) async fn local_pay_page(state: Data<&AppState>, req: &Request, Path(id): Path<String>) -> Response {
    let Some(local) = state.local.as_ref() else {
        return local_off();
    };
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    let order = match local_order(&state, local, session.account, &id).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    render(&LocalPayPage {
        session_id: id,
        order_id: order.id.0,
        sku: order.sku.to_string(),
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
        Ok(Some(o)) if may_manage(state, account, &o).await => match o.status {
            upgrades::ports::OrderStatus::Pending if o.created_at > state.clock.now() - LOCAL_CHECKOUT_PAYABLE => Ok(o),
            upgrades::ports::OrderStatus::Pending | upgrades::ports::OrderStatus::Cancelled => Err(error_page(
                StatusCode::GONE,
                "This checkout has closed",
                "It was cancelled, or left unfinished for a day. Start again from the KEY's page: the price and any credit are worked out afresh.",
            )),
            _ => Err(error_page(
                StatusCode::GONE,
                "This checkout is already paid",
                "Find what you bought under Your KEYS (/account/keys).",
            )),
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

/// How long a local-mode checkout may stay unfinished before the housekeeping cancels it (as
/// Stripe expires its Checkout Sessions after 24 hours).
pub const LOCAL_CHECKOUT_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How long a local-mode checkout can be paid: an hour less than its lifetime, so a payment
/// started at the last moment is recorded (its references set) long before the housekeeping
/// looks at the order, which skips orders with a payment started.
const LOCAL_CHECKOUT_PAYABLE: chrono::TimeDelta = chrono::TimeDelta::hours(23);

/// The local checkout page's form.
#[derive(Debug, Deserialize)]
pub(crate) struct LocalPayForm {
    csrf: String,
    action: String,
}

/// `POST /pay/local/{session}`: pay (or cancel) in test mode — emits the events Stripe would.
#[handler]
pub(crate) async fn local_pay_post(
    state: Data<&AppState>,
    req: &Request,
    Path(id): Path<String>,
    Form(f): Form<LocalPayForm>,
) -> Response {
    let Some(local) = state.local.as_ref() else {
        return local_off();
    };
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    if !csrf_ok(&session.csrf_token, &f.csrf) {
        return form_expired();
    }
    let order = match local_order(&state, local, session.account, &id).await {
        Ok(o) => o,
        Err(resp) => return resp,
    };
    let now = state.clock.now();
    let base = serde_json::json!({
        "id": id,
        "object": "checkout.session",
        "client_reference_id": order.id.0.to_string(),
        "customer": order.refs.customer,
        "currency": order.amount_due.currency().code().to_lowercase(),
        "created": now.timestamp(),
        "livemode": false,
        "metadata": {"order_id": order.id.0.to_string(), "sku": order.sku.to_string(), "holder": holder_text(order.holder)},
    });
    let emitted = if f.action == "cancel" {
        let mut o = base;
        o["status"] = "expired".into();
        o["payment_status"] = "unpaid".into();
        local
            .emit("checkout.session.expired", o)
            .await
            .map(|_| page_of(&order.sku))
    } else {
        let mut o = base;
        let plan = matches!(order.sku, Sku::Plan { .. });
        o["status"] = "complete".into();
        o["payment_status"] = "paid".into();
        o["amount_total"] = order.amount_due.minor().into();
        o["mode"] = if plan { "subscription" } else { "payment" }.into();
        let payment_intent = (!plan).then(|| rand_id("pi_local_"));
        let subscription = plan.then(|| rand_id("sub_local_"));
        // Recorded before the event: the housekeeping never expires an order whose payment has
        // started, however long the worker takes to apply the event.
        let refs = upgrades::ports::PaymentRefs {
            payment_intent: payment_intent.clone(),
            subscription: subscription.clone(),
            ..Default::default()
        };
        match local.start_payment(order.id, &refs).await {
            Ok(true) => {}
            // Closed (cancelled by a newer checkout or the housekeeping) or already being paid
            // since the page was read: never take a second payment.
            Ok(false) => {
                return error_page(
                    StatusCode::GONE,
                    "This checkout has closed",
                    "It was closed or is already being paid. Start again from the KEY's page.",
                );
            }
            Err(err) => {
                tracing::error!(error = %err, "local payment not started");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
        o["payment_intent"] = payment_intent.map_or(serde_json::Value::Null, Into::into);
        o["subscription"] = subscription.clone().map_or(serde_json::Value::Null, Into::into);
        let r = local.emit("checkout.session.completed", o).await;
        if let (Ok(_), Some(sub), Sku::Plan { interval, .. }) = (&r, subscription, &order.sku) {
            let end = upgrades::service::period_end(now, *interval);
            let _ = local
                .emit(
                    "invoice.paid",
                    serde_json::json!({
                        "id": rand_id("in_local_"),
                        "object": "invoice",
                        "subscription": sub,
                        "amount_paid": order.amount_due.minor(),
                        "billing_reason": "subscription_create",
                        "created": now.timestamp(),
                        "lines": {"object": "list", "data": [{"period": {"start": now.timestamp(), "end": end.timestamp()}}]},
                    }),
                )
                .await;
        }
        r.map(|_| return_path(order.id))
    };
    match emitted {
        Ok(to) => Redirect::see_other(to).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "local payment event failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Payment failed",
                "Try again in a moment.",
            )
        }
    }
}

/// `POST /account/billing/portal`: the payment provider's billing portal for the buyer.
#[handler]
pub(crate) async fn billing_portal(state: Data<&AppState>, req: &Request, Form(f): Form<PortalForm>) -> Response {
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    if !csrf_ok(&session.csrf_token, &f.csrf) {
        return form_expired();
    }
    let holder = Holder::User(entitlements::UserId(session.account.0));
    match state.checkout.billing_portal(holder, "/account/billing").await {
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

/// The portal form.
#[derive(Debug, Deserialize)]
pub(crate) struct PortalForm {
    csrf: String,
}

#[derive(Template)]
#[template(path = "local_portal.html")]
struct LocalPortalPage {
    subscription: Option<(i64, String, String)>,
    csrf: String,
}

/// `GET /pay/local/portal`: the local billing portal (cancel the subscription, test mode).
#[handler]
pub(crate) async fn local_portal(state: Data<&AppState>, req: &Request) -> Response {
    if state.local.is_none() {
        return local_off();
    }
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    let holder = Holder::User(entitlements::UserId(session.account.0));
    let current = state
        .commerce
        .subscription(holder, state.clock.now())
        .await
        .ok()
        .flatten();
    render(&LocalPortalPage {
        subscription: current.map(|o| {
            (
                o.id.0,
                o.sku.to_string(),
                o.period.map(|p| p.1.date_naive().to_string()).unwrap_or_default(),
            )
        }),
        csrf: session.csrf_token,
    })
}

/// `POST /pay/local/portal`: cancel the subscription (emits `customer.subscription.deleted`).
#[handler]
pub(crate) async fn local_portal_post(state: Data<&AppState>, req: &Request, Form(f): Form<PortalForm>) -> Response {
    let Some(local) = state.local.as_ref() else {
        return local_off();
    };
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    if !csrf_ok(&session.csrf_token, &f.csrf) {
        return form_expired();
    }
    let holder = Holder::User(entitlements::UserId(session.account.0));
    let Some(sub) = state
        .commerce
        .subscription(holder, state.clock.now())
        .await
        .ok()
        .flatten()
        .and_then(|o| o.refs.subscription)
    else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No subscription",
            "There is no subscription to cancel.",
        );
    };
    match local
        .emit(
            "customer.subscription.deleted",
            serde_json::json!({"id": sub, "object": "subscription", "status": "canceled", "created": state.clock.now().timestamp()}),
        )
        .await
    {
        Ok(_) => Redirect::see_other("/account/billing").into_response(),
        Err(err) => error_page(StatusCode::SERVICE_UNAVAILABLE, "Cancelling failed", &err.to_string()),
    }
}
