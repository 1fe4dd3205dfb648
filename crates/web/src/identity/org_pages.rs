//! Organisation pages (server-rendered, no JavaScript): `/account/orgs` (create, list),
//! `/account/orgs/{id}` (members and roles, invite links — created, listed, revoked —, removing
//! a member, leaving, the organisation's KEYS, its orders and its subscription) and
//! `/join/{token}` (accept an invite link). Every rule is `accounts::OrgService`'s; a handler
//! extracts, calls it, and renders.

use accounts::ports::AccountId;
use accounts::{OrgError, OrgId, OrgRole, SecretToken};
use askama::Template;
use entitlements::Holder;
use poem::http::StatusCode;
use poem::web::{Data, Path, Redirect};
use poem::{IntoResponse, Response, handler};
use serde::Deserialize;

use crate::AppState;
use crate::http::extract::{CsrfOnly, HasCsrf, PageSession, SignedInForm};
use crate::http::page::{error_page, render};

/// One of the caller's organisations.
struct OrgRow {
    id: i64,
    name: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsPage {
    orgs: Vec<OrgRow>,
    csrf: String,
}

struct MemberRow {
    account: i64,
    email: String,
    role: &'static str,
    joined: String,
    me: bool,
}

struct InviteRow {
    id: String,
    role: &'static str,
    expires: String,
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    id: i64,
    name: String,
    my_role: &'static str,
    manages: bool,
    members: Vec<MemberRow>,
    invites: Vec<InviteRow>,
    /// A link just created: shown once.
    new_link: Option<String>,
    keys: Vec<String>,
    orders: Vec<(i64, String, String, String)>,
    subscription: Option<String>,
    csrf: String,
}

fn refused(err: &OrgError) -> Response {
    let status = match err {
        OrgError::NotAMember(_) | OrgError::NoSuchMember { .. } | OrgError::NoSuchInvite => StatusCode::NOT_FOUND,
        OrgError::Rule(_) => StatusCode::FORBIDDEN,
        OrgError::BadName | OrgError::Email(_) => StatusCode::BAD_REQUEST,
        OrgError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error_page(status, "Organisation", &err.to_string())
}

/// `GET /account/orgs`: the caller's organisations and a form to create one.
#[handler]
pub(crate) async fn orgs_page(state: Data<&AppState>, PageSession(session): PageSession) -> Response {
    match state.identity.orgs.memberships(session.account).await {
        Ok(list) => render(&OrgsPage {
            orgs: list
                .into_iter()
                .map(|(o, role)| OrgRow {
                    id: o.id.0,
                    name: o.name,
                    role: role.as_str(),
                })
                .collect(),
            csrf: session.csrf_token,
        }),
        Err(err) => refused(&err),
    }
}

/// The create form.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateOrgForm {
    csrf: String,
    #[serde(default)]
    name: String,
}

impl HasCsrf for CreateOrgForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/orgs`: create an organisation (the caller is its owner).
#[handler]
pub(crate) async fn create_post(
    state: Data<&AppState>,
    SignedInForm(session, form): SignedInForm<CreateOrgForm>,
) -> Response {
    match state
        .identity
        .orgs
        .create(&form.name, session.account, state.clock.now())
        .await
    {
        Ok(org) => Redirect::see_other(format!("/account/orgs/{}", org.id.0)).into_response(),
        Err(err) => refused(&err),
    }
}

async fn org_view(state: &AppState, account: AccountId, csrf: String, id: i64, new_link: Option<String>) -> Response {
    let org = OrgId(id);
    let memberships = match state.identity.orgs.memberships(account).await {
        Ok(m) => m,
        Err(err) => return refused(&err),
    };
    let Some((o, role)) = memberships.into_iter().find(|(o, _)| o.id == org) else {
        return refused(&OrgError::NotAMember(id));
    };
    let now = state.clock.now();
    let manages = role.manages();
    // Members and invites are for owners and admins (the service's rule).
    let members = if manages {
        match state.identity.orgs.members(org, account).await {
            Ok(m) => m,
            Err(err) => return refused(&err),
        }
    } else {
        Vec::new()
    };
    let invites = if manages {
        state.identity.orgs.invites(org, account, now).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let holder = Holder::Organisation(entitlements::OrgId(id));
    let snapshot = state.catalog.cache.snapshot();
    let keys = match state.access.entitlements.for_holder(holder).await {
        Ok(list) => entitlements::Coverage::of(&list, now)
            .slugs(snapshot.iter().map(|k| (&k.meta.slug, k.meta.tier)))
            .into_iter()
            .map(|s| {
                snapshot
                    .get(s.as_str())
                    .map_or_else(|| s.to_string(), |k| k.meta.name.clone())
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    // Billing is for owners and admins only.
    let (orders, subscription) = if manages {
        let orders = state
            .shop
            .commerce
            .orders(holder)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|o| {
                (
                    o.id.0,
                    crate::http::page::product_name(state, &o.sku),
                    o.status.as_str().replace('_', " "),
                    o.paid_at
                        .map_or_else(|| "not paid".to_owned(), |t| t.date_naive().to_string()),
                )
            })
            .collect();
        let subscription = state
            .shop
            .commerce
            .live_subscription(holder, now)
            .await
            .ok()
            .flatten()
            .map(|s| {
                format!(
                    "{} ({}){}",
                    s.order.sku,
                    s.status,
                    s.current_period_end
                        .map(|t| {
                            if s.cancel_at_period_end {
                                format!(", ends on {}", t.date_naive())
                            } else {
                                format!(", renews on {}", t.date_naive())
                            }
                        })
                        .unwrap_or_default()
                )
            });
        (orders, subscription)
    } else {
        (Vec::new(), None)
    };
    render(&OrgPage {
        id,
        name: o.name,
        my_role: role.as_str(),
        manages,
        members: members
            .into_iter()
            .map(|m| MemberRow {
                account: m.account.0,
                email: m.email.to_string(),
                role: m.role.as_str(),
                joined: m.joined_at.date_naive().to_string(),
                me: m.account == account,
            })
            .collect(),
        invites: invites
            .into_iter()
            .map(|i| InviteRow {
                id: i.id,
                role: i.role.as_str(),
                expires: i.expires_at.date_naive().to_string(),
            })
            .collect(),
        new_link,
        keys,
        orders,
        subscription,
        csrf,
    })
}

/// `GET /account/orgs/{id}`.
#[handler]
pub(crate) async fn org_page(
    state: Data<&AppState>,
    PageSession(session): PageSession,
    Path(id): Path<i64>,
) -> Response {
    org_view(&state, session.account, session.csrf_token, id, None).await
}

/// The invite form.
#[derive(Debug, Deserialize)]
pub(crate) struct InviteForm {
    csrf: String,
    #[serde(default)]
    role: String,
    /// Mail the link to this address too (optional).
    #[serde(default)]
    email: String,
}

impl HasCsrf for InviteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/orgs/{id}/invites`: a new invite link, shown once on the page.
#[handler]
pub(crate) async fn invite_post(
    state: Data<&AppState>,
    SignedInForm(session, form): SignedInForm<InviteForm>,
    Path(id): Path<i64>,
) -> Response {
    let Some(role) = OrgRole::parse(form.role.trim()).filter(|r| *r != OrgRole::Owner) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Organisation",
            "`role` must be `member` or `admin`",
        );
    };
    let orgs = &state.identity.orgs;
    let now = state.clock.now();
    let created = match form.email.trim() {
        "" => orgs.invite(OrgId(id), session.account, role, now).await,
        email => orgs.invite_by_email(OrgId(id), session.account, role, email, now).await,
    };
    match created {
        Ok(new) => {
            let link = format!("/join/{}", new.token.expose());
            org_view(&state, session.account, session.csrf_token, id, Some(link)).await
        }
        Err(err) => refused(&err),
    }
}

