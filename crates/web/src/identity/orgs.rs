//! Organisations: create, list, members, invites by single-use expiring link (create, list,
//! revoke, accept), leave, remove. Members hold every entitlement their organisation holds;
//! removal takes effect on the next request (every access check reads current memberships),
//! and a removed member's unused invites die with their membership. Every rule is
//! `accounts::OrgService`'s; this module only translates.

use accounts::ports::AccountId;
use accounts::{OrgError, OrgId, OrgRole, OrgRuleError, SecretToken};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi, Tags};

use crate::AppState;
use crate::http::extract::SignedIn;
use crate::http::problem::{Answer, e};

#[derive(Tags)]
enum OrgTags {
    /// Organisations and their members.
    Organisations,
}

/// A member's role.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[oai(rename_all = "lowercase")]
pub(crate) enum RoleName {
    /// Everything, including removing admins; an organisation always keeps one.
    Owner,
    /// Invites and removes members; buys for the organisation.
    Admin,
    /// Holds the organisation's entitlements.
    Member,
}

impl From<OrgRole> for RoleName {
    fn from(r: OrgRole) -> Self {
        match r {
            OrgRole::Owner => RoleName::Owner,
            OrgRole::Admin => RoleName::Admin,
            OrgRole::Member => RoleName::Member,
        }
    }
}

impl From<RoleName> for OrgRole {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Owner => OrgRole::Owner,
            RoleName::Admin => OrgRole::Admin,
            RoleName::Member => OrgRole::Member,
        }
    }
}

/// New organisation.
#[derive(Object)]
pub(crate) struct NewOrg {
    /// Name, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100, pattern = r"^.*\S.*$"))]
    name: crate::http::text::Text,
}

/// An organisation and the caller's role in it.
#[derive(Object)]
pub(crate) struct OrgInfo {
    /// Id.
    id: i64,
    /// Name.
    name: String,
    /// The caller's role.
    role: RoleName,
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
    role: RoleName,
    /// Mail the link to this address too (the answer still carries the token); absent or
    /// null: no mail.
    #[oai(validator(max_length = 320), nullable)]
    email: Option<crate::http::text::Text>,
}

/// A single-use invite, as created (the token is shown this once).
#[derive(Object)]
pub(crate) struct InviteInfo {
    /// The invite's id (to revoke it).
    id: String,
    /// Send this to the invitee; they accept with `POST /api/v1/invites/{token}/accept`.
    token: String,
    /// Role it gives.
    role: RoleName,
    /// When it stops working (RFC 3339).
    expires_at: String,
}

/// A live invite as listed (never its token).
#[derive(Object)]
pub(crate) struct InviteListItem {
    /// Id (`inv_…`).
    id: String,
    /// Role it gives.
    role: RoleName,
    /// The member who created it.
    created_by: i64,
    /// When (RFC 3339; null for invites made before this was recorded).
    #[oai(nullable)]
    created_at: Option<String>,
    /// When it stops working (RFC 3339).
    expires_at: String,
}

/// Live invites.
#[derive(Object)]
pub(crate) struct InviteList {
    /// Oldest expiry first.
    items: Vec<InviteListItem>,
}

/// A member.
#[derive(Object)]
pub(crate) struct MemberItem {
    /// Account id.
    account: i64,
    /// Email.
    email: String,
    /// Role.
    role: RoleName,
    /// When they joined (RFC 3339).
    joined_at: String,
}

/// Members.
#[derive(Object)]
pub(crate) struct MemberList {
    /// Owners first, then admins, then members.
    items: Vec<MemberItem>,
}

/// A membership.
#[derive(Object)]
pub(crate) struct MembershipInfo {
    /// Organisation id.
    organisation: i64,
    /// Account id.
    account: i64,
    /// Role.
    role: RoleName,
}

fn failed<T: poem_openapi::types::ToJSON + Send + Sync>(err: OrgError) -> Answer<T> {
    match err {
        OrgError::BadName | OrgError::Email(_) => Answer::BadRequest(e("bad_request", err.to_string())),
        OrgError::NotAMember(_) | OrgError::NoSuchMember { .. } | OrgError::NoSuchInvite => {
            Answer::NotFound(e("not_found", err.to_string()))
        }
        OrgError::Rule(OrgRuleError::NotAllowed) => Answer::Forbidden(e("forbidden", err.to_string())),
        OrgError::Rule(OrgRuleError::LastOwner) => Answer::Conflict(e("conflict", err.to_string())),
        OrgError::Store(s) => {
            tracing::error!(error = %s, "organisation storage failed");
            Answer::Unavailable(e("unavailable", "try again shortly"))
        }
    }
}

macro_rules! attempt {
    ($expr:expr) => {
        match $expr {
            Ok(v) => v,
            Err(err) => return failed(err),
        }
    };
}

/// Organisation endpoints.
pub struct OrgsApi;

#[OpenApi]
impl OrgsApi {
    /// Create an organisation; the caller becomes its owner.
    #[oai(path = "/orgs", method = "post", tag = "OrgTags::Organisations")]
    async fn create(&self, state: Data<&AppState>, caller: SignedIn, body: Json<NewOrg>) -> Answer<OrgInfo> {
        let account = caller.account();
        let org = attempt!(state.identity.orgs.create(&body.name, account, state.clock.now()).await);
        Answer::Created(Json(OrgInfo {
            id: org.id.0,
            name: org.name,
            role: RoleName::Owner,
        }))
    }

