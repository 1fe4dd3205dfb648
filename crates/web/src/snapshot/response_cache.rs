//! A cache of rendered public catalog responses, keyed by catalog revision and URL.
//!
//! Safe with many instances: an entry is only ever served for the catalog revision it was
//! rendered from, so a new ingest (which bumps the revision) invalidates everything at once.
//! Only anonymous `GET`s of the public catalog are cached — a request carrying a cookie or an
//! `Authorization` header always renders afresh, so personalised pages (later: ownership,
//! prices with credit) never leak between visitors.

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Body, Endpoint, Request, Response};
use quick_cache::sync::Cache;

use crate::AppState;

const CACHED_PREFIXES: &[&str] = &["/marketplace", "/api/v1/keys"];

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

fn cacheable(req: &Request) -> bool {
    req.method() == Method::GET
        && CACHED_PREFIXES.iter().any(|p| req.uri().path().starts_with(p))
        && !req.headers().contains_key(header::COOKIE)
        && !req.headers().contains_key(header::AUTHORIZATION)
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
