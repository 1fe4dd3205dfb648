//! Pages that show prices and quotes: `/pricing` (plans side by side), `/marketplace/bundles`
//! (each bundle, personalised "you own 2 of 5 — upgrade for $X" for a signed-in buyer) and
//! `/account/billing` (orders, subscription, upgrade offers with their quotes). Every amount
//! comes from the `pricing` and `upgrades` crates.

use askama::Template;
use catalog::Tier;
use entitlements::{Holder, PlanStanding};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};
use pricing::{Interval, Money, Offers, percent_text};
use upgrades::{Quote, Sku, interval_as_str};

use crate::AppState;
use crate::http::extract::PageSession;
use crate::http::page::{error_page, render};
use crate::http::session::session_of;
use crate::shop::prices::{capitalise, orders_of};

/// A quote's lines for a template.
pub(crate) struct QuoteView {
    pub(crate) lines: Vec<(String, String, String)>,
    pub(crate) amount_due: String,
    pub(crate) free: bool,
    pub(crate) explanation: String,
}

pub(crate) fn quote_view(state: &AppState, q: &Quote) -> QuoteView {
    QuoteView {
        lines: q
            .lines()
            .into_iter()
            .map(|l| {
                let kind = serde_json::to_value(l.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let sign = if matches!(kind.as_str(), "discount" | "credit" | "waived") {
                    "−"
                } else {
                    ""
                };
                (
                    kind,
                    crate::http::page::with_product_names(state, &l.description),
                    format!("{sign}{}", l.amount),
                )
            })
            .collect(),
        amount_due: q.amount_due.to_string(),
        free: q.free_upgrade,
        explanation: crate::http::page::with_product_names(state, &q.explanation),
    }
}

fn unpriced() -> Response {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Prices are not available yet",
        "No pricing file has been ingested. An operator runs `keys-ingest` to publish prices.",
    )
}

struct PlanView {
    tier: String,
    name: String,
    monthly: String,
    annual: String,
    annual_saving: String,
    keys: usize,
    organisations_only: bool,
}

#[derive(Template)]
#[template(path = "pricing.html")]
struct PricingPage {
    plans: Vec<PlanView>,
    singles: Vec<(String, String)>,
    currency: String,
    csrf: Option<String>,
    /// Organisations the buyer may subscribe for.
    buy_for: Vec<(i64, String)>,
}

/// `/pricing`: the plans side by side, and single-KEY prices by tier.
#[handler]
pub(crate) async fn pricing_page(state: Data<&AppState>, req: &Request) -> Response {
    let session = session_of(&state, req).await;
    let buy_for = match &session {
        Some(s) => crate::http::session::managed_orgs(&state, s.account).await,
        None => Vec::new(),
    };
    let csrf = session.map(|s| s.csrf_token);
    let offers = state.catalog.cache.offers();
    let Some(offers) = offers.as_ref() else {
        return unpriced();
    };
    let plans = Tier::ALL
        .iter()
        .map(|t| {
            let monthly = offers.plan_price(*t, Interval::Monthly);
            let annual = offers.plan_price(*t, Interval::Annual);
            let twelve = Money::from_minor(monthly.minor().saturating_mul(12), monthly.currency());
            let saving = twelve.checked_sub(annual).unwrap_or(Money::zero(monthly.currency()));
            PlanView {
                tier: t.as_str().to_owned(),
                name: capitalise(t.as_str()),
                monthly: monthly.to_string(),
                annual: annual.to_string(),
                annual_saving: saving.to_string(),
                keys: offers.plan_scope(*t).len(),
                organisations_only: *t == Tier::Enterprise,
            }
        })
        .collect();
    let singles = Tier::ALL
        .iter()
        .map(|t| (capitalise(t.as_str()), offers.prices().tier_default(*t).to_string()))
        .collect();
    render(&PricingPage {
        plans,
        singles,
        currency: offers.prices().currency().code().to_owned(),
        csrf,
        buy_for,
    })
}

