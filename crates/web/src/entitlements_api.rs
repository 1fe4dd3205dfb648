//! Who owns what: `GET /api/v1/me/entitlements` and the admin grant / revoke / audit API.
//! Every answer is decided on the server from the entitlements domain's rules.

use accounts::Email;
use accounts::ports::AccountId;
use entitlements::ports::NewGrant;
use entitlements::{
    Actor, Entitlement, EntitlementId, Holder, Principal, RevokeReason, RuleError, Scope, Source, Status, Term, UserId,
};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::AppState;
use crate::auth::account_of;

#[derive(Tags)]
enum EntTags {
    /// What the signed-in account can access.
    Me,
    /// Support and admin operations (admins only).
    Admin,
}

/// One entitlement, as a customer or admin sees it.
#[derive(Object)]
pub(crate) struct EntitlementInfo {
    /// Id.
    id: i64,
    /// KEY slug (for a single KEY).
    #[oai(nullable)]
    key: Option<String>,
    /// `key`, `bundle` or `plan`.
    scope: String,
    /// Bundle slug or plan tier, when the scope is one.
    #[oai(nullable)]
    scope_ref: Option<String>,
    /// `purchase`, `bundle_purchase`, `subscription`, `manual_grant`, `free_upgrade`.
    source: String,
    /// `user:<id>` or `organisation:<id>`.
    holder: String,
    /// `active`, `past_due`, `revoked`.
    status: String,
    /// When access ends (RFC 3339), if it does.
    #[oai(nullable)]
    expires_at: Option<String>,
    /// Whether it gives access now.
    effective: bool,
}

/// An audit line.
#[derive(Object)]
pub(crate) struct AuditInfo {
    /// Entitlement id.
    entitlement: i64,
    /// What happened (JSON of the domain's audit action).
    action: serde_json::Value,
    /// Who (JSON of the domain's actor).
    actor: serde_json::Value,
    /// Why.
    cause: String,
    /// When (RFC 3339).
    at: String,
}

/// A customer's entitlements and audit trail.
#[derive(Object)]
pub(crate) struct CustomerView {
    /// Account id.
    account: i64,
    /// Entitlements.
    entitlements: Vec<EntitlementInfo>,
    /// Audit trail, oldest first.
    audit: Vec<AuditInfo>,
}

/// A list of entitlements.
#[derive(Object)]
pub(crate) struct EntitlementList {
    /// Items.
    items: Vec<EntitlementInfo>,
}

/// Grant request: to an account (`email`) or to an organisation (`organisation`).
#[derive(Object)]
pub(crate) struct GrantRequest {
    /// The customer's account email.
    #[oai(nullable, validator(max_length = 254))]
    email: Option<crate::text::Text>,
    /// Or an organisation id: every current member gets access.
    #[oai(nullable)]
    organisation: Option<i64>,
    /// The KEY slug.
    #[oai(validator(max_length = 64))]
    key: crate::text::Text,
    /// Why (kept in the audit trail).
    #[oai(validator(min_length = 1, max_length = 500, pattern = r"^[\s\S]*\S[\s\S]*$"))]
    reason: crate::text::Text,
}

/// Revoke request.
#[derive(Object)]
pub(crate) struct RevokeRequest {
    /// Why (kept in the audit trail).
    #[oai(validator(min_length = 1, max_length = 500, pattern = r"^[\s\S]*\S[\s\S]*$"))]
    reason: crate::text::Text,
}

/// An error.
#[derive(Object)]
pub(crate) struct ErrorBody {
    /// `unauthorized`, `forbidden`, `not_found`, `bad_request`, `conflict`, `unavailable`.
    error: String,
    /// For a person.
    message: String,
}

/// An [`ErrorBody`] payload.
pub(crate) fn e(error: &str, message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: error.into(),
        message: message.into(),
    })
}

