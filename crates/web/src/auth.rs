//! Sign-up, sign-in and sign-out: JSON endpoints (in the OpenAPI document) and HTML forms.
//!
//! Sessions are server-side (database), identified by an `HttpOnly; SameSite=Lax` cookie
//! (`Secure` unless serving plain HTTP on loopback). Every state-changing form post carries a
//! CSRF token: before sign-in a double-submit token (cookie + hidden field), after sign-in the
//! session's own token. The JSON endpoints only accept `application/json` bodies, which a
//! cross-site form cannot send.

use accounts::ports::Session;
use accounts::{SecretToken, SignInError, SignUpError};
use askama::Template;
use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Html, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Deserialize;

use crate::AppState;

/// Session cookie.
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

pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

fn client_address(req: &Request) -> String {
    req.remote_addr()
        .as_socket_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// The account behind a request: a personal API token (`Authorization: Bearer …`) or the
/// session cookie. The JSON API accepts either.
pub async fn account_of(state: &AppState, req: &Request) -> Option<accounts::ports::AccountId> {
    if let Some(auth) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer "))?;
        return match state.tokens.owner(&SecretToken::from_client(token).digest()).await {
            Ok(owner) => owner,
            Err(e) => {
                tracing::warn!(error = %e, "token lookup failed");
                None
            }
        };
    }
    session_of(state, req).await.map(|s| s.account)
}

/// The live session of a request's cookie, if any.
pub async fn session_of(state: &AppState, req: &Request) -> Option<Session> {
    let token = cookie(req, SESSION_COOKIE)?;
    match state
        .accounts
        .authenticate(&SecretToken::from_client(&token), state.clock.now())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "session lookup failed");
            None
        }
    }
}

#[derive(Tags)]
enum AuthTags {
    /// Accounts and sessions.
    Auth,
}

/// Credentials.
#[derive(Object, Deserialize)]
pub(crate) struct Credentials {
    /// Email address.
    email: String,
    /// Password (at least 12 characters at sign-up).
    password: String,
}

/// The signed-in account.
#[derive(Object)]
pub(crate) struct AccountInfo {
    /// Account id.
    id: i64,
    /// Email.
    email: String,
}

/// An error.
#[derive(Object)]
pub(crate) struct AuthError {
    /// `bad_request`, `email_taken`, `invalid_credentials`, `throttled`, `unavailable`.
    error: String,
    /// For a person.
    message: String,
    /// The field at fault, when there is one.
    field: Option<String>,
}

fn auth_error(error: &str, message: impl Into<String>, field: Option<&str>) -> Json<AuthError> {
    Json(AuthError {
        error: error.into(),
        message: message.into(),
        field: field.map(str::to_owned),
    })
}

#[derive(ApiResponse)]
pub(crate) enum SignUpResponse {
    /// Account created and signed in; the session cookie is set.
    #[oai(status = 201)]
    Created(Json<AccountInfo>, #[oai(header = "Set-Cookie")] String),
    /// Bad email or password; `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<AuthError>),
    /// The email is taken.
    #[oai(status = 409)]
    Conflict(Json<AuthError>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<AuthError>),
}

#[derive(ApiResponse)]
pub(crate) enum LoginResponse {
    /// Signed in; a new session cookie is set.
    #[oai(status = 200)]
    Ok(Json<AccountInfo>, #[oai(header = "Set-Cookie")] String),
    /// Email or password wrong (never says which).
    #[oai(status = 401)]
    Unauthorized(Json<AuthError>),
    /// Too many failures for this account or address.
    #[oai(status = 429)]
    TooMany(Json<AuthError>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<AuthError>),
}

#[derive(ApiResponse)]
pub(crate) enum LogoutResponse {
    /// Signed out; the cookie is cleared.
    #[oai(status = 204)]
    Done(#[oai(header = "Set-Cookie")] String),
}

/// The account API.
pub struct AuthApi;

#[OpenApi]
impl AuthApi {
    /// Create an account and sign in.
    #[oai(path = "/auth/signup", method = "post", tag = "AuthTags::Auth")]
    async fn signup(&self, state: Data<&AppState>, req: &Request, body: Json<Credentials>) -> SignUpResponse {
        match state
            .accounts
            .sign_up(&body.email, &body.password, state.clock.now())
            .await
        {
            Ok((account, session)) => {
                crate::discover::merge_visitor(&state, req, account.id).await;
                let max_age = (session.expires_at - state.clock.now()).num_seconds();
                SignUpResponse::Created(
                    Json(AccountInfo {
                        id: account.id.0,
                        email: account.email.to_string(),
                    }),
                    set_cookie(&state, SESSION_COOKIE, session.token.expose(), max_age),
                )
            }
            Err(SignUpError::Email(e)) => {
                SignUpResponse::BadRequest(auth_error("bad_request", e.to_string(), Some("email")))
            }
            Err(SignUpError::Password(e)) => {
                SignUpResponse::BadRequest(auth_error("bad_request", e.to_string(), Some("password")))
            }
            Err(SignUpError::EmailTaken) => SignUpResponse::Conflict(auth_error(
                "email_taken",
                SignUpError::EmailTaken.to_string(),
                Some("email"),
            )),
            Err(e) => {
                tracing::error!(error = %e, "sign-up failed");
                SignUpResponse::Unavailable(auth_error(
                    "unavailable",
                    "accounts are unavailable; try again shortly",
                    None,
                ))
            }
        }
    }

