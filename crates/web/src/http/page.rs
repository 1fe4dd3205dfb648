//! Rendering pages: templates, the error page, and the labels every page shows the same way.

use askama::Template;
use catalog::Kind;
use poem::http::StatusCode;
use poem::web::Html;
use poem::{IntoResponse, Response};

/// What a KEY kind is called on every page.
pub(crate) fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::NodeNext => "Node/Next starter kit",
        Kind::Runbook => "Operations runbook",
        Kind::Jupyter => "Jupyter notebook pack",
    }
}

/// `incident-response` → `Incident Response` (see [`catalog::title`]).
pub(crate) fn title_case(s: &str) -> String {
    catalog::title(s)
}

/// Human label of a vocabulary value (`incident-response` → `Incident Response`; `sre` → `SRE`):
/// the catalog's one word list, so pages and recommendation reasons agree.
pub(crate) fn label(value: &str) -> String {
    catalog::title(value)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    heading: String,
    message: String,
}

/// The error page (HTML), with its status.
pub(crate) fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        heading: heading.to_owned(),
        message: message.to_owned(),
    };
    render(&page).with_status(status).into_response()
}

/// A rendered template (500 when rendering fails, logged).
pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page could not be rendered").into_response()
        }
    }
}

/// Turns routing errors (404, 405) into pages, or JSON under `/api/`.
pub(crate) async fn not_found(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
    }
    error_page(status, status.canonical_reason().unwrap_or("Error"), &err.to_string())
}