struct BundleView {
    slug: String,
    title: String,
    summary: String,
    members: Vec<(String, String, String, bool)>,
    list_total: String,
    discount: String,
    discount_amount: String,
    price: String,
    owned: usize,
    personal: Option<QuoteView>,
    refusal: Option<String>,
}

#[derive(Template)]
#[template(path = "bundles.html")]
struct BundlesPage {
    bundles: Vec<BundleView>,
    signed_in: bool,
    csrf: String,
    /// Organisations the buyer may buy for.
    buy_for: Vec<(i64, String)>,
}

fn bundle_views(offers: &Offers, names: &dyn Fn(&catalog::Slug) -> String) -> Vec<BundleView> {
    offers
        .bundles()
        .iter()
        .filter_map(|b| {
            let p = offers.bundle_price(b)?;
            Some(BundleView {
                slug: b.slug.to_string(),
                title: b.title.clone(),
                summary: b.summary.clone(),
                members: offers
                    .bundle_members(b)
                    .into_iter()
                    .map(|(s, m)| (s.to_string(), names(&s), m.to_string(), false))
                    .collect(),
                list_total: p.list_total.to_string(),
                discount: percent_text(b.discount),
                discount_amount: p.discount.to_string(),
                price: p.price.to_string(),
                owned: 0,
                personal: None,
                refusal: None,
            })
        })
        .collect()
}

/// `/marketplace/bundles`: every bundle with its members, list total, discount and price; for
/// a signed-in buyer, what they own and their personal upgrade price.
#[handler]
pub(crate) async fn bundles_page(state: Data<&AppState>, req: &Request) -> Response {
    let offers = state.catalog.cache.offers();
    let Some(offers) = offers.as_ref() else {
        return unpriced();
    };
    let snapshot = state.catalog.cache.snapshot();
    let names = |s: &catalog::Slug| {
        snapshot
            .get(s.as_str())
            .map_or_else(|| s.to_string(), |k| k.meta.name.clone())
    };
    let mut bundles = bundle_views(offers, &names);
    let session = session_of(&state, req).await;
    if let Some(session) = &session {
        let holder = Holder::User(session.account);
        let now = state.clock.now();
        let skus: Vec<Sku> = offers.bundles().iter().map(|b| Sku::Bundle(b.slug.clone())).collect();
        // One read of the buyer's orders and entitlements for every bundle; each quote says
        // which members the buyer owns.
        let Ok(quotes) = state.shop.commerce.quote_many(holder, &skus, offers, now).await else {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        };
        for (view, (_, q)) in bundles.iter_mut().zip(quotes) {
            let all_owned = matches!(
                q,
                Err(upgrades::service::QuoteRequestError::Quote(
                    upgrades::QuoteError::AlreadyOwned { .. }
                ))
            );
            for m in &mut view.members {
                m.3 = all_owned
                    || q.as_ref()
                        .is_ok_and(|q| q.owned_members.iter().any(|o| o.as_str() == m.0));
            }
            view.owned = view.members.iter().filter(|m| m.3).count();
            match q {
                Ok(q) => view.personal = Some(quote_view(&state, &q)),
                Err(e) => view.refusal = Some(e.to_string()),
            }
        }
    }
    let buy_for = match &session {
        Some(s) => crate::http::session::managed_orgs(&state, s.account).await,
        None => Vec::new(),
    };
    render(&BundlesPage {
        bundles,
        signed_in: session.is_some(),
        csrf: session.map(|s| s.csrf_token).unwrap_or_default(),
        buy_for,
    })
}

struct OrderView {
    id: i64,
    sku: String,
    name: String,
    status: String,
    paid_at: String,
    cash_paid: String,
    credit_applied: String,
    refunded: String,
    holder: String,
}

struct OfferView {
    title: String,
    sku: String,
    quote: QuoteView,
}

/// `?org=` of the billing page.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct BillingQuery {
    #[serde(default)]
    org: Option<String>,
}

