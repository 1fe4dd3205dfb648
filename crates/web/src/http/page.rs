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

/// What an order is for, by name ("PostgreSQL Failover Runbook", "Incident Response
/// Essentials bundle", "Scale plan, billed monthly") — never its SKU code.
pub(crate) fn product_name(state: &crate::AppState, sku: &upgrades::Sku) -> String {
    match sku {
        upgrades::Sku::Key(slug) => state
            .catalog
            .cache
            .snapshot()
            .get(slug.as_str())
            .map_or_else(|| title_case(slug.as_str()), |k| k.meta.name.clone()),
        upgrades::Sku::Bundle(slug) => state
            .catalog
            .cache
            .offers()
            .as_ref()
            .as_ref()
            .and_then(|o| {
                o.bundles()
                    .iter()
                    .find(|b| &b.slug == slug)
                    .map(|b| format!("{} bundle", b.title))
            })
            .unwrap_or_else(|| format!("{} bundle", title_case(slug.as_str()))),
        upgrades::Sku::Plan { tier, interval } => format!(
            "{} plan, billed {}",
            catalog::title(tier.as_str()),
            upgrades::interval_as_str(*interval)
        ),
    }
}

/// `text` with every SKU code in it (`key:disk-full-recovery`, `bundle:…`, `plan:scale:monthly`)
/// replaced by the product's name, for pages: the domain's sentences (quote lines,
/// explanations) name SKUs, which the JSON API keeps and buyers should never see.
pub(crate) fn with_product_names(state: &crate::AppState, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["key:", "bundle:", "plan:"].iter().filter_map(|p| rest.find(p)).min() {
        let starts_word = at == 0 || !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let len = rest[at..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == ':'))
            .unwrap_or(rest.len() - at);
        let code = rest[at..at + len].trim_end_matches(':');
        out.push_str(&rest[..at]);
        match code.parse::<upgrades::Sku>() {
            Ok(sku) if starts_word => out.push_str(&product_name(state, &sku)),
            _ => out.push_str(code),
        }
        rest = &rest[at + code.len()..];
    }
    out.push_str(rest);
    out
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    heading: String,
    message: String,
    /// The way on (`href`, label); the marketplace when `None`.
    link: Option<(String, String)>,
}

/// The error page (HTML), with its status; its way on is the marketplace.
pub(crate) fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    error_page_to(status, heading, message, None)
}

/// The error page with a way on other than the marketplace (`href` is a path on this site).
pub(crate) fn error_page_with_link(
    status: StatusCode,
    heading: &str,
    message: &str,
    href: &str,
    label: &str,
) -> Response {
    error_page_to(status, heading, message, Some((href, label)))
}

fn error_page_to(status: StatusCode, heading: &str, message: &str, link: Option<(&str, &str)>) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        heading: heading.to_owned(),
        message: message.to_owned(),
        link: link.map(|(href, label)| (href.to_owned(), label.to_owned())),
    };
    render(&page).with_status(status).into_response()
}

/// A page that only says something (a confirmation), in the error page's frame.
pub(crate) fn message_page(status: StatusCode, heading: &str, message: &str) -> Response {
    error_page(status, heading, message)
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

/// `page` with what lies between `<!--personal:NAME-->` and `<!--/personal:NAME-->` replaced
/// by `part`: a personalised page is its anonymous rendering with the personal parts rendered
/// for the buyer. `None` when the page has no such part.
pub(crate) fn splice(page: &[u8], name: &str, part: &str) -> Option<String> {
    let page = std::str::from_utf8(page).ok()?;
    let open = format!("<!--personal:{name}-->");
    let close = format!("<!--/personal:{name}-->");
    let start = page.find(&open)? + open.len();
    let end = start + page[start..].find(&close)?;
    let mut out = String::with_capacity(page.len() + part.len());
    out.push_str(&page[..start]);
    out.push_str(part);
    out.push_str(&page[end..]);
    Some(out)
}

#[cfg(test)]
mod splice_tests {
    #[test]
    fn only_the_named_part_is_replaced() {
        let page = b"<h1>KEYS</h1><!--personal:recommended--><p>hint</p><!--/personal:recommended--><p>cards</p>";
        assert_eq!(
            super::splice(page, "recommended", "<section>for you</section>").unwrap(),
            "<h1>KEYS</h1><!--personal:recommended--><section>for you</section><!--/personal:recommended--><p>cards</p>"
        );
        assert_eq!(super::splice(page, "pairs", "x"), None);
        assert_eq!(
            super::splice(b"<!--personal:recommended-->unclosed", "recommended", "x"),
            None
        );
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

/// How long until `until`, the way a person says it: "in under a minute", "in 14 minutes",
/// "in 2 hours" (rounded up, so it is never sooner than said).
pub(crate) fn how_long_until(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (until - now).num_seconds().max(0);
    let minutes = (secs + 59) / 60;
    match minutes {
        0 | 1 if secs < 60 => "in under a minute".to_owned(),
        1 => "in 1 minute".to_owned(),
        m if m < 60 => format!("in {m} minutes"),
        m => {
            let hours = (m + 59) / 60;
            if hours == 1 {
                "in 1 hour".to_owned()
            } else {
                format!("in {hours} hours")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::how_long_until;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn waits_are_said_in_words_and_rounded_up() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
        for (secs, want) in [
            (-5, "in under a minute"),
            (0, "in under a minute"),
            (59, "in under a minute"),
            (60, "in 1 minute"),
            (61, "in 2 minutes"),
            (13 * 60 + 1, "in 14 minutes"),
            (3_600, "in 1 hour"),
            (3_601, "in 2 hours"),
        ] {
            assert_eq!(how_long_until(now + Duration::seconds(secs), now), want, "{secs}");
        }
    }
}
