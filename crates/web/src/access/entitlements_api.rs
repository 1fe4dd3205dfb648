//! Who owns what: `GET /api/v1/me/entitlements` and the admin grant / revoke / audit API.
//! Every answer is decided on the server from the entitlements domain's rules.

use accounts::Email;
use entitlements::ports::NewGrant;
use entitlements::{Actor, Entitlement, EntitlementId, Holder, RevokeReason, RuleError, Scope, Source, Status, Term};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::AppState;
use crate::http::access_cache::holdings;
use crate::http::extract::{Admin, SignedIn};
use crate::http::problem::{Answer, Problem, e};

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
    /// `active`, `past_due`, `revoked`, `disputed` (suspended while a chargeback is open).
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
    email: Option<crate::http::text::Text>,
    /// Or an organisation id: every current member gets access.
    #[oai(nullable)]
    organisation: Option<i64>,
    /// The KEY slug.
    #[oai(validator(max_length = 64))]
    key: crate::http::text::Text,
    /// Why (kept in the audit trail).
    #[oai(validator(min_length = 1, max_length = 500, pattern = r"^[\s\S]*\S[\s\S]*$"))]
    reason: crate::http::text::Text,
}

/// Revoke request.
#[derive(Object)]
pub(crate) struct RevokeRequest {
    /// Why (kept in the audit trail).
    #[oai(validator(min_length = 1, max_length = 500, pattern = r"^[\s\S]*\S[\s\S]*$"))]
    reason: crate::http::text::Text,
}

#[derive(ApiResponse)]
pub(crate) enum ListResponse {
    /// The entitlements.
    #[oai(status = 200)]
    Ok(Json<EntitlementList>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
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
            Status::Disputed { .. } => "disputed",
        }
        .into(),
        expires_at: e.expires_at().map(|t| t.to_rfc3339()),
        effective: e.is_effective(now),
    }
}

/// Entitlement endpoints.
pub struct EntitlementsApi;

#[OpenApi]
impl EntitlementsApi {
    /// Every entitlement of the signed-in account (its own and, later, its organisations').
    #[oai(path = "/me/entitlements", method = "get", tag = "EntTags::Me")]
    async fn my_entitlements(&self, state: Data<&AppState>, caller: SignedIn) -> ListResponse {
        match holdings(&state, caller.account()).await {
            Ok(h) => {
                let now = state.clock.now();
                ListResponse::Ok(Json(EntitlementList {
                    items: h.entitlements.iter().map(|x| info(x, now)).collect(),
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
        Admin(admin): Admin,
        body: Json<GrantRequest>,
    ) -> Answer<EntitlementInfo> {
        if body.reason.trim().is_empty() {
            return Answer::BadRequest(e("bad_request", "`reason` must say why the KEY is granted"));
        }
        let holder = match (&body.email, body.organisation) {
            (Some(email), None) => {
                let Ok(email) = email.parse::<Email>() else {
                    return Answer::BadRequest(e("bad_request", format!("`email`: `{email}` is not an email address")));
                };
                match state.identity.accounts.account_by_email(&email).await {
                    Ok(Some(a)) => Holder::User(a.id),
                    Ok(None) => {
                        return Answer::NotFound(e("not_found", format!("no account has the email {email}")));
                    }
                    Err(_) => return Answer::Unavailable(e("unavailable", "try again shortly")),
                }
            }
            (None, Some(org)) => match state.identity.orgs.repository().members(accounts::OrgId(org)).await {
                Ok(m) if !m.is_empty() => Holder::Organisation(entitlements::OrgId(org)),
                Ok(_) => return Answer::NotFound(e("not_found", format!("no organisation {org}"))),
                Err(_) => return Answer::Unavailable(e("unavailable", "try again shortly")),
            },
            _ => return Answer::BadRequest(e("bad_request", "give exactly one of `email` and `organisation`")),
        };
        let Some(key) = state.catalog.cache.snapshot().get(&body.key) else {
            return Answer::NotFound(e("not_found", format!("no KEY has the slug `{}`", body.key)));
        };
        let grant = NewGrant {
            holder,
            scope: Scope::Key(key.meta.slug.clone()),
            source: Source::ManualGrant,
            term: Term::Perpetual,
            actor: Actor::Admin { user: admin },
            cause: body.reason.trim().to_owned(),
            at: state.clock.now(),
        };
        match state.access.entitlements.grant(&grant).await {
            Ok(ent) => Answer::Created(Json(info(&ent, state.clock.now()))),
            Err(err) => {
                tracing::error!(error = %err, "grant failed");
                Answer::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// Revoke an entitlement (support), with a reason.
    #[oai(path = "/admin/entitlements/:id/revoke", method = "post", tag = "EntTags::Admin")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        Admin(admin): Admin,
        id: Path<i64>,
        body: Json<RevokeRequest>,
    ) -> Answer<EntitlementInfo> {
        if body.reason.trim().is_empty() {
            return Answer::BadRequest(e("bad_request", "`reason` must say why access is revoked"));
        }
        let mut ent = match state.access.entitlements.find(EntitlementId(id.0)).await {
            Ok(Some(x)) => x,
            Ok(None) => return Answer::NotFound(e("not_found", format!("no entitlement {}", id.0))),
            Err(_) => return Answer::Unavailable(e("unavailable", "try again shortly")),
        };
        let now = state.clock.now();
        let reason = RevokeReason::Support {
            note: body.reason.trim().to_owned(),
        };
        let audit = match ent.revoke(reason, Actor::Admin { user: admin }, body.reason.trim(), now) {
            Ok(a) => a,
            Err(err @ RuleError::AlreadyRevoked(_)) => return Answer::Conflict(e("conflict", err.to_string())),
            Err(err) => return Answer::Conflict(e("conflict", err.to_string())),
        };
        match state.access.entitlements.update(&ent, &audit).await {
            Ok(()) => Answer::Ok(Json(info(&ent, now))),
            Err(err) => {
                tracing::error!(error = %err, "revoke failed");
                Answer::Unavailable(e("unavailable", "try again shortly"))
            }
        }
    }

    /// A customer's entitlements and audit trail.
    #[oai(path = "/admin/customers", method = "get", tag = "EntTags::Admin")]
    async fn customer(
        &self,
        state: Data<&AppState>,
        _admin: Admin,
        #[oai(validator(max_length = 254))] email: Query<String>,
    ) -> Answer<CustomerView> {
        let Ok(parsed) = email.0.parse::<Email>() else {
            return Answer::BadRequest(e(
                "bad_request",
                format!("`email`: `{}` is not an email address", email.0),
            ));
        };
        let account = match state.identity.accounts.account_by_email(&parsed).await {
            Ok(Some(a)) => a,
            Ok(None) => return Answer::NotFound(e("not_found", format!("no account has the email {parsed}"))),
            Err(_) => return Answer::Unavailable(e("unavailable", "try again shortly")),
        };
        let holder = Holder::User(account.id);
        let (list, audit) = match (
            state.access.entitlements.for_holder(holder).await,
            state.access.entitlements.audit_trail(holder).await,
        ) {
            (Ok(l), Ok(a)) => (l, a),
            _ => return Answer::Unavailable(e("unavailable", "try again shortly")),
        };
        let now = state.clock.now();
        Answer::Ok(Json(CustomerView {
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
