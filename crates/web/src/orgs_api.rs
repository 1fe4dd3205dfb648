//! Organisations: create, list, invite by single-use expiring link, accept, leave, remove.
//! Members hold every entitlement their organisation holds; removal takes effect on the next
//! request (every access check reads current memberships).

use accounts::ports::AccountId;
use accounts::{OrgId, OrgRole, OrgRuleError, SecretToken, may_invite, may_leave, may_remove};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::AppState;
use crate::auth::account_of;
use crate::entitlements_api::{ErrorBody, e};

/// Invites are valid this long.
const INVITE_TTL_DAYS: i64 = 7;

#[derive(Tags)]
enum OrgTags {
    /// Organisations and their members.
    Organisations,
}

/// New organisation.
#[derive(Object)]
pub(crate) struct NewOrg {
    /// Name, 1 to 100 characters.
    name: String,
}

/// An organisation and the caller's role in it.
#[derive(Object)]
pub(crate) struct OrgInfo {
    /// Id.
    id: i64,
    /// Name.
    name: String,
    /// `owner`, `admin` or `member`.
    role: String,
}

/// The caller's organisations.
#[derive(Object)]
pub(crate) struct OrgList {
    /// Items.
    items: Vec<OrgInfo>,
}

/// Invite request.
#[derive(Object)]
pub(crate) struct NewInvite {
    /// Role of the invitee: `admin` or `member` (owners may also invite `owner`).
    role: String,
}

/// A single-use invite.
#[derive(Object)]
pub(crate) struct InviteInfo {
    /// Send this to the invitee; they accept with `POST /api/v1/invites/{token}/accept`.
    token: String,
    /// When it stops working (RFC 3339).
    expires_at: String,
}

/// A membership.
#[derive(Object)]
pub(crate) struct MembershipInfo {
    /// Organisation id.
    organisation: i64,
    /// Account id.
    account: i64,
    /// Role.
    role: String,
}

#[derive(ApiResponse)]
pub(crate) enum OrgResponse<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Done.
    #[oai(status = 200)]
    Ok(Json<T>),
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
    /// Done, nothing to return.
    #[oai(status = 204)]
    Done,
    /// A field is invalid.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The caller's role does not allow it.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unknown organisation, member or invite (or an invite used or expired).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// It would leave the organisation without an owner.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn rule<T: poem_openapi::types::ToJSON + Send + Sync>(err: &OrgRuleError) -> OrgResponse<T> {
    match err {
        OrgRuleError::NotAllowed => OrgResponse::Forbidden(e("forbidden", err.to_string())),
        OrgRuleError::LastOwner => OrgResponse::Conflict(e("conflict", err.to_string())),
    }
}

macro_rules! signed_in {
    ($state:expr, $req:expr) => {
        match account_of($state, $req).await {
            Some(a) => a,
            None => return OrgResponse::Unauthorized(e("unauthorized", "sign in first")),
        }
    };
}

macro_rules! try_store {
    ($expr:expr) => {
        match $expr {
            Ok(v) => v,
            Err(err) => {
                tracing::error!(error = %err, "organisation storage failed");
                return OrgResponse::Unavailable(e("unavailable", "try again shortly"));
            }
        }
    };
}

/// The caller's role in `org`, and the organisation's owner count.
async fn role_in(
    state: &AppState,
    org: OrgId,
    account: AccountId,
) -> Result<Option<(OrgRole, usize)>, accounts::ports::AccountStoreError> {
    let members = state.orgs.members(org).await?;
    let owners = members.iter().filter(|m| m.role == OrgRole::Owner).count();
    Ok(members.iter().find(|m| m.account == account).map(|m| (m.role, owners)))
}

/// Organisation endpoints.
pub struct OrgsApi;