/// `POST /account/orgs/{id}/invites/{invite}/revoke`.
#[handler]
pub(crate) async fn revoke_invite_post(
    state: Data<&AppState>,
    SignedInForm(session, _): SignedInForm<CsrfOnly>,
    Path((id, invite)): Path<(i64, String)>,
) -> Response {
    match state
        .identity
        .orgs
        .revoke_invite(OrgId(id), session.account, &invite, state.clock.now())
        .await
    {
        Ok(()) => Redirect::see_other(format!("/account/orgs/{id}#invites")).into_response(),
        Err(err) => refused(&err),
    }
}

/// `POST /account/orgs/{id}/members/{account}/remove`: the member loses the organisation's
/// access at once.
#[handler]
pub(crate) async fn remove_post(
    state: Data<&AppState>,
    SignedInForm(session, _): SignedInForm<CsrfOnly>,
    Path((id, member)): Path<(i64, i64)>,
) -> Response {
    match state
        .identity
        .orgs
        .remove(OrgId(id), session.account, AccountId(member), state.clock.now())
        .await
    {
        Ok(()) => Redirect::see_other(format!("/account/orgs/{id}#members")).into_response(),
        Err(err) => refused(&err),
    }
}

/// `POST /account/orgs/{id}/leave`.
#[handler]
pub(crate) async fn leave_post(
    state: Data<&AppState>,
    SignedInForm(session, _): SignedInForm<CsrfOnly>,
    Path(id): Path<i64>,
) -> Response {
    match state
        .identity
        .orgs
        .leave(OrgId(id), session.account, state.clock.now())
        .await
    {
        Ok(()) => Redirect::see_other("/account/orgs").into_response(),
        Err(err) => refused(&err),
    }
}

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    token: String,
    csrf: String,
}

/// `GET /join/{token}`: the invite link's page (sign in first; the link works once).
#[handler]
pub(crate) async fn join_page(PageSession(session): PageSession, Path(token): Path<String>) -> Response {
    render(&JoinPage {
        token,
        csrf: session.csrf_token,
    })
}

/// `POST /join/{token}`: accept the invite.
#[handler]
pub(crate) async fn join_post(
    state: Data<&AppState>,
    SignedInForm(session, _): SignedInForm<CsrfOnly>,
    Path(token): Path<String>,
) -> Response {
    match state
        .identity
        .orgs
        .accept(&SecretToken::from_client(&token), session.account, state.clock.now())
        .await
    {
        Ok(m) => Redirect::see_other(format!("/account/orgs/{}", m.org.0)).into_response(),
        Err(err) => refused(&err),
    }
}
