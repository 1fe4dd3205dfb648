//! Prices and quotes: `GET /api/v1/skus`, `GET /api/v1/quotes?sku=…[&org=…]`, the signed-in
//! buyer's orders (`GET /api/v1/me/orders`), and the admin order API (record a purchase paid
//! outside the shop, refund an order). Every amount comes from the `pricing` and `upgrades`
//! crates; this module only translates.

use accounts::Email;
use accounts::ports::AccountId;
use entitlements::{Actor, Holder, OrgId};
use payments::checkout::{RefundRequestError, Refunded, holder_text};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use pricing::{Money, Offers, percent_text};
use upgrades::ports::{Channel, Order};
use upgrades::service::{PurchaseError, QuoteRequestError, RefundOrderError, ResolveError};
use upgrades::{CreditSource, Quote, QuoteError, Sku, interval_as_str};

use crate::AppState;
use crate::http::extract::{Admin, SignedIn};
use crate::http::problem::{Answer, Problem, e};
use crate::http::session::account_of;

#[derive(Tags)]
enum CommerceTags {
    /// Prices and personalised quotes.
    Pricing,
    /// Orders (admins: record and refund).
    Orders,
}

/// An amount of money.
#[derive(Object, Clone)]
pub(crate) struct Amount {
    /// Integer minor units (cents).
    minor: i64,
    /// ISO 4217 code.
    currency: String,
    /// For a person (`$114.66`).
    formatted: String,
}

pub(crate) fn amount(m: Money) -> Amount {
    Amount {
        minor: m.minor(),
        currency: m.currency().code().to_owned(),
        formatted: m.to_string(),
    }
}

/// Something for sale.
#[derive(Object)]
pub(crate) struct SkuInfo {
    /// Stable id: `key:<slug>`, `bundle:<slug>`, `plan:<tier>:<monthly|annual>`.
    sku: String,
    /// `key`, `bundle` or `plan`.
    kind: String,
    /// Display title.
    title: String,
    /// What it costs (a bundle: after its discount).
    price: Amount,
    /// Before any discount (a bundle: its members' list total).
    list_price: Amount,
    /// A bundle's discount (`22%`).
    #[oai(nullable)]
    discount_percent: Option<String>,
    /// The KEYS it contains (a KEY: itself; a plan: those covered today).
    keys: Vec<String>,
    /// Maturity tier (KEYS and plans).
    #[oai(nullable)]
    tier: Option<String>,
    /// `monthly` or `annual` (plans).
    #[oai(nullable)]
    interval: Option<String>,
}

/// Every SKU.
#[derive(Object)]
pub(crate) struct SkuList {
    /// Currency of every price.
    currency: String,
    /// KEYS, then bundles, then plans.
    items: Vec<SkuInfo>,
}

/// One credit in a quote.
#[derive(Object)]
pub(crate) struct CreditInfo {
    /// `purchase` (what an earlier order paid) or `unused_plan_time`.
    source: String,
    /// The earlier order, for `purchase`.
    #[oai(nullable)]
    order_id: Option<i64>,
    /// What that order bought.
    #[oai(nullable)]
    order_sku: Option<String>,
    /// The KEYS the credit is for.
    keys: Vec<String>,
    /// How much.
    amount: Amount,
    /// For a person.
    description: String,
}

/// One line of a quote.
#[derive(Object)]
pub(crate) struct LineInfo {
    /// `list_price`, `discount`, `credit`, `waived` (below the smallest card payment),
    /// `amount_due`.
    kind: String,
    /// For a person.
    description: String,
    /// Amount (discounts and credits are positive amounts taken off).
    amount: Amount,
}

/// A quote.
#[derive(Object)]
pub(crate) struct QuoteInfo {
    /// The SKU.
    sku: String,
    /// Whose quote: `anonymous`, `user:<id>` or `organisation:<id>`.
    holder: String,
    /// Whether credits for what the holder owns were considered.
    personalised: bool,
    /// ISO 4217 code.
    currency: String,
    /// List price.
    list_price: Amount,
    /// A bundle's discount rate.
    #[oai(nullable)]
    discount_percent: Option<String>,
    /// A bundle's discount amount.
    discount: Amount,
    /// Price after the discount.
    price: Amount,
    /// Every credit.
    credits: Vec<CreditInfo>,
    /// Sum of credits.
    credit_total: Amount,
    /// What to pay: never negative, never more than the price.
    amount_due: Amount,
    /// What credit left above zero but below the smallest card payment, waived (the
    /// minimum-charge rule of `docs/revenue/PRICING_MODEL.md`); else zero.
    waived: Amount,
    /// Everything is already owned: granted without payment.
    free_upgrade: bool,
    /// Members of a bundle the holder already owns.
    owned_members: Vec<String>,
    /// Every line, in order.
    lines: Vec<LineInfo>,
    /// Plain-language explanation.
    explanation: String,
}

