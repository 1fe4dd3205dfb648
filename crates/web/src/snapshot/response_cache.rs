//! A cache of rendered public catalog responses, keyed by catalog revision and URL.
//!
//! Safe with many instances: an entry is only ever served for the catalog revision it was
//! rendered from, so a new ingest (which bumps the revision) invalidates everything at once.
//! Cached: anonymous `GET`s of the public catalog pages (`/marketplace…`) — a page request
//! carrying a cookie or an `Authorization` header renders afresh, so personalised pages never
//! leak between visitors — and every `GET /api/v1/keys…`, signed in or not: the catalog API
//! answers the same to everyone (it reads no session; ownership is `/api/v1/me/entitlements`),
//! and a token is still checked before the cache is asked (`api_guard` runs first).

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Body, Endpoint, Request, Response};
use quick_cache::sync::Cache;

use crate::AppState;

/// Cached when anonymous.
const PUBLIC_PAGES: &str = "/marketplace";
/// Cached whoever asks: the same answer for everyone.
const SAME_FOR_EVERYONE: &str = "/api/v1/keys";

type CachedResponse = (StatusCode, Option<HeaderValue>, bytes::Bytes, Option<poem::PathPattern>);

/// Rendered responses: body, content type and the route template they answered (metrics).
pub struct ResponseCache {
    entries: Cache<(i64, String), CachedResponse>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl ResponseCache {
    /// A cache of at most `capacity` responses.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity.max(1)),
        }
    }
}

impl ResponseCache {
    /// The anonymous rendering of `req`'s URL at catalog `revision` — the page a visitor
    /// without a cookie gets —, when it is kept. Personalised pages start from it and render
    /// only their personal parts.
    pub(crate) fn page(&self, revision: i64, req: &Request) -> Option<bytes::Bytes> {
        match self.entries.get(&(revision, req.uri().to_string())) {
            Some((status, _, body, _)) if status == StatusCode::OK => Some(body),
            _ => None,
        }
    }

    /// Keeps `html`, the anonymous rendering of `req`'s URL at catalog `revision`, for the
    /// visitors that follow (anonymous or not); answers it.
    pub(crate) fn keep_page(&self, revision: i64, req: &Request, html: String) -> bytes::Bytes {
        let body = bytes::Bytes::from(html);
        self.entries.insert(
            (revision, req.uri().to_string()),
            (
                StatusCode::OK,
                Some(HeaderValue::from_static("text/html; charset=utf-8")),
                body.clone(),
                req.data::<poem::PathPattern>().cloned(),
            ),
        );
        body
    }
}

fn cacheable(req: &Request) -> bool {
    let path = req.uri().path();
    let anonymous = !req.headers().contains_key(header::COOKIE) && !req.headers().contains_key(header::AUTHORIZATION);
    req.method() == Method::GET
        && (path.starts_with(SAME_FOR_EVERYONE) || (anonymous && path.starts_with(PUBLIC_PAGES)))
}

/// The middleware function (see [`crate::app`]).
pub(crate) async fn cached<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if !cacheable(&req) {
        return Ok(next.get_response(req).await);
    }
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return Ok(next.get_response(req).await);
    };
    let key = (state.catalog.cache.snapshot().revision(), req.uri().to_string());
    let cache: &Arc<ResponseCache> = &state.catalog.responses;
    if let Some((status, content_type, body, route)) = cache.entries.get(&key) {
        let mut resp = Response::builder().status(status).body(Body::from_bytes(body));
        if let Some(ct) = content_type {
            resp.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        if let Some(route) = route {
            resp.set_data(route);
        }
        return Ok(resp);
    }
    let resp = next.get_response(req).await;
    let status = resp.status();
    if !(status.is_success() || status == StatusCode::NOT_FOUND) {
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = body
        .into_bytes()
        .await
        .map_err(|e| poem::Error::new(e, StatusCode::INTERNAL_SERVER_ERROR))?;
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    let route = parts.extensions.get::<poem::PathPattern>().cloned();
    cache.entries.insert(key, (status, content_type, bytes.clone(), route));
    Ok(Response::from_parts(parts, Body::from_bytes(bytes)))
}
