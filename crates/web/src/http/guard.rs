//! Middleware that holds for every route, whatever a handler does:
//!
//! * `access_log`: one structured line per request (method, path with secrets redacted —
//!   invite tokens, download-link signatures — status, duration); query strings are never
//!   logged.
//! * `limit_body`: request bodies are bounded (64 KiB; 256 KiB for `/webhooks/stripe`); a
//!   larger one is refused with 413 and a JSON error before any handler reads it.
//! * `api_guard` (under `/api/`): an `Authorization: Bearer` token must be live and its
//!   scope must allow the request (`read` → safe methods, `download` → download links,
//!   `admin` → state changes and the admin API); tokens never create tokens or change
//!   credentials. A state-changing request authenticated by cookie must be JSON
//!   (`Content-Type: application/json`) or carry the session's `X-CSRF-Token`: a cross-site
//!   form can send neither.
//! * `response_headers`: security headers, `Strict-Transport-Security` when the shop is
//!   served over HTTPS, and `Cache-Control: no-store` on every personalised or secret-bearing
//!   response.

use std::time::Instant;

use accounts::{Access, SecretToken};
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::web::Json;
use poem::{Body, Endpoint, IntoResponse, Request, Response};

use crate::AppState;
use crate::http::session::{Caller, Via};

/// Largest request body accepted anywhere but the webhook.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest webhook body accepted.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;

/// A JSON error body (`{"error", "message"}`), the shape every API error has.
pub(crate) fn json_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error, "message": message }))).into_response()
}

/// The path with secrets replaced by `[redacted]`: invite tokens (`/invites/{token}/…`,
/// `/join/{token}`), password reset tokens (`/reset/{token}`) and download-link signatures
/// (`/dl/{account}/{slug}/{version}/{expires}/{signature}`).
#[must_use]
pub fn redacted_path(path: &str) -> String {
    let mut parts: Vec<&str> = path.split('/').collect();
    for i in 0..parts.len() {
        if parts[i] == "invites" && i + 1 < parts.len() && parts[i + 1].starts_with("keys_inv_") {
            parts[i + 1] = "[redacted]";
        }
    }
    if parts.get(1) == Some(&"dl") && parts.len() == 7 {
        parts[6] = "[redacted]";
    }
    // Single-use links: `/reset/{token}` (password reset) and `/join/{token}` (invitation).
    if matches!(parts.get(1), Some(&"reset" | &"join" | &"verify")) && parts.len() >= 3 && !parts[2].is_empty() {
        parts[2] = "[redacted]";
    }
    parts.join("/")
}

/// The request id a trusted proxy sent (`X-Request-Id`: 1 to 128 letters, digits, `-`, `_`,
/// `.`), or a fresh one.
fn request_id(req: &Request) -> String {
    let from_proxy = req.extensions().get::<AppState>().is_some_and(|state| {
        req.remote_addr()
            .as_socket_addr()
            .is_some_and(|peer| state.http.trusted_proxies.iter().any(|n| n.contains(&peer.ip())))
    });
    let sent = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    match sent {
        Some(id) if from_proxy => id.to_owned(),
        _ => uuid::Uuid::new_v4().simple().to_string(),
    }
}

/// One log line per request, secrets redacted (replaces `poem::middleware::Tracing`, which
/// logs the full URI). Every request gets an id — from a trusted proxy's `X-Request-Id`, or
/// fresh —, echoed in the response's `X-Request-Id`, carried by every log line of the request
/// (a span) and added to JSON error bodies (`request_id`).
pub(crate) async fn access_log<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    use tracing::Instrument as _;
    let started = Instant::now();
    let method = req.method().clone();
    let path = redacted_path(req.uri().path());
    let id = request_id(&req);
    let http = req.extensions().get::<AppState>().map(|s| s.http.clone());
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp = next.get_response(req).instrument(span.clone()).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    if http
        .as_ref()
        .is_some_and(|h| h.draining.load(std::sync::atomic::Ordering::Relaxed))
    {
        // Shutting down: the client opens its next connection elsewhere.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status().as_u16() >= 400 && json {
        let body = resp.take_body().into_bytes().await.unwrap_or_default();
        let body = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(mut m)) if m.contains_key("error") => {
                m.insert("request_id".into(), serde_json::Value::String(id.clone()));
                serde_json::to_vec(&m).map_or(body, bytes::Bytes::from)
            }
            _ => body,
        };
        resp.headers_mut().remove(header::CONTENT_LENGTH);
        resp.set_body(body);
    }
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(m) = http.as_ref().map(|h| &h.metrics) {
        let route = resp
            .data::<poem::PathPattern>()
            .map_or(super::metrics::UNMATCHED, |p| &*p.0);
        m.observe(
            super::metrics::method_label(&method),
            route,
            status,
            elapsed.as_secs_f64(),
        );
    }
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let _in = span.enter();
    if resp.status().is_server_error() {
        tracing::warn!(%method, %path, status, duration_us = us, "request");
    } else {
        tracing::info!(%method, %path, status, duration_us = us, "request");
    }
    Ok(resp)
}