    /// The caller's organisations.
    #[oai(path = "/orgs", method = "get", tag = "OrgTags::Organisations")]
    async fn list(&self, state: Data<&AppState>, caller: SignedIn) -> Answer<OrgList> {
        let account = caller.account();
        let ms = attempt!(state.identity.orgs.memberships(account).await);
        Answer::Ok(Json(OrgList {
            items: ms
                .into_iter()
                .map(|(o, r)| OrgInfo {
                    id: o.id.0,
                    name: o.name,
                    role: r.into(),
                })
                .collect(),
        }))
    }

    /// The members and their roles (owners and admins).
    #[oai(path = "/orgs/:id/members", method = "get", tag = "OrgTags::Organisations")]
    async fn members(&self, state: Data<&AppState>, caller: SignedIn, id: Path<i64>) -> Answer<MemberList> {
        let account = caller.account();
        let list = attempt!(state.identity.orgs.members(OrgId(id.0), account).await);
        Answer::Ok(Json(MemberList {
            items: list
                .into_iter()
                .map(|m| MemberItem {
                    account: m.account.0,
                    email: m.email.to_string(),
                    role: m.role.into(),
                    joined_at: m.joined_at.to_rfc3339(),
                })
                .collect(),
        }))
    }

    /// Create a single-use invite that expires in 7 days (owners and admins; admins invite
    /// admins and members).
    #[oai(path = "/orgs/:id/invites", method = "post", tag = "OrgTags::Organisations")]
    async fn invite(
        &self,
        state: Data<&AppState>,
        caller: SignedIn,
        id: Path<i64>,
        body: Json<NewInvite>,
    ) -> Answer<InviteInfo> {
        let account = caller.account();
        let orgs = &state.identity.orgs;
        let now = state.clock.now();
        let created = attempt!(match body.email.as_deref().map(|e| e.trim()) {
            Some(email) =>
                orgs.invite_by_email(OrgId(id.0), account, body.role.into(), email, now)
                    .await,
            None => orgs.invite(OrgId(id.0), account, body.role.into(), now).await,
        });
        Answer::Created(Json(InviteInfo {
            id: created.invite.id,
            token: created.token.expose().to_owned(),
            role: created.invite.role.into(),
            expires_at: created.invite.expires_at.to_rfc3339(),
        }))
    }

    /// The live invites (owners and admins).
    #[oai(path = "/orgs/:id/invites", method = "get", tag = "OrgTags::Organisations")]
    async fn invites(&self, state: Data<&AppState>, caller: SignedIn, id: Path<i64>) -> Answer<InviteList> {
        let account = caller.account();
        let list = attempt!(
            state
                .identity
                .orgs
                .invites(OrgId(id.0), account, state.clock.now())
                .await
        );
        Answer::Ok(Json(InviteList {
            items: list
                .into_iter()
                .map(|i| InviteListItem {
                    id: i.id,
                    role: i.role.into(),
                    created_by: i.created_by.0,
                    created_at: i.created_at.map(|t| t.to_rfc3339()),
                    expires_at: i.expires_at.to_rfc3339(),
                })
                .collect(),
        }))
    }

    /// Revoke a live invite (owners and admins).
    #[oai(
        path = "/orgs/:id/invites/:invite",
        method = "delete",
        tag = "OrgTags::Organisations"
    )]
    async fn revoke_invite(
        &self,
        state: Data<&AppState>,
        caller: SignedIn,
        id: Path<i64>,
        #[oai(validator(max_length = 64))] invite: Path<String>,
    ) -> Answer<InviteInfo> {
        let account = caller.account();
        attempt!(
            state
                .identity
                .orgs
                .revoke_invite(OrgId(id.0), account, &invite.0, state.clock.now())
                .await
        );
        Answer::Done
    }

    /// Accept an invite (once; it then stops working). Only while whoever created it is still
    /// a member allowed to invite that role.
    #[oai(path = "/invites/:token/accept", method = "post", tag = "OrgTags::Organisations")]
    async fn accept(
        &self,
        state: Data<&AppState>,
        caller: SignedIn,
        #[oai(validator(max_length = 128))] token: Path<String>,
    ) -> Answer<MembershipInfo> {
        let account = caller.account();
        let m = attempt!(
            state
                .identity
                .orgs
                .accept(&SecretToken::from_client(&token.0), account, state.clock.now())
                .await
        );
        Answer::Ok(Json(MembershipInfo {
            organisation: m.org.0,
            account: m.account.0,
            role: m.role.into(),
        }))
    }

    /// Leave an organisation (not as its last owner).
    #[oai(path = "/orgs/:id/leave", method = "post", tag = "OrgTags::Organisations")]
    async fn leave(&self, state: Data<&AppState>, caller: SignedIn, id: Path<i64>) -> Answer<MembershipInfo> {
        let account = caller.account();
        attempt!(state.identity.orgs.leave(OrgId(id.0), account, state.clock.now()).await);
        Answer::Done
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
        caller: SignedIn,
        id: Path<i64>,
        account: Path<i64>,
    ) -> Answer<MembershipInfo> {
        let caller = caller.account();
        attempt!(
            state
                .identity
                .orgs
                .remove(OrgId(id.0), caller, AccountId(account.0), state.clock.now())
                .await
        );
        Answer::Done
    }
}