#[OpenApi]
impl OrgsApi {
    /// Create an organisation; the caller becomes its owner.
    #[oai(path = "/orgs", method = "post", tag = "OrgTags::Organisations")]
    async fn create(&self, state: Data<&AppState>, req: &Request, body: Json<NewOrg>) -> OrgResponse<OrgInfo> {
        let account = signed_in!(&state, req);
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return OrgResponse::BadRequest(e("bad_request", "`name` must be 1 to 100 characters"));
        }
        let org = try_store!(state.orgs.create(name, account, state.clock.now()).await);
        OrgResponse::Created(Json(OrgInfo {
            id: org.id.0,
            name: org.name,
            role: OrgRole::Owner.as_str().into(),
        }))
    }

    /// The caller's organisations.
    #[oai(path = "/orgs", method = "get", tag = "OrgTags::Organisations")]
    async fn list(&self, state: Data<&AppState>, req: &Request) -> OrgResponse<OrgList> {
        let account = signed_in!(&state, req);
        let ms = try_store!(state.orgs.memberships_of(account).await);
        OrgResponse::Ok(Json(OrgList {
            items: ms
                .into_iter()
                .map(|(o, r)| OrgInfo {
                    id: o.id.0,
                    name: o.name,
                    role: r.as_str().into(),
                })
                .collect(),
        }))
    }

    /// Create a single-use invite that expires in 7 days (owners and admins).
    #[oai(path = "/orgs/:id/invites", method = "post", tag = "OrgTags::Organisations")]
    async fn invite(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: Path<i64>,
        body: Json<NewInvite>,
    ) -> OrgResponse<InviteInfo> {
        let account = signed_in!(&state, req);
        let Some(role) = OrgRole::parse(&body.role) else {
            return OrgResponse::BadRequest(e("bad_request", "`role` must be owner, admin or member"));
        };
        let Some((mine, _)) = try_store!(role_in(&state, OrgId(id.0), account).await) else {
            return OrgResponse::NotFound(e("not_found", format!("you are not in organisation {}", id.0)));
        };
        if let Err(err) = may_invite(mine, role) {
            return rule(&err);
        }
        let token = SecretToken::generate("keys_inv_");
        let expires = state.clock.now() + chrono::Duration::days(INVITE_TTL_DAYS);
        try_store!(
            state
                .orgs
                .create_invite(&token.digest(), OrgId(id.0), role, account, expires)
                .await
        );
        OrgResponse::Created(Json(InviteInfo {
            token: token.expose().to_owned(),
            expires_at: expires.to_rfc3339(),
        }))
    }

    /// Accept an invite (once; it then stops working).
    #[oai(path = "/invites/:token/accept", method = "post", tag = "OrgTags::Organisations")]
    async fn accept(&self, state: Data<&AppState>, req: &Request, token: Path<String>) -> OrgResponse<MembershipInfo> {
        let account = signed_in!(&state, req);
        let digest = SecretToken::from_client(&token.0).digest();
        match try_store!(state.orgs.accept_invite(&digest, account, state.clock.now()).await) {
            Some(m) => OrgResponse::Ok(Json(MembershipInfo {
                organisation: m.org.0,
                account: m.account.0,
                role: m.role.as_str().into(),
            })),
            None => OrgResponse::NotFound(e(
                "not_found",
                "this invite does not exist, was already used, or has expired",
            )),
        }
    }

    /// Leave an organisation (not as its last owner).
    #[oai(path = "/orgs/:id/leave", method = "post", tag = "OrgTags::Organisations")]
    async fn leave(&self, state: Data<&AppState>, req: &Request, id: Path<i64>) -> OrgResponse<MembershipInfo> {
        let account = signed_in!(&state, req);
        let Some((mine, owners)) = try_store!(role_in(&state, OrgId(id.0), account).await) else {
            return OrgResponse::NotFound(e("not_found", format!("you are not in organisation {}", id.0)));
        };
        if let Err(err) = may_leave(mine, owners) {
            return rule(&err);
        }
        try_store!(state.orgs.remove(OrgId(id.0), account).await);
        OrgResponse::Done
    }

    /// Remove a member (owners remove anyone but the last owner; admins remove members).
    #[oai(
        path = "/orgs/:id/members/:account",
        method = "delete",
        tag = "OrgTags::Organisations"
    )]
    async fn remove(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: Path<i64>,
        account: Path<i64>,
    ) -> OrgResponse<MembershipInfo> {
        let caller = signed_in!(&state, req);
        let org = OrgId(id.0);
        let Some((mine, owners)) = try_store!(role_in(&state, org, caller).await) else {
            return OrgResponse::NotFound(e("not_found", format!("you are not in organisation {}", id.0)));
        };
        let target = AccountId(account.0);
        let Some((theirs, _)) = try_store!(role_in(&state, org, target).await) else {
            return OrgResponse::NotFound(e(
                "not_found",
                format!("account {} is not in organisation {}", account.0, id.0),
            ));
        };
        let check = if target == caller {
            may_leave(mine, owners)
        } else {
            may_remove(mine, theirs, owners)
        };
        if let Err(err) = check {
            return rule(&err);
        }
        try_store!(state.orgs.remove(org, target).await);
        OrgResponse::Done
    }
}
