//! The signed-in buyer's library: the KEY page's locked / unlocked state, `/account/keys`, and
//! the no-JavaScript download form (`POST /marketplace/{slug}/download` → 303 to a signed
//! link). Every decision comes from the entitlements domain on the server.

use std::sync::Arc;

use askama::Template;
use catalog::Key;
use entitlements::{Entitlement, Holder, KeyRef, Scope, Source, can_access};
use poem::http::StatusCode;
use poem::web::{Data, Html, Path, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;

use crate::AppState;
use crate::http::access_cache::holdings;
use crate::http::extract::{HasCsrf, PageSession, SignedInForm};
use crate::http::session::session_of;

/// How an entitlement gives access, in words.
fn how(e: &Entitlement, org_names: &[(i64, String)]) -> String {
    let what = match (&e.source, &e.scope) {
        (Source::ManualGrant, _) => "granted by support".to_owned(),
        (Source::Purchase, _) => format!("bought on {}", e.granted_at.date_naive()),
        (Source::BundlePurchase, Scope::Bundle { bundle, .. }) => {
            format!("bought in the {bundle} bundle on {}", e.granted_at.date_naive())
        }
        (Source::BundlePurchase, _) => format!("bought in a bundle on {}", e.granted_at.date_naive()),
        (Source::Subscription, Scope::Plan { tier }) => {
            format!("via {} subscription", crate::http::page::label(tier.as_str()))
        }
        (Source::Subscription, _) => "via subscription".to_owned(),
        (Source::FreeUpgrade, _) => format!("free upgrade on {}", e.granted_at.date_naive()),
    };
    match e.holder {
        Holder::User(_) => what,
        Holder::Organisation(o) => match org_names.iter().find(|(id, _)| *id == o.0) {
            Some((_, name)) => format!("via organisation {name} ({what})"),
            None => format!("via organisation #{} ({what})", o.0),
        },
    }
}

/// What the visitor may do with the KEY.
pub(crate) enum Access {
    /// Not signed in.
    Anonymous,
    /// Signed in, no entitlement; the CSRF token for the Buy form, and the organisations the
    /// buyer may buy it for.
    Locked { csrf: String, buy_for: Vec<(i64, String)> },
    /// Entitled: how, and the CSRF token for the download forms.
    Owned { how: String, csrf: String },
}

/// The visitor's access to a KEY.
pub(crate) async fn access_to(state: &AppState, req: &Request, key: &Key) -> Access {
    let Some(session) = session_of(state, req).await else {
        return Access::Anonymous;
    };
    let held = match holdings(state, session.account).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "entitlement lookup failed");
            return Access::Locked {
                csrf: session.csrf_token.clone(),
                buy_for: Vec::new(),
            };
        }
    };
    let key_ref = KeyRef {
        slug: key.meta.slug.clone(),
        tier: key.meta.tier,
    };
    let candidates = held.for_key(&key_ref.slug);
    match can_access(&held.principal, &candidates, &key_ref, state.clock.now()) {
        Some(e) => Access::Owned {
            how: how(e, &held.org_names),
            csrf: session.csrf_token,
        },
        None => Access::Locked {
            csrf: session.csrf_token.clone(),
            buy_for: held.managed.clone(),
        },
    }
}

/// The download form.
#[derive(Debug, Deserialize)]
pub(crate) struct DownloadForm {
    csrf: String,
    version: String,
}

impl HasCsrf for DownloadForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[handler]
pub(crate) async fn download_form(
    state: Data<&AppState>,
    Path(slug): Path<String>,
    SignedInForm(session, f): SignedInForm<DownloadForm>,
) -> Response {
    match crate::access::links::link_for(&state, session.account, &slug, Some(&f.version)).await {
        Ok((url, _)) => Redirect::see_other(url).into_response(),
        Err(resp) => resp,
    }
}

struct LibraryItem {
    slug: String,
    name: String,
    kind_label: &'static str,
    how: String,
    versions: Vec<String>,
}

#[derive(Template)]
#[template(path = "library.html")]
struct LibraryPage {
    items: Vec<LibraryItem>,
    csrf: String,
    next_steps: Vec<crate::discover::RecView>,
}

#[handler]
pub(crate) async fn account_keys(state: Data<&AppState>, req: &Request, PageSession(session): PageSession) -> Response {
    let held = match holdings(&state, session.account).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "entitlement lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let now = state.clock.now();
    let index = state.catalog.cache.snapshot();
    let items = index
        .iter()
        .filter_map(|key: &Arc<Key>| {
            let key_ref = KeyRef {
                slug: key.meta.slug.clone(),
                tier: key.meta.tier,
            };
            let candidates = held.for_key(&key_ref.slug);
            can_access(&held.principal, &candidates, &key_ref, now).map(|e| LibraryItem {
                slug: key.meta.slug.to_string(),
                name: key.meta.name.clone(),
                kind_label: crate::http::page::kind_label(key.meta.kind),
                how: how(e, &held.org_names),
                versions: key.versions.iter().rev().map(|v| v.version.to_string()).collect(),
            })
        })
        .collect();
    let next = crate::discover::for_request(&state, req, None, 3).await;
    match (LibraryPage {
        items,
        csrf: session.csrf_token,
        next_steps: crate::discover::views(&state, &next),
    })
    .render()
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