fn too_large(limit: usize) -> Response {
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("the request body is larger than {limit} bytes"),
    )
}

/// Bounds request bodies: a declared length over the limit is refused at once; a streamed
/// body is read up to the limit and refused past it.
pub(crate) async fn limit_body<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let limit = if req.uri().path() == "/webhooks/stripe" {
        MAX_WEBHOOK_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => return Ok(too_large(limit)),
        Some(_) => {}
        None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
            let body = req.take_body();
            match body.into_bytes_limit(limit).await {
                Ok(bytes) => req.set_body(Body::from_bytes(bytes)),
                Err(_) => return Ok(too_large(limit)),
            }
        }
        None => {}
    }
    Ok(next.get_response(req).await)
}

/// What a request needs from an API token.
fn access_needed(method: &Method, path: &str) -> Access {
    if path.starts_with("/api/v1/admin/") {
        Access::Admin
    } else if method == Method::POST && path.starts_with("/api/v1/keys/") && path.ends_with("/download") {
        Access::Download
    } else if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (method == Method::DELETE && path.starts_with("/api/v1/tokens/"))
    {
        // Reading, or revoking a token (any token may be revoked by its owner's tokens: it
        // only ever takes power away).
        Access::Read
    } else {
        Access::Write
    }
}

/// Requests a token may never make: creating tokens and changing credentials need the
/// signed-in browser session.
fn session_only(method: &Method, path: &str) -> bool {
    (method == Method::POST && path == "/api/v1/tokens")
        || matches!(
            path,
            "/api/v1/auth/password" | "/api/v1/auth/logout-everywhere" | "/api/v1/auth/logout"
        )
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|ct| ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json")))
}

/// Token scopes and cookie CSRF for the JSON API (see the module docs).
pub(crate) async fn api_guard<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/api/v1/") {
        return Ok(next.get_response(req).await);
    }
    let method = req.method().clone();
    if !crate::http::spec::is_declared(&method, &path) {
        // Not an operation: the router answers (404, or 405 with the methods there are).
        let mut resp = next.get_response(req).await;
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Some(methods) = crate::http::spec::allowed_methods(&path)
        {
            let list: Vec<&str> = methods.iter().map(Method::as_str).collect();
            if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
        }
        return Ok(resp);
    }
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return Ok(next.get_response(req).await);
    };
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        let Some(token) = auth
            .to_str()
            .ok()
            .and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")))
        else {
            return Ok(json_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send a personal API token as `Authorization: Bearer <token>`",
            ));
        };
        if session_only(&method, &path) {
            return Ok(json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "API tokens cannot create tokens or change credentials; sign in with the browser session",
            ));
        }
        let owner = match state
            .identity
            .tokens
            .owner(&SecretToken::from_client(token).digest(), state.clock.now())
            .await
        {
            Ok(Some(o)) => o,
            Ok(None) => {
                return Ok(json_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "this API token is unknown, revoked or expired; create a new one",
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                return Ok(json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "try again shortly",
                ));
            }
        };
        let needed = access_needed(&method, &path);
        if !owner.scope.permits(needed) {
            let wanted = match needed {
                Access::Download => "download",
                _ => "admin",
            };
            return Ok(json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!(
                    "this token's scope `{}` does not allow this request; it needs a token with scope `{wanted}`",
                    owner.scope.as_str()
                ),
            ));
        }
        req.extensions_mut().insert(Caller {
            account: owner.account,
            via: Via::Token(owner.scope),
        });
        return Ok(next.get_response(req).await);
    }
    // Issuing a download link changes nothing (the link is signed, short-lived and checked
    // again when used; its answer is unreadable cross-site), and its body is optional: exempt.
    let changes_state = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        && access_needed(&method, &path) != Access::Download;
    if changes_state && req.headers().contains_key(header::COOKIE) && !is_json(&req) {
        // A cookie-authenticated state change without a JSON body: only the session's own
        // CSRF token lets it through.
        let Some(sent) = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return Ok(json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send this request with `Content-Type: application/json` (an empty body is fine) or with the session's `X-CSRF-Token` header",
            ));
        };
        let ok = crate::http::session::session_of(&state, &req)
            .await
            .is_some_and(|s| crate::http::session::constant_time_eq(s.csrf_token.as_bytes(), sent.as_bytes()));
        if !ok {
            return Ok(json_error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the `X-CSRF-Token` header does not match this session",
            ));
        }
    }
    Ok(next.get_response(req).await)
}

