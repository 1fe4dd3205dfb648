//! Who is calling: the shop's cookies (named with the `__Host-` prefix when secure), the
//! client address (behind trusted proxies), the caller behind a session cookie or API token,
//! and the one-read credential → principal + entitlements lookup of downloads and discovery.

use std::sync::Arc;

use accounts::ports::{AccountId, Session};
use accounts::{SecretToken, TokenScope};
use chrono::{DateTime, Utc};
use entitlements::ports::Credential;
use poem::Request;
use poem::http::header;

use crate::AppState;
use crate::http::access_cache::{Holdings, holdings};

/// Session cookie (named `__Host-keys_session` when cookies are secure).
pub const SESSION_COOKIE: &str = "keys_session";
/// Pre-sign-in CSRF cookie (double submit).
pub const CSRF_COOKIE: &str = "keys_csrf";

/// The value of a request cookie.
#[must_use]
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The name a cookie has on this shop: with the `__Host-` prefix when cookies are secure (the
/// browser then only accepts it over HTTPS, for this host only, for the whole path).
pub(crate) fn cookie_name(state: &AppState, base: &str) -> String {
    if state.http.secure_cookies {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The value of one of the shop's cookies (by its base name).
pub(crate) fn shop_cookie(state: &AppState, req: &Request, base: &str) -> Option<String> {
    cookie(req, &cookie_name(state, base))
}

pub(crate) fn set_cookie(state: &AppState, base: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.http.secure_cookies { "; Secure" } else { "" };
    let name = cookie_name(state, base);
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// The client's address: the peer, unless the peer is a trusted proxy — then the right-most
/// address of `X-Forwarded-For` that is not a trusted proxy itself (what a client writes
/// further left cannot be believed).
pub(crate) fn client_address(state: &AppState, req: &Request) -> String {
    let peer = req.remote_addr().as_socket_addr().map(std::net::SocketAddr::ip);
    let trusted = |ip: &std::net::IpAddr| state.http.trusted_proxies.iter().any(|n| n.contains(ip));
    let Some(peer) = peer else {
        return "unknown".to_owned();
    };
    if !trusted(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !trusted(ip))
        .or(forwarded.first())
        .unwrap_or(&peer)
        .to_string()
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Via {
    /// The browser session (cookie).
    Session,
    /// A personal API token of this scope.
    Token(TokenScope),
}

/// The account behind a request (set by `crate::http::guard::api_guard` for token requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) account: AccountId,
    pub(crate) via: Via,
}

/// Who is calling: a personal API token (`Authorization: Bearer …`) or the session cookie.
pub(crate) async fn caller_of(state: &AppState, req: &Request) -> Option<Caller> {
    if let Some(c) = req.extensions().get::<Caller>() {
        return Some(c.clone());
    }
    if let Some(auth) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer "))?;
        return match state
            .identity
            .tokens
            .owner(&SecretToken::from_client(token).digest(), state.clock.now())
            .await
        {
            Ok(owner) => owner.map(|o| Caller {
                account: o.account,
                via: Via::Token(o.scope),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "token lookup failed");
                crate::http::outage::storage_failed();
                None
            }
        };
    }
    session_of(state, req).await.map(|s| Caller {
        account: s.account,
        via: Via::Session,
    })
}

/// The account behind a request: a personal API token or the session cookie. The JSON API
/// accepts either (a token's scope is checked by `crate::http::guard::api_guard`).
pub async fn account_of(state: &AppState, req: &Request) -> Option<AccountId> {
    caller_of(state, req).await.map(|c| c.account)
}

/// The live session of a request's cookie, if any.
pub async fn session_of(state: &AppState, req: &Request) -> Option<Session> {
    let token = shop_cookie(state, req, SESSION_COOKIE)?;
    match live_session(state, &token).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "session lookup failed");
            crate::http::outage::storage_failed();
            None
        }
    }
}

/// The live session of a session token: from this instance's cache when it is trusted, else
/// from the database (and kept when nothing changed meanwhile).
async fn live_session(state: &AppState, token: &str) -> Result<Option<Session>, accounts::ports::AccountStoreError> {
    let secret = SecretToken::from_client(token);
    let now = state.clock.now();
    let cache = &state.access.cache;
    if let Some(s) = cache.session(&secret.digest(), now) {
        return Ok(Some(s));
    }
    let ticket = cache.ticket();
    let found = state.identity.accounts.authenticate(&secret, now).await?;
    if let (Some(t), Some(s)) = (ticket, &found) {
        cache.put_session(t, s.clone());
    }
    Ok(found)
}