#[derive(ApiResponse)]
pub(crate) enum ListResponse {
    /// The entitlements.
    #[oai(status = 200)]
    Ok(Json<EntitlementList>),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

#[derive(ApiResponse)]
pub(crate) enum AdminResponse<T: poem_openapi::types::ToJSON + Send + Sync> {
    /// Done.
    #[oai(status = 200)]
    Ok(Json<T>),
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
    /// Accepted: the payment provider will confirm by webhook.
    #[oai(status = 202)]
    Accepted(Json<T>),
    /// A field is invalid.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Signed in, but not an admin.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// Unknown account, KEY or entitlement.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The change is not allowed in the entitlement's state.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The payment provider failed.
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn info(e: &Entitlement, now: chrono::DateTime<chrono::Utc>) -> EntitlementInfo {
    let (scope, key, scope_ref) = match &e.scope {
        Scope::Key(k) => ("key", Some(k.to_string()), None),
        Scope::Bundle { bundle, .. } => ("bundle", None, Some(bundle.to_string())),
        Scope::Plan { tier } => ("plan", None, Some(tier.to_string())),
    };
    let json_str = |v: serde_json::Value| v.as_str().map(str::to_owned).unwrap_or_default();
    EntitlementInfo {
        id: e.id.0,
        key,
        scope: scope.into(),
        scope_ref,
        source: json_str(serde_json::to_value(e.source).unwrap_or_default()),
        holder: match e.holder {
            Holder::User(u) => format!("user:{}", u.0),
            Holder::Organisation(o) => format!("organisation:{}", o.0),
        },
        status: match e.status {
            Status::Active => "active",
            Status::PastDue { .. } => "past_due",
            Status::Revoked { .. } => "revoked",
        }
        .into(),
        expires_at: e.expires_at().map(|t| t.to_rfc3339()),
        effective: e.is_effective(now),
    }
}

/// What an account holds now: its principal (itself and the organisations it belongs to *now*,
/// so a removed member loses the organisation's entitlements on the next request), every
/// entitlement of that principal, and the organisations' names (for "via organisation Acme").
pub(crate) struct Holdings {
    pub(crate) principal: Principal,
    pub(crate) entitlements: Vec<Entitlement>,
    pub(crate) org_names: Vec<(i64, String)>,
}

/// Reads [`Holdings`]: one memberships query, one entitlements query.
pub(crate) async fn holdings(state: &AppState, account: AccountId) -> Result<Holdings, String> {
    let orgs = state.orgs.memberships(account).await.map_err(|e| e.to_string())?;
    let principal = Principal {
        user: UserId(account.0),
        organisations: orgs.iter().map(|(o, _)| entitlements::OrgId(o.id.0)).collect(),
    };
    let entitlements = state
        .entitlements
        .for_principal(&principal)
        .await
        .map_err(|e| e.to_string())?;
    let org_names = orgs.into_iter().map(|(o, _)| (o.id.0, o.name)).collect();
    Ok(Holdings {
        principal,
        entitlements,
        org_names,
    })
}

/// Whether a request comes from an admin.
pub(crate) enum AdminCheck {
    Admin(AccountId),
    NotAdmin,
    Anonymous,
    Unavailable,
}

/// The admin role is read from the database at every request (granted and revoked only by the
/// operator's `keys-server admin` command); an API token must also have the `admin` scope,
/// which [`crate::guard::api_guard`] checks for every `/api/v1/admin/` path.
pub(crate) async fn admin_check(state: &AppState, req: &Request) -> AdminCheck {
    let Some(account) = account_of(state, req).await else {
        return AdminCheck::Anonymous;
    };
    match state.accounts.is_admin(account).await {
        Ok(true) => AdminCheck::Admin(account),
        Ok(false) => AdminCheck::NotAdmin,
        Err(_) => AdminCheck::Unavailable,
    }
}

macro_rules! require_admin {
    ($state:expr, $req:expr) => {
        match admin_check($state, $req).await {
            AdminCheck::Admin(id) => id,
            AdminCheck::NotAdmin => return AdminResponse::Forbidden(e("forbidden", "admins only")),
            AdminCheck::Anonymous => return AdminResponse::Unauthorized(e("unauthorized", "sign in first")),
            AdminCheck::Unavailable => return AdminResponse::Unavailable(e("unavailable", "try again shortly")),
        }
    };
}
pub(crate) use require_admin;

/// Entitlement endpoints.
pub struct EntitlementsApi;

#[OpenApi]
impl EntitlementsApi {
    /// Every entitlement of the signed-in account (its own and, later, its organisations').
    #[oai(path = "/me/entitlements", method = "get", tag = "EntTags::Me")]
    async fn my_entitlements(&self, state: Data<&AppState>, req: &Request) -> ListResponse {
        let Some(account) = account_of(&state, req).await else {
            return ListResponse::Unauthorized(e("unauthorized", "sign in first"));
        };
        match holdings(&state, account).await {
            Ok(Holdings { entitlements: list, .. }) => {
                let now = state.clock.now();
                ListResponse::Ok(Json(EntitlementList {
                    items: list.iter().map(|x| info(x, now)).collect(),
                }))
            }
            Err(err) => {
                tracing::error!(error = %err, "entitlement lookup failed");
                ListResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// Grant a KEY to a customer (support). Perpetual, recorded with the admin and the reason.
    #[oai(path = "/admin/entitlements", method = "post", tag = "EntTags::Admin")]
    async fn grant(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<GrantRequest>,
    ) -> AdminResponse<EntitlementInfo> {
        let admin = require_admin!(&state, req);
        if body.reason.trim().is_empty() {
            return AdminResponse::BadRequest(e("bad_request", "`reason` must say why the KEY is granted"));
        }
        let holder = match (&body.email, body.organisation) {
            (Some(email), None) => {
                let Ok(email) = email.parse::<Email>() else {
                    return AdminResponse::BadRequest(e(
                        "bad_request",
                        format!("`email`: `{email}` is not an email address"),
                    ));
                };
                match state.accounts.account_by_email(&email).await {
                    Ok(Some(a)) => Holder::User(UserId(a.id.0)),
                    Ok(None) => {
                        return AdminResponse::NotFound(e("not_found", format!("no account has the email {email}")));
                    }
                    Err(_) => return AdminResponse::Unavailable(e("unavailable", "try again shortly")),
                }
            }
            (None, Some(org)) => match state.orgs.repository().members(accounts::OrgId(org)).await {
                Ok(m) if !m.is_empty() => Holder::Organisation(entitlements::OrgId(org)),
                Ok(_) => return AdminResponse::NotFound(e("not_found", format!("no organisation {org}"))),
                Err(_) => return AdminResponse::Unavailable(e("unavailable", "try again shortly")),
            },
            _ => return AdminResponse::BadRequest(e("bad_request", "give exactly one of `email` and `organisation`")),
        };
        let Some(key) = state.catalog.snapshot().get(&body.key) else {
            return AdminResponse::NotFound(e("not_found", format!("no KEY has the slug `{}`", body.key)));
        };
        let grant = NewGrant {
            holder,
            scope: Scope::Key(key.meta.slug.clone()),
            source: Source::ManualGrant,
            term: Term::Perpetual,
            actor: Actor::Admin { user: UserId(admin.0) },
            cause: body.reason.trim().to_owned(),
            at: state.clock.now(),
        };
        match state.entitlements.grant(&grant).await {
            Ok(ent) => AdminResponse::Created(Json(info(&ent, state.clock.now()))),
            Err(err) => {
                tracing::error!(error = %err, "grant failed");
                AdminResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// Revoke an entitlement (support), with a reason.
    #[oai(path = "/admin/entitlements/:id/revoke", method = "post", tag = "EntTags::Admin")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: Path<i64>,
        body: Json<RevokeRequest>,
    ) -> AdminResponse<EntitlementInfo> {
        let admin = require_admin!(&state, req);
        if body.reason.trim().is_empty() {
            return AdminResponse::BadRequest(e("bad_request", "`reason` must say why access is revoked"));
        }
        let mut ent = match state.entitlements.find(EntitlementId(id.0)).await {
            Ok(Some(x)) => x,
            Ok(None) => return AdminResponse::NotFound(e("not_found", format!("no entitlement {}", id.0))),
            Err(_) => return AdminResponse::Unavailable(e("unavailable", "try again shortly")),
        };
        let now = state.clock.now();
        let reason = RevokeReason::Support {
            note: body.reason.trim().to_owned(),
        };
        let audit = match ent.revoke(reason, Actor::Admin { user: UserId(admin.0) }, body.reason.trim(), now) {
            Ok(a) => a,
            Err(err @ RuleError::AlreadyRevoked(_)) => return AdminResponse::Conflict(e("conflict", err.to_string())),
            Err(err) => return AdminResponse::Conflict(e("conflict", err.to_string())),
        };
        match state.entitlements.update(&ent, &audit).await {
            Ok(()) => AdminResponse::Ok(Json(info(&ent, now))),
            Err(err) => {
                tracing::error!(error = %err, "revoke failed");
                AdminResponse::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// A customer's entitlements and audit trail.
    #[oai(path = "/admin/customers", method = "get", tag = "EntTags::Admin")]
    async fn customer(
        &self,
        state: Data<&AppState>,
        req: &Request,
        email: Query<String>,
    ) -> AdminResponse<CustomerView> {
        require_admin!(&state, req);
        let Ok(parsed) = email.0.parse::<Email>() else {
            return AdminResponse::BadRequest(e(
                "bad_request",
                format!("`email`: `{}` is not an email address", email.0),
            ));
        };
        let account = match state.accounts.account_by_email(&parsed).await {
            Ok(Some(a)) => a,
            Ok(None) => return AdminResponse::NotFound(e("not_found", format!("no account has the email {parsed}"))),
            Err(_) => return AdminResponse::Unavailable(e("unavailable", "try again shortly")),
        };
        let holder = Holder::User(UserId(account.id.0));
        let (list, audit) = match (
            state.entitlements.for_holder(holder).await,
            state.entitlements.audit_trail(holder).await,
        ) {
            (Ok(l), Ok(a)) => (l, a),
            _ => return AdminResponse::Unavailable(e("unavailable", "try again shortly")),
        };
        let now = state.clock.now();
        AdminResponse::Ok(Json(CustomerView {
            account: account.id.0,
            entitlements: list.iter().map(|x| info(x, now)).collect(),
            audit: audit
                .iter()
                .map(|a| AuditInfo {
                    entitlement: a.entitlement.0,
                    action: serde_json::to_value(&a.action).unwrap_or_default(),
                    actor: serde_json::to_value(&a.actor).unwrap_or_default(),
                    cause: a.cause.clone(),
                    at: a.at.to_rfc3339(),
                })
                .collect(),
        }))
    }
}
