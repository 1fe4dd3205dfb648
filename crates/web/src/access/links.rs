//! Gated downloads.
//!
//! `POST /api/v1/keys/{slug}/download` (body optionally `{"version": "1.2.0"}`, default the
//! current version) answers `{url, expires_at}` only to a signed-in, entitled caller. The URL is
//! `/dl/{account}/{slug}/{version}/{expires}/{signature}`: an HMAC-SHA256 (key shared by every
//! instance through the database) over the account, KEY, version, the archive's sha256 and the
//! expiry, so nothing in it can be changed — not the object, not the owner, not the time. When
//! the link is used the server checks again: the signature, the expiry, that the caller's
//! session is the link's account, and that the account is still entitled *now* (a revoked
//! entitlement gets 403 even before expiry). Then it streams the archive (local store) or
//! redirects to a presigned S3 URL valid 60 s. Every download is recorded.

use std::time::Duration;

use catalog::Key;
use entitlements::{ArchiveRef, IssueError, KeyRef, PresentedLink};
use poem::http::{StatusCode, header};
use poem::web::{Data, Json, Path, Redirect};
use poem::{Body, IntoResponse, Request, Response, handler};
use serde::Deserialize;

use crate::AppState;
use crate::http::access_cache::{Holdings, holdings};
use crate::http::extract::ProblemError;
use crate::http::problem::e;
use crate::http::session::{Read, access_of};

/// Presigned S3 URLs handed out by `/dl/…` live this long.
const S3_REDIRECT_TTL: Duration = Duration::from_secs(60);

fn json_error(status: StatusCode, error: &str, message: &str) -> Response {
    ProblemError(status, e(error, message).0).response()
}

/// Request body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownloadRequest {
    version: Option<String>,
}

fn archive_of<'a>(key: &Key, version: &'a str, sha256: &'a str) -> ArchiveRef<'a> {
    ArchiveRef {
        key: KeyRef {
            slug: key.meta.slug.clone(),
            tier: key.meta.tier,
        },
        version,
        sha256,
    }
}

#[handler]
pub(crate) async fn issue(state: Data<&AppState>, req: &Request, Path(slug): Path<String>, body: Body) -> Response {
    let bytes = body.into_bytes().await.unwrap_or_default();
    let request: DownloadRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        DownloadRequest::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &format!("body must be {{\"version\": \"MAJOR.MINOR.PATCH\"}} or empty: {e}"),
                );
            }
        }
    };
    let held = match access_of(&state, req, Read::Cached).await {
        Ok(Some(access)) => access,
        Ok(None) => return json_error(StatusCode::UNAUTHORIZED, "unauthorized", "sign in to download"),
        Err(()) => return unavailable(),
    };
    match link_with(&state, &held, &slug, request.version.as_deref()) {
        Ok((url, expires)) => {
            Json(serde_json::json!({ "url": url, "expires_at": expires.to_rfc3339() })).into_response()
        }
        Err(resp) => resp,
    }
}

fn unavailable() -> Response {
    json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
}

/// A signed download link for `account`, after checking the KEY, the version and the
/// entitlement. `Err` is the response to send (404, 403, 503).
pub(crate) async fn link_for(
    state: &AppState,
    account: accounts::ports::AccountId,
    slug: &str,
    version: Option<&str>,
) -> Result<(String, chrono::DateTime<chrono::Utc>), Response> {
    let held = match holdings(state, account).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "entitlement lookup failed");
            return Err(unavailable());
        }
    };
    link_with(state, &held, slug, version)
}

/// [`link_for`] with the principal's entitlements already read.
#[allow(clippy::result_large_err)] // the error is the response itself, built once per request
fn link_with(
    state: &AppState,
    held: &Holdings,
    slug: &str,
    version: Option<&str>,
) -> Result<(String, chrono::DateTime<chrono::Utc>), Response> {
    let Some(key) = state.catalog.cache.snapshot().get(slug) else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no KEY has the slug `{slug}`"),
        ));
    };
    let found = match version {
        None => key.current(),
        Some(v) => v.parse().ok().and_then(|v| key.version(&v)),
    };
    let Some(found) = found else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("`{slug}` has no version `{}`", version.unwrap_or_default()),
        ));
    };
    let v = found.version.to_string();
    // Only the entitlements that could cover this KEY: a buyer may hold 100 000.
    let candidates = held.for_key(&key.meta.slug);
    match state.access.links.issue(
        &held.principal,
        &candidates,
        &archive_of(&key, &v, &found.archive.sha256),
        state.clock.now(),
    ) {
        Ok(link) => Ok((link.path, link.expires_at)),
        Err(err @ (IssueError::NotEntitled | IssueError::UnderDispute)) => {
            Err(json_error(StatusCode::FORBIDDEN, "forbidden", &err.to_string()))
        }
    }
}

fn forbidden(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        format!("This download link cannot be used: {why}. Ask for a new link from the KEY page."),
    )
        .into_response()
}

#[handler]
pub(crate) async fn serve(
    state: Data<&AppState>,
    req: &Request,
    Path((account, slug, version, expires, sig)): Path<(i64, String, String, i64, String)>,
) -> Response {
    let invalid = entitlements::LinkRefused::Invalid.to_string();
    let Some(key) = state.catalog.cache.snapshot().get(&slug) else {
        return forbidden(&invalid);
    };
    let Some(v) = version.parse().ok().and_then(|v| key.version(&v)) else {
        return forbidden(&invalid);
    };
    // Redemption re-checks the database, never this instance's cache.
    let caller = match access_of(&state, req, Read::Database).await {
        Ok(access) => access,
        Err(()) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let presented = PresentedLink {
        account,
        expires,
        signature: &sig,
    };
    let archive = archive_of(&key, &version, &v.archive.sha256);
    let caller = caller.as_ref().map(|h| (&h.principal, h.entitlements.as_slice()));
    let user = match state
        .access
        .links
        .admit(&presented, &archive, caller, state.clock.now())
    {
        Ok(user) => user,
        Err(refused) => return forbidden(&refused.to_string()),
    };
    // The file must be there before the buyer is sent to it: with S3, a presigned redirect
    // to a store that is down (or lost the object) would fail in the browser with no word
    // from us. Only a download that can be served is recorded.
    let object = &v.archive.object_key;
    let archives = &state.access.archives;
    let served = match archives.presigned_get(object, S3_REDIRECT_TTL).await {
        Ok(Some(url)) => match archives.exists(object).await {
            Ok(true) => Ok(Redirect::temporary(url).into_response()),
            Ok(false) => Err(format!("object {object} is missing")),
            Err(e) => Err(e.to_string()),
        },
        Ok(None) => match archives.get(object).await {
            Ok(bytes) => Ok(Response::builder()
                .content_type("application/gzip")
                .header(
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{slug}-{version}.tar.gz\""),
                )
                .header(header::CACHE_CONTROL, "private, no-store")
                .body(bytes)),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    let resp = match served {
        Ok(resp) => resp,
        Err(why) => {
            tracing::error!(error = %why, %slug, %version, "archive storage unavailable");
            return storage_unavailable();
        }
    };
    if let Err(e) = state
        .access
        .downloads
        .record(user, &slug, &version, state.clock.now())
        .await
    {
        tracing::error!(error = %e, "download record failed");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    resp
}

/// The file store is down (or lost the file): say so, and what to do.
fn storage_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Downloads are unavailable right now: the file store is not answering. Nothing was used up; \
         try again in a minute with a new link from the KEY page.",
    )
        .into_response()
}