/// Seconds until `until` (at least 1), for `Retry-After`.
pub(crate) fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1)
}

/// How long to wait before retrying when every password check slot is taken.
pub(crate) const BUSY_RETRY_SECS: u64 = 2;

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where [`access_of`] may read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// This instance's cache of sessions and holdings, when it is trusted (pages, link issue).
    Cached,
    /// The database, always (a download's redemption re-checks there).
    Database,
}

/// The caller's principal and entitlements, from their session cookie or API token: a session
/// from this instance's cache when it is trusted (and `read` allows), else one database read.
/// `Ok(None)`: no valid credential; `Err`: storage failed (logged).
pub(crate) async fn access_of(state: &AppState, req: &Request, read: Read) -> Result<Option<Arc<Holdings>>, ()> {
    let failed = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "entitlement lookup failed");
        crate::http::outage::storage_failed();
    };
    if read == Read::Cached && !req.headers().contains_key(header::AUTHORIZATION) && state.access.cache.is_trusted() {
        let Some(token) = shop_cookie(state, req, SESSION_COOKIE) else {
            return Ok(None);
        };
        return match live_session(state, &token).await {
            Ok(Some(s)) => holdings(state, s.account).await.map(Some).map_err(|e| failed(&e)),
            Ok(None) => Ok(None),
            Err(e) => {
                failed(&e);
                Err(())
            }
        };
    }
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
        .access
        .entitlements
        .for_credential(credential, state.clock.now())
        .await
        .map(|found| found.map(|(principal, list)| Arc::new(Holdings::new(principal, list, Vec::new(), Vec::new()))))
        .map_err(|e| failed(&e))
}

/// The organisations `account` owns or administers — those it may buy for — as (id, name),
/// for the "buy for <organisation>" buttons. Empty when storage fails (the buyer can still buy
/// for themselves).
pub(crate) async fn managed_orgs(state: &AppState, account: accounts::ports::AccountId) -> Vec<(i64, String)> {
    state
        .identity
        .orgs
        .memberships(account)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, role)| role.manages())
        .map(|(o, _)| (o.id.0, o.name))
        .collect()
}

/// Longest `?next=` path kept.
const MAX_NEXT: usize = 512;

/// A `?next=` return address, when it is safe to send a browser there after signing in: a path
/// on this site (`/…`, never `//host` or `/\host`, which browsers read as another site), in
/// printable ASCII (it goes into a `Location` header as it is), not an API, download or
/// sign-in route. Anything else is dropped and the default place is used.
#[must_use]
pub fn safe_next(raw: &str) -> Option<&str> {
    let raw = raw.trim();
    let shaped = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && raw.len() <= MAX_NEXT
        && raw.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    let route = raw.split(['?', '#']).next().unwrap_or("");
    let excluded = ["/api", "/dl/", "/login", "/signup", "/logout", "/webhooks"]
        .iter()
        .any(|p| route == *p || route.starts_with(&format!("{}/", p.trim_end_matches('/'))));
    (shaped && !excluded).then_some(raw)
}

/// `/login?next=…` (or `/signup?next=…`) that comes back to `next` (when it is safe).
#[must_use]
pub fn with_next(page: &str, next: &str) -> String {
    match safe_next(next) {
        Some(n) => format!(
            "{page}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", n)
                .finish()
        ),
        None => page.to_owned(),
    }
}

#[cfg(test)]
mod next_tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed() {
        for ok in [
            "/marketplace/postgres-failover-runbook",
            "/marketplace/postgres-failover-runbook#access",
            "/checkout/review?sku=plan:scale:monthly",
            "/marketplace?q=postgres%20failover&kind=runbook",
            "/account/billing?org=3",
            "/",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/path",
            "/\\evil.example",
            "/%0d%0aSet-Cookie:x=1".replace("%0d%0a", "\r\n").as_str(),
            "/marketplace/a b",
            "javascript:alert(1)",
            "marketplace",
            "/api/v1/me/entitlements",
            "/api",
            "/dl/1/a/1.0.0/1/sig",
            "/login",
            "/login?next=/x",
            "/signup",
            "/logout",
            "/webhooks/stripe",
            "/é",
            &format!("/{}", "a".repeat(600)),
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(
            with_next("/login", "/marketplace/demo-kit#access"),
            "/login?next=%2Fmarketplace%2Fdemo-kit%23access"
        );
        assert_eq!(with_next("/signup", "//evil.example"), "/signup");
    }
}