/// Paths whose answers are personal or carry secrets.
fn personal_path(path: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "/account",
        "/api/v1/me/",
        "/api/v1/tokens",
        "/api/v1/auth/",
        "/api/v1/invites/",
        "/api/v1/admin/",
        "/checkout",
        "/pay/",
        "/dl/",
        "/join/",
        "/forgot",
        "/reset/",
        "/verify/",
        "/login",
        "/signup",
        "/discover",
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
        || path.starts_with("/api/v1/orgs")
        || (path.starts_with("/api/v1/keys/") && path.ends_with("/download"))
}

const CSP_BASE: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";
const DOCS_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// The page CSP: forms post to this site, and (Chromium applies `form-action` to the
/// redirects after a form post too) may be redirected on to the payment provider's checkout
/// and billing portal origins.
#[must_use]
pub fn page_csp(redirect_origins: &[String]) -> String {
    let mut form_action = String::from("'self'");
    for origin in redirect_origins {
        form_action.push(' ');
        form_action.push_str(origin);
    }
    format!("{CSP_BASE}; form-action {form_action}")
}

/// Security headers, HSTS and `no-store` (see the module docs).
pub(crate) async fn response_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let docs = path.starts_with("/api/docs");
    let credentialed = req.headers().contains_key(header::AUTHORIZATION)
        || req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("keys_session="));
    let policy = req.extensions().get::<AppState>().map(|s| s.http.clone());
    let mut resp = next.get_response(req).await;
    let h = resp.headers_mut();
    let csp = if docs {
        DOCS_CSP.to_owned()
    } else {
        policy
            .as_ref()
            .map_or_else(|| page_csp(&[]), |p| p.csp.as_str().to_owned())
    };
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.entry(header::CONTENT_SECURITY_POLICY).or_insert(v);
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    if policy.as_ref().is_some_and(|p| p.https) {
        h.entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    if (credentialed && !path.starts_with("/static/")) || personal_path(&path) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_logged_paths() {
        assert_eq!(
            redacted_path("/api/v1/invites/keys_inv_0123abcd/accept"),
            "/api/v1/invites/[redacted]/accept"
        );
        assert_eq!(
            redacted_path("/dl/7/kit/1.0.0/1767225600/abcdef0123"),
            "/dl/7/kit/1.0.0/1767225600/[redacted]"
        );
        assert_eq!(redacted_path("/api/v1/orgs/3/invites"), "/api/v1/orgs/3/invites");
        assert_eq!(redacted_path("/marketplace/kit"), "/marketplace/kit");
        assert_eq!(redacted_path("/reset/rst_0123abcd"), "/reset/[redacted]");
        assert_eq!(redacted_path("/join/keys_inv_0123abcd"), "/join/[redacted]");
    }

    #[test]
    fn token_access_follows_the_request() {
        assert_eq!(access_needed(&Method::GET, "/api/v1/me/orders"), Access::Read);
        assert_eq!(access_needed(&Method::GET, "/api/v1/admin/customers"), Access::Admin);
        assert_eq!(
            access_needed(&Method::POST, "/api/v1/keys/kit/download"),
            Access::Download
        );
        assert_eq!(access_needed(&Method::POST, "/api/v1/checkout"), Access::Write);
        assert_eq!(access_needed(&Method::DELETE, "/api/v1/tokens/3"), Access::Read);
        assert_eq!(
            access_needed(&Method::DELETE, "/api/v1/orgs/3/members/4"),
            Access::Write
        );
        assert!(session_only(&Method::POST, "/api/v1/tokens"));
        assert!(session_only(&Method::POST, "/api/v1/auth/password"));
        assert!(!session_only(&Method::POST, "/api/v1/auth/login"));
        assert!(!session_only(&Method::GET, "/api/v1/tokens"));
    }

    #[test]
    fn personal_answers_are_not_stored() {
        for p in [
            "/account/billing",
            "/api/v1/me/entitlements",
            "/api/v1/tokens",
            "/api/v1/orgs/4/invites",
            "/api/v1/keys/kit/download",
            "/dl/1/kit/1.0.0/1/sig",
        ] {
            assert!(personal_path(p), "{p}");
        }
        for p in ["/marketplace", "/api/v1/keys", "/static/app.css", "/pricing"] {
            assert!(!personal_path(p), "{p}");
        }
    }

    #[test]
    fn the_form_action_allows_the_provider_origins() {
        assert!(page_csp(&[]).contains("form-action 'self';") || page_csp(&[]).ends_with("form-action 'self'"));
        let csp = page_csp(&["https://checkout.stripe.com".into()]);
        assert!(csp.ends_with("form-action 'self' https://checkout.stripe.com"), "{csp}");
    }
}
