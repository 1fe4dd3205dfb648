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

use accounts::SecretToken;
use catalog::Key;
use entitlements::ports::Credential;
use entitlements::{Entitlement, KeyRef, Principal, can_access};
use hmac::{Hmac, Mac};
use poem::http::{StatusCode, header};
use poem::web::{Data, Json, Path, Redirect};
use poem::{Body, IntoResponse, Request, Response, handler};
use serde::Deserialize;
use sha2::Sha256;

use crate::AppState;
use crate::auth::{SESSION_COOKIE, shop_cookie};
use crate::entitlements_api::{Holdings, holdings};

type HmacSha256 = Hmac<Sha256>;

/// Presigned S3 URLs handed out by `/dl/…` live this long.
const S3_REDIRECT_TTL: Duration = Duration::from_secs(60);

fn message(account: i64, slug: &str, version: &str, sha256: &str, expires: i64) -> String {
    format!("keys-dl-v1|{account}|{slug}|{version}|{sha256}|{expires}")
}

fn sign(key: &[u8], msg: &str) -> String {
    let mut mac =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new_from_slice(b"k").expect("hmac key"));
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn verify(key: &[u8], msg: &str, signature_hex: &str) -> bool {
    let Ok(sig) = hex::decode(signature_hex) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(msg.as_bytes());
    mac.verify_slice(&sig).is_ok()
}

fn json_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error, "message": message }))).into_response()
}

/// Request body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownloadRequest {
    version: Option<String>,
}

fn entitled(
    state: &AppState,
    principal: &entitlements::Principal,
    key: &Key,
    list: &[entitlements::Entitlement],
) -> bool {
    let key_ref = KeyRef {
        slug: key.meta.slug.clone(),
        tier: key.meta.tier,
    };
    can_access(principal, list, &key_ref, state.clock.now()).is_some()
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
    let (principal, list) = match access_of(&state, req).await {
        Ok(Some(access)) => access,
        Ok(None) => return json_error(StatusCode::UNAUTHORIZED, "unauthorized", "sign in to download"),
        Err(()) => return unavailable(),
    };
    match link_with(&state, &principal, &list, &slug, request.version.as_deref()) {
        Ok((url, expires)) => {
            Json(serde_json::json!({ "url": url, "expires_at": expires.to_rfc3339() })).into_response()
        }
        Err(resp) => resp,
    }
}

fn unavailable() -> Response {
    json_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
}

/// The caller's principal and entitlements, from their session cookie or API token, in one
/// database read. `Ok(None)`: no valid credential; `Err`: storage failed (logged).
pub(crate) async fn access_of(state: &AppState, req: &Request) -> Result<Option<(Principal, Vec<Entitlement>)>, ()> {
    let digest;
    let credential = if let Some(auth) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let Some(token) = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")) else {
            return Ok(None);
        };
        digest = SecretToken::from_client(token).digest();
        // Only a token whose scope allows downloads (`download`, `admin`) counts here.
        Credential::DownloadToken(&digest)
    } else {
        let Some(token) = shop_cookie(state, req, SESSION_COOKIE) else {
            return Ok(None);
        };
        digest = SecretToken::from_client(&token).digest();
        Credential::Session(&digest)
    };
    state
        .entitlements
        .for_credential(credential, state.clock.now())
        .await
        .map_err(|e| tracing::error!(error = %e, "entitlement lookup failed"))
}

/// A signed download link for `account`, after checking the KEY, the version and the
/// entitlement. `Err` is the response to send (404, 403, 503).
pub(crate) async fn link_for(
    state: &AppState,
    account: accounts::ports::AccountId,
    slug: &str,
    version: Option<&str>,
) -> Result<(String, chrono::DateTime<chrono::Utc>), Response> {
    let Holdings {
        principal,
        entitlements: list,
        ..
    } = match holdings(state, account).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "entitlement lookup failed");
            return Err(unavailable());
        }
    };
    link_with(state, &principal, &list, slug, version)
}

/// [`link_for`] with the principal's entitlements already read.
#[allow(clippy::result_large_err)] // the error is the response itself, built once per request
fn link_with(
    state: &AppState,
    principal: &Principal,
    list: &[Entitlement],
    slug: &str,
    version: Option<&str>,
) -> Result<(String, chrono::DateTime<chrono::Utc>), Response> {
    let Some(key) = state.catalog.snapshot().get(slug) else {
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
    if !entitled(state, principal, &key, list) {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you do not own this KEY",
        ));
    }
    let account = principal.user.0;
    let expires = state.clock.now() + chrono::Duration::seconds(i64::try_from(state.link_ttl.as_secs()).unwrap_or(300));
    let v = found.version.to_string();
    let sig = sign(
        &state.link_key,
        &message(account, slug, &v, &found.archive.sha256, expires.timestamp()),
    );
    Ok((
        format!("/dl/{account}/{slug}/{v}/{}/{sig}", expires.timestamp()),
        expires,
    ))
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
    let Some(key) = state.catalog.snapshot().get(&slug) else {
        return forbidden("it is not valid");
    };
    let Some(v) = version.parse().ok().and_then(|v| key.version(&v)) else {
        return forbidden("it is not valid");
    };
    if !verify(
        &state.link_key,
        &message(account, &slug, &version, &v.archive.sha256, expires),
        &sig,
    ) {
        return forbidden("it is not valid");
    }
    if state.clock.now().timestamp() > expires {
        return forbidden("it has expired");
    }
    let (principal, list) = match access_of(&state, req).await {
        Ok(Some(access)) => access,
        Ok(None) => return forbidden("sign in (or send your API token) as the account it was issued to"),
        Err(()) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if principal.user.0 != account {
        return forbidden("it was issued to another account");
    }
    if !entitled(&state, &principal, &key, &list) {
        return forbidden("you no longer have access to this KEY");
    }
    if let Err(e) = state
        .downloads
        .record(entitlements::UserId(account), &slug, &version, state.clock.now())
        .await
    {
        tracing::error!(error = %e, "download record failed");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match state
        .archives
        .presigned_get(&v.archive.object_key, S3_REDIRECT_TTL)
        .await
    {
        Ok(Some(url)) => return Redirect::temporary(url).into_response(),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "presigning failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    match state.archives.get(&v.archive.object_key).await {
        Ok(bytes) => Response::builder()
            .content_type("application/gzip")
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{slug}-{version}.tar.gz\""),
            )
            .header(header::CACHE_CONTROL, "private, no-store")
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "archive read failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_every_field() {
        let key = b"secret";
        let base = message(1, "kit", "1.0.0", "aa", 100);
        let sig = sign(key, &base);
        assert!(verify(key, &base, &sig));
        for other in [
            message(2, "kit", "1.0.0", "aa", 100),
            message(1, "kat", "1.0.0", "aa", 100),
            message(1, "kit", "1.0.1", "aa", 100),
            message(1, "kit", "1.0.0", "bb", 100),
            message(1, "kit", "1.0.0", "aa", 101),
        ] {
            assert!(!verify(key, &other, &sig), "{other}");
        }
        assert!(!verify(b"other", &base, &sig));
        assert!(!verify(key, &base, "zz"));
    }
}
