//! The legal and support pages: `/terms`, `/privacy`, `/refunds`, `/license`, `/support`.
//!
//! They are templates the operator adapts (`templates/legal.html`), filled with the `[site]`
//! settings (who sells, where to write). Every statement about what the shop *does* — what a
//! refund revokes, how long signals and download links last, which cookies are set — is true of
//! this code; `tests/legal.rs` checks the numbers against the settings and the behaviour.

use askama::Template;
use poem::web::Data;
use poem::{Response, handler};

use crate::AppState;
use crate::http::page::render;

#[derive(Template)]
#[template(path = "legal.html")]
struct LegalPage {
    page: &'static str,
    title: &'static str,
    description: &'static str,
    company: String,
    support: String,
    retention_days: i64,
    link_minutes: u64,
    grace_days: i64,
}

fn legal(state: &AppState, page: &'static str, title: &'static str, description: &'static str) -> Response {
    render(&LegalPage {
        page,
        title,
        description,
        company: state.site.company_name.to_string(),
        support: state.site.support_email.to_string(),
        retention_days: state.discovery.retention_days,
        link_minutes: state.access.links.ttl().as_secs().div_ceil(60),
        grace_days: state.site.grace_days,
    })
}

#[handler]
pub(crate) fn terms(state: Data<&AppState>) -> Response {
    legal(
        &state,
        "terms",
        "Terms of sale",
        "Who sells KEYS, what you buy, how payment and access work.",
    )
}

#[handler]
pub(crate) fn privacy(state: Data<&AppState>) -> Response {
    legal(
        &state,
        "privacy",
        "Privacy",
        "What the KEYS marketplace stores about you, why, for how long, and how to have it deleted.",
    )
}

#[handler]
pub(crate) fn refunds(state: Data<&AppState>) -> Response {
    legal(
        &state,
        "refunds",
        "Refunds",
        "How to ask for a refund, and exactly what a refund does to your access and your upgrade credit.",
    )
}

#[handler]
pub(crate) fn license(state: Data<&AppState>) -> Response {
    legal(
        &state,
        "license",
        "What you may do with a KEY",
        "The licence every KEY is sold under: use, change and ship it in your own work; do not resell it.",
    )
}

#[handler]
pub(crate) fn support(state: Data<&AppState>) -> Response {
    legal(
        &state,
        "support",
        "Support",
        "How to reach the people who run the KEYS marketplace.",
    )
}