    /// Sign in. Failed attempts are throttled per account and per address.
    #[oai(path = "/auth/login", method = "post", tag = "AuthTags::Auth")]
    async fn login(&self, state: Data<&AppState>, req: &Request, body: Json<Credentials>) -> LoginResponse {
        match state
            .accounts
            .sign_in(&body.email, &body.password, &client_address(req), state.clock.now())
            .await
        {
            Ok(session) => {
                crate::discover::merge_visitor(&state, req, session.account).await;
                let max_age = (session.expires_at - state.clock.now()).num_seconds();
                let email = body.email.trim().to_lowercase();
                LoginResponse::Ok(
                    Json(AccountInfo {
                        id: session.account.0,
                        email,
                    }),
                    set_cookie(&state, SESSION_COOKIE, session.token.expose(), max_age),
                )
            }
            Err(e @ SignInError::InvalidCredentials) => {
                LoginResponse::Unauthorized(auth_error("invalid_credentials", e.to_string(), None))
            }
            Err(e @ SignInError::Throttled { .. }) => {
                LoginResponse::TooMany(auth_error("throttled", e.to_string(), None))
            }
            Err(e) => {
                tracing::error!(error = %e, "sign-in failed");
                LoginResponse::Unavailable(auth_error(
                    "unavailable",
                    "accounts are unavailable; try again shortly",
                    None,
                ))
            }
        }
    }

    /// Sign out (ends the session on every server).
    #[oai(path = "/auth/logout", method = "post", tag = "AuthTags::Auth")]
    async fn logout(&self, state: Data<&AppState>, req: &Request) -> LogoutResponse {
        if let Some(token) = cookie(req, SESSION_COOKIE)
            && let Err(e) = state
                .accounts
                .sign_out(&SecretToken::from_client(&token), state.clock.now())
                .await
        {
            tracing::error!(error = %e, "sign-out failed");
        }
        LogoutResponse::Done(set_cookie(&state, SESSION_COOKIE, "", 0))
    }
}

/// A new token's label.
#[derive(Object, Deserialize)]
pub(crate) struct NewTokenRequest {
    /// What it is for (1 to 100 characters), e.g. `ci`.
    name: String,
}

/// A token as listed.
#[derive(Object)]
pub(crate) struct TokenInfo {
    /// Id.
    id: i64,
    /// Label.
    name: String,
    /// Created (RFC 3339).
    created_at: String,
    /// The token itself: only in the answer to its creation, never again.
    token: Option<String>,
}

/// Tokens.
#[derive(Object)]
pub(crate) struct TokenList {
    /// Live tokens.
    items: Vec<TokenInfo>,
}

#[derive(ApiResponse)]
pub(crate) enum TokenResponse {
    /// Created; `token` is shown this once. Send it as `Authorization: Bearer <token>`.
    #[oai(status = 201)]
    Created(Json<TokenInfo>),
    /// The live tokens.
    #[oai(status = 200)]
    List(Json<TokenList>),
    /// Revoked.
    #[oai(status = 204)]
    Revoked,
    /// Bad name.
    #[oai(status = 400)]
    BadRequest(Json<AuthError>),
    /// Not signed in.
    #[oai(status = 401)]
    Unauthorized(Json<AuthError>),
    /// No such token of yours.
    #[oai(status = 404)]
    NotFound(Json<AuthError>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<AuthError>),
}

fn token_info(t: &accounts::ports::ApiToken, token: Option<String>) -> TokenInfo {
    TokenInfo {
        id: t.id,
        name: t.name.clone(),
        created_at: t.created_at.to_rfc3339(),
        token,
    }
}

/// Personal API tokens.
pub struct TokensApi;

#[OpenApi]
impl TokensApi {
    /// Create a personal API token (stored hashed; shown once).
    #[oai(path = "/tokens", method = "post", tag = "AuthTags::Auth")]
    async fn create_token(&self, state: Data<&AppState>, req: &Request, body: Json<NewTokenRequest>) -> TokenResponse {
        let Some(account) = account_of(&state, req).await else {
            return TokenResponse::Unauthorized(auth_error("unauthorized", "sign in first", None));
        };
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return TokenResponse::BadRequest(auth_error(
                "bad_request",
                "`name` must be 1 to 100 characters",
                Some("name"),
            ));
        }
        let token = SecretToken::generate("keys_pat_");
        match state
            .tokens
            .create(account, name, &token.digest(), state.clock.now())
            .await
        {
            Ok(t) => TokenResponse::Created(Json(token_info(&t, Some(token.expose().to_owned())))),
            Err(_) => TokenResponse::Unavailable(auth_error("unavailable", "try again shortly", None)),
        }
    }