/// The current plan, as a buyer reads it.
struct CurrentPlanView {
    /// The SKU (for machines: `data-sku`).
    sku: String,
    /// "Operator plan, billed monthly".
    name: String,
    /// `active`, `past_due` or `ended` (for machines: `data-state`).
    state: &'static str,
    /// The sentence after the name: when it renews and for how much, until when a past-due
    /// plan keeps access, or when it ended.
    terms: String,
}

/// At most this many upgrade offers: the ones that make sense for what the buyer owns.
const MAX_OFFERS: usize = 3;

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage {
    orders: Vec<OrderView>,
    subscription: Option<CurrentPlanView>,
    /// The organisation whose billing this is (`?org=`).
    org: Option<i64>,
    offers: Vec<OfferView>,
    csrf: String,
    has_customer: bool,
}

/// `/account/billing`: the buyer's orders, subscription and upgrade offers with their quotes.
#[handler]
pub(crate) async fn billing_page(
    state: Data<&AppState>,
    PageSession(session): PageSession,
    poem::web::Query(q): poem::web::Query<BillingQuery>,
) -> Response {
    let offers_arc = state.catalog.cache.offers();
    let Some(offers) = offers_arc.as_ref() else {
        return unpriced();
    };
    // `?org=`: an organisation's billing, for its owners and admins.
    let org = match crate::shop::prices::parse_org(q.org.as_deref()) {
        Ok(o) => o,
        Err(m) => return error_page(StatusCode::BAD_REQUEST, "Billing", &m),
    };
    let holder = match crate::shop::prices::buyer_holder(&state, session.account, org).await {
        Ok(h) => h,
        Err(("forbidden", m)) => return error_page(StatusCode::FORBIDDEN, "Billing", &m),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let now = state.clock.now();
    let orders_read = match holder {
        Holder::User(_) => orders_of(&state, session.account).await,
        Holder::Organisation(_) => state.shop.commerce.orders(holder).await.map_err(|e| e.to_string()),
    };
    let (orders, owned, current, grants, live) = match (
        orders_read,
        state.shop.commerce.owned(holder, now).await,
        state.shop.commerce.subscription(holder, now).await,
        state.access.entitlements.for_holder(holder).await,
        state.shop.commerce.live_subscription(holder, now).await,
    ) {
        (Ok(o), Ok(w), Ok(c), Ok(g), Ok(l)) => (o, w, c, g, l),
        _ => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let ending = live.as_ref().is_some_and(|l| l.cancel_at_period_end);
    let scheduled = live.as_ref().and_then(|l| l.scheduled.clone());
    // What the plan's grant says, not the order: a plan cancelled in the portal has ended even
    // though its paid period has not.
    let standing = entitlements::plan_standing(&grants, holder, now);
    // Upgrade offers: bundles partly owned, and plans above the current one (or, without a
    // plan, the plans whose first invoice recent purchases would credit).
    let mut skus: Vec<(String, Sku)> = offers
        .bundles()
        .iter()
        .filter(|b| b.keys.iter().any(|k| owned.contains(k)) && !b.keys.iter().all(|k| owned.contains(k)))
        .map(|b| (format!("{} bundle", b.title), Sku::Bundle(b.slug.clone())))
        .collect();
    let current_tier = current.as_ref().and_then(|o| match o.sku {
        Sku::Plan { tier, interval } => Some((tier, interval)),
        _ => None,
    });
    for tier in Tier::ALL.iter().filter(|t| **t != Tier::Enterprise) {
        for interval in [Interval::Monthly, Interval::Annual] {
            let upgrade = match current_tier {
                Some((t, i)) => *tier > t || (*tier == t && i == Interval::Monthly && interval == Interval::Annual),
                None => !owned.is_empty(),
            };
            if upgrade {
                skus.push((
                    format!(
                        "{} plan, billed {}",
                        capitalise(tier.as_str()),
                        interval_as_str(interval)
                    ),
                    Sku::Plan { tier: *tier, interval },
                ));
            }
        }
    }
    let only: Vec<Sku> = skus.iter().map(|(_, s)| s.clone()).collect();
    let quotes = match state.shop.commerce.quote_many(holder, &only, offers, now).await {
        Ok(q) => q,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    // Only offers that make sense for what the buyer owns: a bundle credits something they
    // paid for (it was chosen that way above); a plan either moves up from their current plan
    // or is credited by what they bought. Bundles first (they credit KEYS the buyer owns), each
    // kind closest first (least to pay), at most three.
    let mut offer_views: Vec<((bool, i64), OfferView)> = skus
        .into_iter()
        .zip(quotes)
        .filter_map(|((title, sku), (_, q))| {
            let q = q.ok()?;
            let relevant = match sku {
                Sku::Plan { .. } => current_tier.is_some() || q.credit_total.minor() > 0,
                _ => true,
            };
            relevant.then(|| {
                (
                    (matches!(sku, Sku::Plan { .. }), q.amount_due.minor()),
                    OfferView {
                        title,
                        sku: sku.to_string(),
                        quote: quote_view(&state, &q),
                    },
                )
            })
        })
        .collect();
    offer_views.sort_by_key(|(due, _)| *due);
    let offer_views: Vec<OfferView> = offer_views.into_iter().take(MAX_OFFERS).map(|(_, v)| v).collect();
    render(&BillingPage {
        orders: orders
            .iter()
            .map(|o| OrderView {
                id: o.id.0,
                sku: o.sku.to_string(),
                name: crate::http::page::product_name(&state, &o.sku),
                status: o.status.as_str().replace('_', " "),
                // A date only for what was paid: a cancelled or pending order never was.
                paid_at: o
                    .paid_at
                    .map_or_else(|| "not paid".to_owned(), |at| at.date_naive().to_string()),
                cash_paid: o.cash_paid.to_string(),
                credit_applied: o.credit_applied.to_string(),
                refunded: o.refunded.to_string(),
                holder: match o.holder {
                    Holder::User(_) => "you".to_owned(),
                    Holder::Organisation(g) => format!("organisation #{}", g.0),
                },
            })
            .collect(),
        subscription: current.and_then(|o| match o.sku {
            Sku::Plan { tier, interval } => {
                let day = |at: chrono::DateTime<chrono::Utc>| at.date_naive().to_string();
                let (state, terms) = match standing {
                    Some(PlanStanding::Active { period_end, .. }) if ending => (
                        "ending",
                        format!(
                            "Cancelled: access until {}, when it ends; it will not renew.",
                            day(period_end)
                        ),
                    ),
                    Some(PlanStanding::Active { period_end, .. }) if scheduled.is_some() => (
                        "changing",
                        match &scheduled {
                            Some(Sku::Plan { tier: t, interval: i }) => format!(
                                "Paid until {}; then it becomes the {} plan, billed {}, at {}.",
                                day(period_end),
                                capitalise(t.as_str()),
                                interval_as_str(*i),
                                offers.prices().plan(*t, *i)
                            ),
                            _ => format!("Paid until {}.", day(period_end)),
                        },
                    ),
                    Some(PlanStanding::Active { period_end, .. }) => (
                        "active",
                        format!(
                            "Paid until {}; it renews on {} at {}.",
                            day(period_end),
                            day(period_end),
                            offers.prices().plan(tier, interval)
                        ),
                    ),
                    Some(PlanStanding::PastDue { grace_until, .. }) => (
                        "past_due",
                        format!(
                            "The last renewal could not be charged: access continues until {} — update your card below.",
                            day(grace_until)
                        ),
                    ),
                    Some(PlanStanding::Ended { at, .. }) => ("ended", format!("Ended on {}; it will not renew.", day(at))),
                    None => ("ended", "Not active.".to_owned()),
                };
                Some(CurrentPlanView {
                    sku: o.sku.to_string(),
                    name: format!("{} plan, billed {}", capitalise(tier.as_str()), interval_as_str(interval)),
                    state,
                    terms,
                })
            }
            _ => None,
        }),
        offers: offer_views,
        org,
        has_customer: orders.iter().any(|o| o.refs.customer.is_some()),
        csrf: session.csrf_token.clone(),
    })
}
