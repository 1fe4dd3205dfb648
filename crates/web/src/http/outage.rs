//! Failing fast and honestly while storage is down.
//!
//! A request whose session, token or entitlement read failed must not be answered as if the
//! caller were signed out: a client would drop its session, a browser would be sent to sign in.
//! The lookups record the failure (`storage_failed`) in a per-request flag; `fail_honestly`
//! then turns an answer that would refuse or sign the caller out (401, 403, a redirect to
//! `/login`) into 503 with `Retry-After` — JSON under `/api/`, a page elsewhere — and gives
//! every other 503 a `Retry-After` too. Anything
//! answered from memory (catalog pages, search) is answered as usual. The flag lives in the
//! request's task, so nothing is shared between requests or instances.

use std::cell::Cell;

use poem::http::{StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

tokio::task_local! {
    static FAILED: Cell<bool>;
}

/// Seconds a client is told to wait.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// Records that a storage read this request depends on failed.
pub(crate) fn storage_failed() {
    let _ = FAILED.try_with(|c| c.set(true));
}

fn signs_out(resp: &Response) -> bool {
    match resp.status() {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => true,
        s if s.is_redirection() => resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.starts_with("/login")),
        _ => false,
    }
}

/// The 503 a request gets instead of a wrong refusal.
#[must_use]
pub fn unavailable(api: bool) -> Response {
    let message = "the shop's database cannot be reached right now; nothing was changed — try again in a few seconds";
    let mut resp = if api {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            poem::web::Json(serde_json::json!({
                "error": "unavailable", "message": message, "field": null, "parameter": null
            })),
        )
            .into_response()
    } else {
        crate::http::page::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "We will be right back",
            "Part of the shop cannot be reached right now. Nothing was changed and you are still signed in: try again in a few seconds.",
        )
    };
    if let Ok(v) = RETRY_AFTER_SECS.to_string().parse() {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Middleware: runs the request with a fresh failure flag and, when a lookup failed and the
/// answer would refuse or sign the caller out, answers 503 instead.
pub(crate) async fn fail_honestly<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let api = req.uri().path().starts_with("/api/");
    let (resp, failed) = FAILED
        .scope(Cell::new(false), async move {
            let resp = next.get_response(req).await;
            (resp, FAILED.with(Cell::get))
        })
        .await;
    if failed && signs_out(&resp) {
        return Ok(unavailable(api));
    }
    let mut resp = resp;
    // Every 503 says when to come back.
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(header::RETRY_AFTER)
        && let Ok(v) = RETRY_AFTER_SECS.to_string().parse()
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(resp)
}