    /// The caller's live tokens (without their values).
    #[oai(path = "/tokens", method = "get", tag = "AuthTags::Auth")]
    async fn list_tokens(&self, state: Data<&AppState>, req: &Request) -> TokenResponse {
        let Some(account) = account_of(&state, req).await else {
            return TokenResponse::Unauthorized(auth_error("unauthorized", "sign in first", None));
        };
        match state.tokens.list(account).await {
            Ok(list) => TokenResponse::List(Json(TokenList {
                items: list.iter().map(|t| token_info(t, None)).collect(),
            })),
            Err(_) => TokenResponse::Unavailable(auth_error("unavailable", "try again shortly", None)),
        }
    }

    /// Revoke one of the caller's tokens.
    #[oai(path = "/tokens/:id", method = "delete", tag = "AuthTags::Auth")]
    async fn revoke_token(
        &self,
        state: Data<&AppState>,
        req: &Request,
        id: poem_openapi::param::Path<i64>,
    ) -> TokenResponse {
        let Some(account) = account_of(&state, req).await else {
            return TokenResponse::Unauthorized(auth_error("unauthorized", "sign in first", None));
        };
        match state.tokens.revoke(account, id.0, state.clock.now()).await {
            Ok(true) => TokenResponse::Revoked,
            Ok(false) => TokenResponse::NotFound(auth_error(
                "not_found",
                format!("you have no live token {}", id.0),
                None,
            )),
            Err(_) => TokenResponse::Unavailable(auth_error("unavailable", "try again shortly", None)),
        }
    }
}

// ---- HTML forms -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "auth.html")]
struct AuthPage {
    title: &'static str,
    action: &'static str,
    button: &'static str,
    other_link: &'static str,
    other_text: &'static str,
    csrf: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    email: String,
    csrf: String,
}

/// Form fields.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthForm {
    email: String,
    password: String,
    csrf: String,
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

fn page(p: &impl Template, status: StatusCode, extra_cookie: Option<String>) -> Response {
    match p.render() {
        Ok(html) => {
            let mut resp = Html(html).with_status(status).into_response();
            if let Some(c) = extra_cookie.and_then(|c| c.parse().ok()) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn form_page(state: &AppState, signup: bool, email: &str, error: Option<String>, status: StatusCode) -> Response {
    let csrf = SecretToken::generate("").expose().to_owned();
    let cookie = set_cookie(state, CSRF_COOKIE, &csrf, 3600);
    let p = if signup {
        AuthPage {
            title: "Create your account",
            action: "/signup",
            button: "Create account",
            other_link: "/login",
            other_text: "Already have an account? Sign in",
            csrf,
            email: email.to_owned(),
            error,
        }
    } else {
        AuthPage {
            title: "Sign in",
            action: "/login",
            button: "Sign in",
            other_link: "/signup",
            other_text: "New here? Create an account",
            csrf,
            email: email.to_owned(),
            error,
        }
    };
    page(&p, status, Some(cookie))
}

fn csrf_matches(req: &Request, submitted: &str) -> bool {
    cookie(req, CSRF_COOKIE).is_some_and(|c| !c.is_empty() && constant_time_eq(c.as_bytes(), submitted.as_bytes()))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "The form expired or did not come from this site. Reload the page and try again.",
    )
        .into_response()
}

fn signed_in(state: &AppState, session: &accounts::NewSession) -> Response {
    let max_age = (session.expires_at - state.clock.now()).num_seconds();
    let mut resp = Redirect::see_other("/account").into_response();
    if let Ok(c) = set_cookie(state, SESSION_COOKIE, session.token.expose(), max_age).parse() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Ok(c) = set_cookie(state, CSRF_COOKIE, "", 0).parse() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[handler]
pub(crate) async fn signup_page(state: Data<&AppState>) -> Response {
    form_page(&state, true, "", None, StatusCode::OK)
}

#[handler]
pub(crate) async fn login_page(state: Data<&AppState>) -> Response {
    form_page(&state, false, "", None, StatusCode::OK)
}

#[handler]
pub(crate) async fn signup_post(state: Data<&AppState>, req: &Request, Form(f): Form<AuthForm>) -> Response {
    if !csrf_matches(req, &f.csrf) {
        return forbidden();
    }
    match state.accounts.sign_up(&f.email, &f.password, state.clock.now()).await {
        Ok((account, session)) => {
            crate::discover::merge_visitor(&state, req, account.id).await;
            signed_in(&state, &session)
        }
        Err(e @ (SignUpError::Email(_) | SignUpError::Password(_) | SignUpError::EmailTaken)) => {
            form_page(&state, true, &f.email, Some(e.to_string()), StatusCode::BAD_REQUEST)
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-up failed");
            form_page(
                &state,
                true,
                &f.email,
                Some("Accounts are unavailable; try again shortly.".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    }
}

#[handler]
pub(crate) async fn login_post(state: Data<&AppState>, req: &Request, Form(f): Form<AuthForm>) -> Response {
    if !csrf_matches(req, &f.csrf) {
        return forbidden();
    }
    match state
        .accounts
        .sign_in(&f.email, &f.password, &client_address(req), state.clock.now())
        .await
    {
        Ok(session) => {
            crate::discover::merge_visitor(&state, req, session.account).await;
            signed_in(&state, &session)
        }
        Err(e @ SignInError::InvalidCredentials) => {
            form_page(&state, false, &f.email, Some(e.to_string()), StatusCode::UNAUTHORIZED)
        }
        Err(e @ SignInError::Throttled { .. }) => form_page(
            &state,
            false,
            &f.email,
            Some(e.to_string()),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            form_page(
                &state,
                false,
                &f.email,
                Some("Accounts are unavailable; try again shortly.".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    }
}

#[handler]
pub(crate) async fn logout_post(state: Data<&AppState>, req: &Request, Form(f): Form<CsrfForm>) -> Response {
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    if !constant_time_eq(session.csrf_token.as_bytes(), f.csrf.as_bytes()) {
        return forbidden();
    }
    if let Some(token) = cookie(req, SESSION_COOKIE)
        && let Err(e) = state
            .accounts
            .sign_out(&SecretToken::from_client(&token), state.clock.now())
            .await
    {
        tracing::error!(error = %e, "sign-out failed");
    }
    let mut resp = Redirect::see_other("/marketplace").into_response();
    if let Ok(c) = set_cookie(&state, SESSION_COOKIE, "", 0).parse() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[handler]
pub(crate) async fn account_page(state: Data<&AppState>, req: &Request) -> Response {
    let Some(session) = session_of(&state, req).await else {
        return Redirect::see_other("/login").into_response();
    };
    let email = match state.accounts.email_of(session.account).await {
        Ok(Some(e)) => e.to_string(),
        Ok(None) => return Redirect::see_other("/login").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "account lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    page(
        &AccountPage {
            email,
            csrf: session.csrf_token,
        },
        StatusCode::OK,
        None,
    )
}