pub(crate) fn quote_info(q: &Quote, holder: &str, personalised: bool) -> QuoteInfo {
    QuoteInfo {
        sku: q.sku.to_string(),
        holder: holder.to_owned(),
        personalised,
        currency: q.currency.code().to_owned(),
        list_price: amount(q.list_price),
        discount_percent: q.discount_rate.map(percent_text),
        discount: amount(q.discount),
        price: amount(q.price),
        credits: q
            .credits
            .iter()
            .map(|c| {
                let (source, order_id, order_sku) = match &c.from {
                    CreditSource::Purchase { id, sku, .. } => ("purchase", Some(id.0), Some(sku.to_string())),
                    CreditSource::UnusedPlanTime { .. } => ("unused_plan_time", None, None),
                };
                CreditInfo {
                    source: source.into(),
                    order_id,
                    order_sku,
                    keys: c.slugs.iter().map(ToString::to_string).collect(),
                    amount: amount(c.amount),
                    description: c.description.clone(),
                }
            })
            .collect(),
        credit_total: amount(q.credit_total),
        amount_due: amount(q.amount_due),
        waived: amount(q.waived),
        free_upgrade: q.free_upgrade,
        owned_members: q.owned_members.iter().map(ToString::to_string).collect(),
        lines: q
            .lines()
            .into_iter()
            .map(|l| LineInfo {
                kind: serde_json::to_value(l.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                description: l.description,
                amount: amount(l.amount),
            })
            .collect(),
        explanation: q.explanation.clone(),
    }
}

/// An order.
#[derive(Object)]
pub(crate) struct OrderInfo {
    /// Order id.
    id: i64,
    /// What was bought.
    sku: String,
    /// `user:<id>` or `organisation:<id>`.
    holder: String,
    /// `paid`, `partially_refunded`, `refunded`.
    status: String,
    /// `manual`, `stripe`, `local`.
    channel: String,
    /// List price.
    list_price: Amount,
    /// What the quote asked the buyer to pay.
    amount_due: Amount,
    /// Credit carried in from earlier orders.
    credit_applied: Amount,
    /// Cash paid.
    cash_paid: Amount,
    /// Refunded (against the order's value: cash + credit).
    refunded: Amount,
    /// When it was paid (RFC 3339); none while pending.
    #[oai(nullable)]
    paid_at: Option<String>,
    /// A plan's period end (RFC 3339).
    #[oai(nullable)]
    period_end: Option<String>,
    /// The quote's explanation.
    explanation: String,
}

pub(crate) fn order_info(o: &Order) -> OrderInfo {
    OrderInfo {
        id: o.id.0,
        sku: o.sku.to_string(),
        holder: holder_text(o.holder),
        status: o.status.as_str().to_owned(),
        channel: o.channel.as_str().to_owned(),
        list_price: amount(o.list_price),
        amount_due: amount(o.amount_due),
        credit_applied: amount(o.credit_applied),
        cash_paid: amount(o.cash_paid),
        refunded: amount(o.refunded),
        paid_at: o.paid_at.map(|t| t.to_rfc3339()),
        period_end: o.period.map(|p| p.1.to_rfc3339()),
        explanation: o.explanation.clone(),
    }
}

/// A list of orders.
#[derive(Object)]
pub(crate) struct OrderList {
    /// Oldest first.
    items: Vec<OrderInfo>,
}

/// A payment dispute (chargeback).
#[derive(Object)]
pub(crate) struct DisputeInfo {
    /// The provider's dispute id (`dp_…`).
    id: String,
    /// The order whose payment is disputed.
    order_id: i64,
    /// The disputed payment.
    payment_intent: String,
    /// Disputed amount.
    amount: Amount,
    /// The card network's reason.
    reason: String,
    /// `open` (what it bought is suspended), `won` (restored) or `lost` (revoked, a chargeback).
    status: String,
    /// When the shop learnt of it (RFC 3339).
    opened_at: String,
    /// When it closed.
    #[oai(nullable)]
    closed_at: Option<String>,
}

/// Disputes, newest first.
#[derive(Object)]
pub(crate) struct DisputeList {
    /// The disputes.
    items: Vec<DisputeInfo>,
}

#[derive(ApiResponse)]
pub(crate) enum DisputesResponse {
    /// The disputes.
    #[oai(status = 200)]
    Ok(Json<DisputeList>),
    /// `state` is not `open` or `all`.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

/// A live subscription.
#[derive(Object)]
pub(crate) struct SubscriptionInfo {
    /// The provider's subscription id (`sub_…`), the same across plan changes.
    id: String,
    /// The plan SKU it runs on now (`plan:<tier>:<interval>`).
    sku: String,
    /// `starter`, `operator`, `scale` or `enterprise`.
    tier: String,
    /// `monthly` or `annual`.
    interval: String,
    /// `active`, `past_due` (a renewal failed: access during the grace period) or `canceled`.
    status: String,
    /// End of the paid period (RFC 3339).
    #[oai(nullable)]
    current_period_end: Option<String>,
    /// Ends at the end of the paid period instead of renewing.
    cancel_at_period_end: bool,
    /// The plan it becomes at the next renewal (a scheduled downgrade or annual → monthly).
    #[oai(nullable)]
    scheduled_sku: Option<String>,
    /// `user:<id>` or `organisation:<id>`.
    holder: String,
    /// The plan order it runs on now.
    order_id: i64,
}

pub(crate) fn subscription_info(s: upgrades::service::LiveSubscription, holder: Holder) -> SubscriptionInfo {
    SubscriptionInfo {
        sku: s.order.sku.to_string(),
        tier: s.tier.as_str().to_owned(),
        interval: interval_as_str(s.interval).to_owned(),
        status: s.status.to_owned(),
        current_period_end: s.current_period_end.map(|t| t.to_rfc3339()),
        cancel_at_period_end: s.cancel_at_period_end,
        scheduled_sku: s.scheduled.as_ref().map(ToString::to_string),
        holder: holder_text(holder),
        order_id: s.order.id.0,
        id: s.id,
    }
}

/// A holder's live subscriptions: at most one (the database allows one per holder).
#[derive(Object)]
pub(crate) struct SubscriptionList {
    /// The live subscription, if any.
    items: Vec<SubscriptionInfo>,
}

#[derive(ApiResponse)]
pub(crate) enum SubscriptionsResponse {
    /// The subscriptions.
    #[oai(status = 200)]
    Ok(Json<SubscriptionList>),
    /// `org` is malformed.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// `org` names an organisation the caller does not manage.
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

/// Record a purchase paid outside the shop (an invoice, a bank transfer).
#[derive(Object)]
pub(crate) struct RecordOrderRequest {
    /// The buyer's account email (the order is theirs, or their organisation's).
    #[oai(validator(max_length = 254))]
    email: crate::http::text::Text,
    /// Or buy for this organisation (the buyer must belong to it).
    #[oai(nullable)]
    organisation: Option<i64>,
    /// What was bought.
    #[oai(validator(max_length = 80))]
    sku: crate::http::text::Text,
    /// Why (kept in the audit trail).
    #[oai(validator(min_length = 1, max_length = 500, pattern = r"^[\s\S]*\S[\s\S]*$"))]
    reason: crate::http::text::Text,
}

/// Refund an order.
#[derive(Object)]
pub(crate) struct RefundRequest {
    /// Cash to refund, as a positive decimal string (`"12.00"`); omitted: everything left.
    #[oai(
        nullable,
        validator(pattern = r"^(0*[1-9][0-9]{0,8}(\.[0-9]{1,2})?|0+\.(0[1-9]|[1-9][0-9]?))$")
    )]
    amount: Option<crate::http::text::Text>,
    /// Why (kept in the audit trail).
    #[oai(validator(min_length = 1, max_length = 500, pattern = r"^[\s\S]*\S[\s\S]*$"))]
    reason: crate::http::text::Text,
}

#[derive(ApiResponse)]
pub(crate) enum SkusResponse {
    /// Every SKU.
    #[oai(status = 200)]
    Ok(Json<SkuList>),
    /// No valid pricing file is stored.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

#[derive(ApiResponse)]
#[allow(clippy::large_enum_variant)] // built once per request and returned at once
pub(crate) enum QuoteResponse {
    /// The quote.
    #[oai(status = 200)]
    Ok(Json<QuoteInfo>),
    /// The SKU or `org` is malformed, or the SKU cannot be sold to this holder.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// `org=` given without signing in.
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// `org=` names an organisation the caller does not belong to.
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No KEY or bundle by that slug.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Already owned, or not an upgrade of the current plan.
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    /// Storage failed or nothing is priced.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

#[derive(ApiResponse)]
pub(crate) enum OrdersResponse {
    /// The orders.
    #[oai(status = 200)]
    Ok(Json<OrderList>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

/// Every SKU with its price, from the offers.
pub(crate) fn sku_list(offers: &Offers, titles: &dyn Fn(&catalog::Slug) -> String) -> SkuList {
    let mut items = Vec::new();
    for (slug, tier) in offers.keys() {
        let price = offers.prices().single(slug, *tier);
        items.push(SkuInfo {
            sku: Sku::Key(slug.clone()).to_string(),
            kind: "key".into(),
            title: titles(slug),
            price: amount(price),
            list_price: amount(price),
            discount_percent: None,
            keys: vec![slug.to_string()],
            tier: Some(tier.to_string()),
            interval: None,
        });
    }
    for b in offers.bundles() {
        let Some(p) = offers.bundle_price(b) else { continue };
        items.push(SkuInfo {
            sku: Sku::Bundle(b.slug.clone()).to_string(),
            kind: "bundle".into(),
            title: b.title.clone(),
            price: amount(p.price),
            list_price: amount(p.list_total),
            discount_percent: Some(percent_text(b.discount)),
            keys: b.keys.iter().map(ToString::to_string).collect(),
            tier: None,
            interval: None,
        });
    }
    for tier in catalog::Tier::ALL {
        for interval in [pricing::Interval::Monthly, pricing::Interval::Annual] {
            let price = offers.plan_price(*tier, interval);
            items.push(SkuInfo {
                sku: Sku::Plan { tier: *tier, interval }.to_string(),
                kind: "plan".into(),
                title: format!(
                    "{} plan, billed {}",
                    capitalise(&tier.to_string()),
                    interval_word(interval)
                ),
                price: amount(price),
                list_price: amount(price),
                discount_percent: None,
                keys: offers
                    .plan_scope(*tier)
                    .into_iter()
                    .map(|(s, _)| s.to_string())
                    .collect(),
                tier: Some(tier.to_string()),
                interval: Some(interval_as_str(interval).to_owned()),
            });
        }
    }
    SkuList {
        currency: offers.prices().currency().code().to_owned(),
        items,
    }
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub(crate) fn interval_word(i: pricing::Interval) -> &'static str {
    match i {
        pricing::Interval::Monthly => "monthly",
        pricing::Interval::Annual => "annually",
    }
}

/// The holder a signed-in account quotes or buys for: itself, or an organisation it is an
/// owner or admin of (a plain member neither buys for it nor sees its billing). `Err` is the
/// error kind and message.
pub(crate) async fn buyer_holder(
    state: &AppState,
    account: AccountId,
    org: Option<i64>,
) -> Result<Holder, (&'static str, String)> {
    let Some(org) = org else {
        return Ok(Holder::User(account));
    };
    match state.identity.orgs.manager_role(accounts::OrgId(org), account).await {
        Ok(_) => Ok(Holder::Organisation(OrgId(org))),
        Err(accounts::OrgError::NotAMember(_)) => {
            Err(("forbidden", format!("you are not a member of organisation {org}")))
        }
        Err(accounts::OrgError::Rule(_)) => Err((
            "forbidden",
            format!("only owners and admins of organisation {org} buy for it and see its billing"),
        )),
        Err(_) => Err(("unavailable", "try again shortly".into())),
    }
}

/// [`parse_org`] for the JSON API, where a given `org` must be an id (empty is a 400).
pub(crate) fn parse_api_org(org: Option<&str>) -> Result<Option<i64>, String> {
    match org {
        Some(o) if o.trim().is_empty() => Err("`org`: give an organisation id, or leave `org` out".to_owned()),
        other => parse_org(other),
    }
}

/// Parses an `org` form or query value: absent or empty is none; anything else must be an
/// organisation id (never silently ignored, which would buy for the caller instead).
pub(crate) fn parse_org(org: Option<&str>) -> Result<Option<i64>, String> {
    match org.map(str::trim) {
        None | Some("") => Ok(None),
        Some(o) => o
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("`org`: `{}` is not an organisation id (a number)", crate::clip(o))),
    }
}

/// A quote for a holder (`None`: anonymous, list prices). Errors as (kind, message).
pub(crate) async fn quote_for(
    state: &AppState,
    holder: Option<Holder>,
    sku: &Sku,
) -> Result<Quote, (&'static str, String)> {
    let offers = state.catalog.cache.offers();
    let Some(offers) = offers.as_ref() else {
        return Err((
            "unavailable",
            "nothing is priced yet: run `keys-ingest` to store pricing.toml".into(),
        ));
    };
    let now = state.clock.now();
    let result = match holder {
        Some(h) => state.shop.commerce.quote(h, sku, offers, now).await.map(|q| q.quote),
        None => upgrades::service::list_price_quote(sku, offers, now),
    };
    result.map_err(|err| match err {
        QuoteRequestError::Resolve(r) => ("not_found", r.to_string()),
        QuoteRequestError::Quote(q @ (QuoteError::AlreadyOwned { .. } | QuoteError::NotAnUpgrade { .. })) => {
            ("conflict", q.to_string())
        }
        // Sellable, but not to this holder (Enterprise is for organisations, …).
        QuoteRequestError::Quote(q) => ("conflict", q.to_string()),
        QuoteRequestError::Store(s) => {
            tracing::error!(error = %s, "quote failed");
            ("unavailable", "try again shortly".into())
        }
    })
}

/// Why a SKU parameter was refused.
#[derive(Debug)]
pub(crate) enum SkuProblem {
    /// Not of the form `key:<slug>`, `bundle:<slug>`, `plan:<tier>:<interval>` (400).
    Malformed(String),
    /// Of the right form, but its slug cannot name anything (404).
    Unknown(String),
}

impl SkuProblem {
    pub(crate) fn message(self) -> String {
        match self {
            SkuProblem::Malformed(m) | SkuProblem::Unknown(m) => m,
        }
    }
}

/// Parses a SKU parameter with a message naming the problem. A `key:`/`bundle:` SKU whose slug
/// is not a valid slug names nothing that exists: not found, like an unknown valid slug.
pub(crate) fn parse_sku(sku: Option<&str>) -> Result<Sku, SkuProblem> {
    match sku {
        None | Some("") => Err(SkuProblem::Malformed(
            "`sku` is required, e.g. `key:<slug>`, `bundle:<slug>` or `plan:<tier>:<monthly|annual>`".into(),
        )),
        Some(s) => s.parse::<Sku>().map_err(|err| {
            let message = format!("`sku`: {}", crate::clip(&err.to_string()));
            if matches!(err, upgrades::SkuError::BadSlug { .. }) {
                SkuProblem::Unknown(message)
            } else {
                SkuProblem::Malformed(message)
            }
        }),
    }
}

/// Pricing and order endpoints.
pub struct CommerceApi;

#[OpenApi]
impl CommerceApi {
    /// Every SKU with its price: single KEYS, bundles (list total, discount, price) and plans.
    #[oai(path = "/skus", method = "get", tag = "CommerceTags::Pricing")]
    async fn skus(&self, state: Data<&AppState>) -> SkusResponse {
        let offers = state.catalog.cache.offers();
        let Some(offers) = offers.as_ref() else {
            return SkusResponse::Unavailable(e("unavailable", "nothing is priced yet: run `keys-ingest`"));
        };
        let snapshot = state.catalog.cache.snapshot();
        let titles = |s: &catalog::Slug| {
            snapshot
                .get(s.as_str())
                .map_or_else(|| s.to_string(), |k| k.meta.name.clone())
        };
        SkusResponse::Ok(Json(sku_list(offers, &titles)))
    }

    /// A quote for one SKU. Anonymous: the list price. Signed in (cookie or token): personalised
    /// with credit for what the buyer already paid; `org=<id>` quotes for an organisation the
    /// buyer belongs to.
    #[oai(path = "/quotes", method = "get", tag = "CommerceTags::Pricing")]
    async fn quotes(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// `key:<slug>`, `bundle:<slug>` or `plan:<tier>:<monthly|annual>`.
        #[oai(validator(max_length = 80))]
        sku: Query<String>,
        /// Quote for this organisation (you must be its owner or an admin; the document says
        /// integer).
        #[oai(validator(max_length = 20))]
        org: Query<Option<String>>,
    ) -> QuoteResponse {
        let sku = match parse_sku(Some(&sku.0)) {
            Ok(s) => s,
            Err(SkuProblem::Unknown(m)) => return QuoteResponse::NotFound(e("not_found", m)),
            Err(p) => return QuoteResponse::BadRequest(e("bad_request", p.message())),
        };
        let org = match parse_org(org.0.as_deref()) {
            Ok(o) => o,
            Err(m) => return QuoteResponse::BadRequest(e("bad_request", m)),
        };
        let account = account_of(&state, req).await;
        let holder = match (account, org) {
            (None, Some(_)) => {
                return QuoteResponse::Unauthorized(e("unauthorized", "sign in to quote for an organisation"));
            }
            (None, None) => None,
            (Some(a), org) => match buyer_holder(&state, a, org).await {
                Ok(h) => Some(h),
                Err(("forbidden", m)) => return QuoteResponse::Forbidden(e("forbidden", m)),
                Err((k, m)) => return QuoteResponse::Unavailable(e(k, m)),
            },
        };
        match quote_for(&state, holder, &sku).await {
            Ok(q) => QuoteResponse::Ok(Json(quote_info(
                &q,
                &holder.map_or_else(|| "anonymous".to_owned(), holder_text),
                holder.is_some(),
            ))),
            Err(("not_found", m)) => QuoteResponse::NotFound(e("not_found", m)),
            Err(("conflict", m)) => QuoteResponse::Conflict(e("conflict", m)),
            Err(("bad_request", m)) => QuoteResponse::BadRequest(e("bad_request", m)),
            Err((k, m)) => QuoteResponse::Unavailable(e(k, m)),
        }
    }

    /// The signed-in account's orders and those of its organisations, oldest first.
    #[oai(path = "/me/orders", method = "get", tag = "CommerceTags::Orders")]
    async fn my_orders(&self, state: Data<&AppState>, caller: SignedIn) -> OrdersResponse {
        match orders_of(&state, caller.account()).await {
            Ok(list) => OrdersResponse::Ok(Json(OrderList {
                items: list.iter().map(order_info).collect(),
            })),
            Err(err) => {
                tracing::error!(error = %err, "orders lookup failed");
                OrdersResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// The live subscription of the signed-in account, or (`org=`) of an organisation it owns or
    /// administers: at most one per holder. A plan checkout for a holder with one changes it.
    #[oai(path = "/me/subscriptions", method = "get", tag = "CommerceTags::Orders")]
    async fn my_subscriptions(
        &self,
        state: Data<&AppState>,
        caller: SignedIn,
        /// An organisation's subscription (you must be its owner or an admin; the document
        /// says integer).
        #[oai(validator(max_length = 20))]
        org: Query<Option<String>>,
    ) -> SubscriptionsResponse {
        let org = match parse_api_org(org.0.as_deref()) {
            Ok(o) => o,
            Err(m) => return SubscriptionsResponse::BadRequest(e("bad_request", m)),
        };
        let holder = match buyer_holder(&state, caller.account(), org).await {
            Ok(h) => h,
            Err(("forbidden", m)) => return SubscriptionsResponse::Forbidden(e("forbidden", m)),
            Err((k, m)) => return SubscriptionsResponse::Unavailable(e(k, m)),
        };
        match state.shop.commerce.live_subscription(holder, state.clock.now()).await {
            Ok(live) => SubscriptionsResponse::Ok(Json(SubscriptionList {
                items: live.map(|s| subscription_info(s, holder)).into_iter().collect(),
            })),
            Err(err) => {
                tracing::error!(error = %err, "subscription lookup failed");
                SubscriptionsResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// Payment disputes (admins): the open ones by default (`state=all` for every one). While a
    /// dispute is open, what its payment bought is suspended; won restores it, lost revokes it.
    #[oai(path = "/admin/disputes", method = "get", tag = "CommerceTags::Orders")]
    async fn disputes(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        /// `open` (default) or `all`.
        #[oai(name = "state", validator(max_length = 8))]
        state_filter: Query<Option<String>>,
    ) -> DisputesResponse {
        let open_only = match state_filter.0.as_deref() {
            None | Some("open") => true,
            Some("all") => false,
            Some(other) => {
                return DisputesResponse::BadRequest(e(
                    "bad_request",
                    format!("`state` must be `open` or `all`, not `{other}`"),
                ));
            }
        };
        match state.shop.inbox.disputes(open_only).await {
            Ok(list) => DisputesResponse::Ok(Json(DisputeList {
                items: list
                    .into_iter()
                    .map(|d| DisputeInfo {
                        order_id: d.order.0,
                        payment_intent: d.payment_intent,
                        amount: amount(d.amount),
                        reason: d.reason,
                        status: d.status,
                        opened_at: d.opened_at.to_rfc3339(),
                        closed_at: d.closed_at.map(|t| t.to_rfc3339()),
                        id: d.id,
                    })
                    .collect(),
            })),
            Err(err) => {
                tracing::error!(error = %err, "disputes lookup failed");
                DisputesResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// Record a purchase paid outside the shop (admins): the buyer pays the quote's amount due,
    /// with every credit applied, and gets what it buys.
    #[oai(path = "/admin/orders", method = "post", tag = "CommerceTags::Orders")]
    async fn record_order(
        &self,
        state: Data<&AppState>,
        Admin(admin): Admin,
        body: Json<RecordOrderRequest>,
    ) -> Answer<OrderInfo> {
        if body.reason.trim().is_empty() {
            return Answer::BadRequest(e("bad_request", "`reason` must say why the order is recorded"));
        }
        let sku = match parse_sku(Some(&body.sku)) {
            Ok(s) => s,
            Err(SkuProblem::Unknown(m)) => return Answer::NotFound(e("not_found", m)),
            Err(p) => return Answer::BadRequest(e("bad_request", p.message())),
        };
        let Ok(email) = body.email.parse::<Email>() else {
            return Answer::BadRequest(e(
                "bad_request",
                format!("`email`: `{}` is not an email address", body.email),
            ));
        };
        let buyer = match state.identity.accounts.account_by_email(&email).await {
            Ok(Some(a)) => a.id,
            Ok(None) => return Answer::NotFound(e("not_found", format!("no account has the email {email}"))),
            Err(_) => return Answer::Unavailable(e("unavailable", "try again shortly")),
        };
        let holder = match body.organisation {
            None => Holder::User(buyer),
            Some(org) => match state.identity.orgs.memberships(buyer).await {
                Ok(list) if list.iter().any(|(o, _)| o.id.0 == org) => Holder::Organisation(OrgId(org)),
                Ok(_) => {
                    return Answer::Conflict(e(
                        "conflict",
                        format!("`organisation`: {email} is not a member of organisation {org}"),
                    ));
                }
                Err(_) => return Answer::Unavailable(e("unavailable", "try again shortly")),
            },
        };
        let offers = state.catalog.cache.offers();
        let Some(offers) = offers.as_ref() else {
            return Answer::Unavailable(e("unavailable", "nothing is priced yet: run `keys-ingest`"));
        };
        let now = state.clock.now();
        match state
            .shop
            .commerce
            .purchase(
                &upgrades::service::Buying {
                    holder,
                    buyer,
                    sku: &sku,
                    offers,
                    channel: Channel::Manual,
                    now,
                },
                Actor::Admin { user: admin },
                body.reason.trim(),
            )
            .await
        {
            Ok(order) => Answer::Created(Json(order_info(&order))),
            Err(PurchaseError::Quote(q)) => quote_error(q),
            Err(PurchaseError::Record(r @ upgrades::ports::RecordOrderError::CreditTaken)) => {
                Answer::Conflict(e("conflict", r.to_string()))
            }
            Err(err) => {
                tracing::error!(error = %err, "recording an order failed");
                Answer::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// Refund an order (admins). A full refund revokes everything the order granted and
    /// releases the credit it used; a partial refund keeps access. An order paid through Stripe
    /// (or the local payment mode) is refunded there: the answer is 202 and the
    /// `charge.refunded` webhook applies the revocation.
    #[oai(path = "/admin/orders/:id/refund", method = "post", tag = "CommerceTags::Orders")]
    async fn refund(
        &self,
        state: Data<&AppState>,
        Admin(admin): Admin,
        id: Path<i64>,
        body: Json<RefundRequest>,
    ) -> Answer<OrderInfo> {
        if body.reason.trim().is_empty() {
            return Answer::BadRequest(e("bad_request", "`reason` must say why the order is refunded"));
        }
        let currency = state
            .catalog
            .cache
            .offers()
            .as_ref()
            .as_ref()
            .map_or(pricing::Currency::Usd, |o| o.prices().currency());
        let amount = match body.amount.as_deref() {
            None => None,
            Some(a) => match Money::parse(a, currency) {
                Ok(m) => Some(m),
                Err(err) => return Answer::BadRequest(e("bad_request", format!("`amount`: {err}"))),
            },
        };
        let order_id = upgrades::PurchaseId(id.0);
        match state
            .shop
            .checkout
            .refund(
                order_id,
                amount,
                Actor::Admin { user: admin },
                body.reason.trim(),
                state.clock.now(),
            )
            .await
        {
            Ok(Refunded::Done(order)) => Answer::Ok(Json(order_info(&order))),
            // Sent to the payment provider: its `charge.refunded` webhook then revokes access
            // through the inbox like any other event.
            Ok(Refunded::Sent(order)) => Answer::Accepted(Json(order_info(&order))),
            Err(err @ RefundRequestError::AtProviderOnly(..)) => Answer::Conflict(e("conflict", err.to_string())),
            Err(RefundRequestError::Gateway(err)) => {
                tracing::error!(error = %err, "refund at the payment provider failed");
                Answer::BadGateway(e("payment_provider", err.to_string()))
            }
            Err(RefundRequestError::Order(err)) => match err {
                err @ RefundOrderError::UnknownOrder(_) => Answer::NotFound(e("not_found", err.to_string())),
                err @ RefundOrderError::BadAmount { .. } => Answer::BadRequest(e("bad_request", err.to_string())),
                err @ RefundOrderError::MoreThanRefundable { .. } => Answer::Conflict(e("conflict", err.to_string())),
                err @ (RefundOrderError::AlreadyRefunded(_)
                | RefundOrderError::NotPaid(_)
                | RefundOrderError::Ledger(_)) => Answer::Conflict(e("conflict", err.to_string())),
                err @ RefundOrderError::Store(_) => {
                    tracing::error!(error = %err, "refund failed");
                    Answer::Unavailable(e("unavailable", "try again shortly"))
                }
            },
        }
    }
}

fn quote_error<T: poem_openapi::types::ToJSON + Send + Sync>(err: QuoteRequestError) -> Answer<T> {
    match err {
        QuoteRequestError::Resolve(r @ (ResolveError::UnknownKey(_) | ResolveError::UnknownBundle(_))) => {
            Answer::NotFound(e("not_found", r.to_string()))
        }
        QuoteRequestError::Quote(q @ (QuoteError::AlreadyOwned { .. } | QuoteError::NotAnUpgrade { .. })) => {
            Answer::Conflict(e("conflict", q.to_string()))
        }
        QuoteRequestError::Quote(q) => Answer::Conflict(e("conflict", q.to_string())),
        QuoteRequestError::Store(s) => {
            tracing::error!(error = %s, "quote failed");
            Answer::Unavailable(e("unavailable", "try again shortly"))
        }
    }
}

/// Every order of an account and of the organisations it owns or administers now (a plain
/// member does not see its organisation's billing), oldest first.
pub(crate) async fn orders_of(state: &AppState, account: AccountId) -> Result<Vec<Order>, String> {
    let mut list = state
        .shop
        .commerce
        .orders(Holder::User(account))
        .await
        .map_err(|e| e.to_string())?;
    for (org, role) in state
        .identity
        .orgs
        .memberships(account)
        .await
        .map_err(|e| e.to_string())?
    {
        if role.manages() {
            list.extend(
                state
                    .shop
                    .commerce
                    .orders(Holder::Organisation(org.id))
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
    }
    list.sort_by_key(|o| o.id);
    Ok(list)
}
