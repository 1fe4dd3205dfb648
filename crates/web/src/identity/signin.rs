//! Sign-up, sign-in and sign-out: JSON endpoints (in the OpenAPI document) and HTML forms.
//!
//! Sessions are server-side (database), identified by an `HttpOnly; SameSite=Lax` cookie
//! (`Secure` unless serving plain HTTP on loopback). Every state-changing form post carries a
//! CSRF token: before sign-in a double-submit token (cookie + hidden field), after sign-in the
//! session's own token. The JSON endpoints only accept `application/json` bodies, which a
//! cross-site form cannot send.

use accounts::ports::Session;
use accounts::{ChangePasswordError, SecretToken, SignInError, SignUpError, TokenScope};
use askama::Template;
use chrono::{DateTime, Utc};
use poem::http::{StatusCode, header};
use poem::web::{Data, Html, Query, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use serde::Deserialize;

use crate::AppState;
use crate::http::extract::{CheckedForm, CsrfOnly, HasCsrf, PageSession, SignedIn, SignedInForm};
use crate::http::page::how_long_until;
use crate::http::problem::{Problem, e_field};
use crate::http::session::{
    BUSY_RETRY_SECS, CSRF_COOKIE, SESSION_COOKIE, Via, client_address, retry_after, safe_next, session_of, set_cookie,
    shop_cookie, with_next,
};

#[derive(Tags)]
enum AuthTags {
    /// Accounts and sessions.
    Auth,
}

/// Credentials.
#[derive(Object, Deserialize)]
pub(crate) struct Credentials {
    /// Email address.
    #[oai(validator(max_length = 254))]
    email: crate::http::text::Text,
    /// Password (12 to 1024 characters; the server names the field when it is not).
    #[oai(validator(max_length = 1024))]
    password: crate::http::text::Text,
}

/// The signed-in account.
#[derive(Object)]
pub(crate) struct AccountInfo {
    /// Account id.
    id: i64,
    /// Email.
    email: String,
}

fn auth_error(error: &str, message: impl Into<String>, field: Option<&str>) -> Json<Problem> {
    e_field(error, message, field)
}

fn unavailable() -> Json<Problem> {
    auth_error("unavailable", "accounts are unavailable; try again shortly", None)
}

fn busy() -> Json<Problem> {
    auth_error(
        "unavailable",
        "too many sign-ins are being checked right now; try again in a few seconds",
        None,
    )
}

#[derive(ApiResponse)]
pub(crate) enum SignUpResponse {
    /// Account created and signed in; the session cookie is set.
    #[oai(status = 201)]
    Created(Json<AccountInfo>, #[oai(header = "Set-Cookie")] String),
    /// Bad email or password; `field` names it.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// The email is taken.
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    /// Too many sign-ups from this address.
    #[oai(status = 429)]
    TooMany(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Storage failed, or every password slot is busy.
    #[oai(status = 503)]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

#[derive(ApiResponse)]
pub(crate) enum LoginResponse {
    /// Signed in; a new session cookie is set.
    #[oai(status = 200)]
    Ok(Json<AccountInfo>, #[oai(header = "Set-Cookie")] String),
    /// Email or password wrong (never says which).
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Guessing is slowed down for this account or address: wait `Retry-After` seconds.
    #[oai(status = 429)]
    TooMany(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Storage failed, or every password slot is busy.
    #[oai(status = 503)]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

#[derive(ApiResponse)]
pub(crate) enum LogoutResponse {
    /// Signed out; the cookie is cleared.
    #[oai(status = 204)]
    Done(#[oai(header = "Set-Cookie")] String),
}

/// A password change.
#[derive(Object)]
pub(crate) struct PasswordChange {
    /// The current password.
    #[oai(validator(max_length = 1024))]
    current_password: crate::http::text::Text,
    /// The new password (12 to 1024 characters; the server names the field when it is not).
    #[oai(validator(max_length = 1024))]
    new_password: crate::http::text::Text,
}

/// How many other sessions ended.
#[derive(Object)]
pub(crate) struct SessionsEnded {
    /// Sessions signed out.
    signed_out: u64,
}

#[derive(ApiResponse)]
pub(crate) enum SessionsResponse {
    /// Done; every other session of the account is signed out.
    #[oai(status = 200)]
    Ok(Json<SessionsEnded>),
    /// The new password is outside the policy (`field` says which).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// Not signed in with the browser session, or the current password is wrong.
    #[oai(status = 401)]
    Unauthorized(Json<Problem>),
    /// Too many wrong passwords: wait `Retry-After` seconds.
    #[oai(status = 429)]
    TooMany(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Storage failed, or every password slot is busy.
    #[oai(status = 503)]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

fn sign_up_failed(e: SignUpError, now: DateTime<Utc>) -> SignUpResponse {
    match e {
        SignUpError::Email(e) => SignUpResponse::BadRequest(auth_error("bad_request", e.to_string(), Some("email"))),
        SignUpError::Password(e) => {
            SignUpResponse::BadRequest(auth_error("bad_request", e.to_string(), Some("password")))
        }
        SignUpError::EmailTaken => SignUpResponse::Conflict(auth_error(
            "email_taken",
            SignUpError::EmailTaken.to_string(),
            Some("email"),
        )),
        e @ SignUpError::Throttled { until } => {
            SignUpResponse::TooMany(auth_error("throttled", e.to_string(), None), retry_after(until, now))
        }
        SignUpError::Hash(accounts::HashError::Busy) => SignUpResponse::Unavailable(busy(), BUSY_RETRY_SECS),
        e => {
            tracing::error!(error = %e, "sign-up failed");
            SignUpResponse::Unavailable(unavailable(), BUSY_RETRY_SECS)
        }
    }
}

/// The account API.
pub struct AuthApi;

#[OpenApi]
impl AuthApi {
    /// Create an account and sign in. Sign-ups are throttled per client address.
    #[oai(path = "/auth/signup", method = "post", tag = "AuthTags::Auth")]
    async fn signup(&self, state: Data<&AppState>, req: &Request, body: Json<Credentials>) -> SignUpResponse {
        let now = state.clock.now();
        match state
            .identity
            .accounts
            .sign_up(&body.email, &body.password, &client_address(&state, req), now)
            .await
        {
            Ok((account, session)) => {
                crate::discover::merge_visitor(&state, req, account.id).await;
                let max_age = (session.expires_at - now).num_seconds();
                SignUpResponse::Created(
                    Json(AccountInfo {
                        id: account.id.0,
                        email: account.email.to_string(),
                    }),
                    set_cookie(&state, SESSION_COOKIE, session.token.expose(), max_age),
                )
            }
            Err(e) => sign_up_failed(e, now),
        }
    }

    /// Sign in. Guesses are slowed down progressively per account, per address and per
    /// (account, address) pair; the answer never says whether the email or the password was
    /// wrong.
    #[oai(path = "/auth/login", method = "post", tag = "AuthTags::Auth")]
    async fn login(&self, state: Data<&AppState>, req: &Request, body: Json<Credentials>) -> LoginResponse {
        let now = state.clock.now();
        match state
            .identity
            .accounts
            .sign_in(&body.email, &body.password, &client_address(&state, req), now)
            .await
        {
            Ok(session) => {
                crate::discover::merge_visitor(&state, req, session.account).await;
                let max_age = (session.expires_at - now).num_seconds();
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
            Err(e @ SignInError::Throttled { until }) => {
                LoginResponse::TooMany(auth_error("throttled", e.to_string(), None), retry_after(until, now))
            }
            Err(SignInError::Busy(_)) => LoginResponse::Unavailable(busy(), BUSY_RETRY_SECS),
            Err(e) => {
                tracing::error!(error = %e, "sign-in failed");
                LoginResponse::Unavailable(unavailable(), BUSY_RETRY_SECS)
            }
        }
    }

    /// Sign out (ends the session on every server).
    #[oai(path = "/auth/logout", method = "post", tag = "AuthTags::Auth")]
    async fn logout(&self, state: Data<&AppState>, req: &Request) -> LogoutResponse {
        if let Some(token) = shop_cookie(&state, req, SESSION_COOKIE)
            && let Err(e) = state
                .identity
                .accounts
                .sign_out(&SecretToken::from_client(&token), state.clock.now())
                .await
        {
            tracing::error!(error = %e, "sign-out failed");
        }
        LogoutResponse::Done(set_cookie(&state, SESSION_COOKIE, "", 0))
    }

    /// Sign out everywhere: ends every session of the account but this one.
    #[oai(path = "/auth/logout-everywhere", method = "post", tag = "AuthTags::Auth")]
    async fn logout_everywhere(&self, state: Data<&AppState>, req: &Request) -> SessionsResponse {
        let (Some(session), Some(token)) = (session_of(&state, req).await, shop_cookie(&state, req, SESSION_COOKIE))
        else {
            return SessionsResponse::Unauthorized(auth_error("unauthorized", "sign in first", None));
        };
        match state
            .identity
            .accounts
            .sign_out_everywhere(
                session.account,
                Some(&SecretToken::from_client(&token)),
                state.clock.now(),
            )
            .await
        {
            Ok(n) => SessionsResponse::Ok(Json(SessionsEnded { signed_out: n })),
            Err(e) => {
                tracing::error!(error = %e, "sign-out everywhere failed");
                SessionsResponse::Unavailable(unavailable(), BUSY_RETRY_SECS)
            }
        }
    }

    /// Change the password (the current one is checked, throttled like sign-in); every other
    /// session is signed out.
    #[oai(path = "/auth/password", method = "post", tag = "AuthTags::Auth")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<PasswordChange>,
    ) -> SessionsResponse {
        let (Some(session), Some(token)) = (session_of(&state, req).await, shop_cookie(&state, req, SESSION_COOKIE))
        else {
            return SessionsResponse::Unauthorized(auth_error("unauthorized", "sign in first", None));
        };
        let now = state.clock.now();
        match state
            .identity
            .accounts
            .change_password(
                session.account,
                &body.current_password,
                &body.new_password,
                Some(&SecretToken::from_client(&token)),
                &client_address(&state, req),
                now,
            )
            .await
        {
            Ok(n) => SessionsResponse::Ok(Json(SessionsEnded { signed_out: n })),
            Err(e @ ChangePasswordError::WrongPassword) => SessionsResponse::Unauthorized(auth_error(
                "invalid_credentials",
                e.to_string(),
                Some("current_password"),
            )),
            Err(ChangePasswordError::Password(e)) => {
                SessionsResponse::BadRequest(auth_error("bad_request", e.to_string(), Some("new_password")))
            }
            Err(e @ ChangePasswordError::Throttled { until }) => {
                SessionsResponse::TooMany(auth_error("throttled", e.to_string(), None), retry_after(until, now))
            }
            Err(ChangePasswordError::Hash(accounts::HashError::Busy)) => {
                SessionsResponse::Unavailable(busy(), BUSY_RETRY_SECS)
            }
            Err(e) => {
                tracing::error!(error = %e, "password change failed");
                SessionsResponse::Unavailable(unavailable(), BUSY_RETRY_SECS)
            }
        }
    }
}

/// A token's scope.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[oai(rename_all = "lowercase")]
pub(crate) enum ScopeName {
    /// Safe requests only.
    Read,
    /// Reads and downloads.
    Download,
    /// Everything the account may do through the API (admins only).
    Admin,
}

impl From<ScopeName> for TokenScope {
    fn from(s: ScopeName) -> Self {
        match s {
            ScopeName::Read => TokenScope::Read,
            ScopeName::Download => TokenScope::Download,
            ScopeName::Admin => TokenScope::Admin,
        }
    }
}

impl From<TokenScope> for ScopeName {
    fn from(s: TokenScope) -> Self {
        match s {
            TokenScope::Read => ScopeName::Read,
            TokenScope::Download => ScopeName::Download,
            TokenScope::Admin => ScopeName::Admin,
        }
    }
}

/// A new token.
#[derive(Object)]
pub(crate) struct NewTokenRequest {
    /// What it is for (1 to 100 characters), e.g. `ci`.
    #[oai(validator(min_length = 1, max_length = 100, pattern = r"^.*\S.*$"))]
    name: crate::http::text::Text,
    /// What it may do (default `download`): `read`, `download`, or `admin` (admins only).
    #[oai(nullable)]
    scope: Option<ScopeName>,
    /// Days until it stops working: 1 to 365 (default 90).
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "365")))]
    expires_in_days: Option<u32>,
}

/// A token as listed.
#[derive(Object)]
pub(crate) struct TokenInfo {
    /// Id.
    id: i64,
    /// Label.
    name: String,
    /// What it may do.
    scope: ScopeName,
    /// Created (RFC 3339).
    created_at: String,
    /// When it stops working (RFC 3339); null only for tokens made before expiry existed.
    #[oai(nullable)]
    expires_at: Option<String>,
    /// The token itself: only in the answer to its creation, never again (null otherwise).
    #[oai(nullable)]
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
    /// Bad name, scope or lifetime.
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// Tokens are created from the browser session only, and `admin` tokens by admins only.
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// No such token of yours.
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

fn token_info(t: &accounts::ports::ApiToken, token: Option<String>) -> TokenInfo {
    TokenInfo {
        id: t.id,
        name: t.name.clone(),
        scope: t.scope.into(),
        created_at: t.created_at.to_rfc3339(),
        expires_at: t.expires_at.map(|e| e.to_rfc3339()),
        token,
    }
}

/// Personal API tokens.
pub struct TokensApi;

#[OpenApi]
impl TokensApi {
    /// Create a personal API token (stored hashed; shown once). Needs the signed-in browser
    /// session: a token never creates tokens. Scope `download` and 90 days unless asked;
    /// `admin` tokens only for admins.
    #[oai(path = "/tokens", method = "post", tag = "AuthTags::Auth")]
    async fn create_token(
        &self,
        state: Data<&AppState>,
        SignedIn(caller): SignedIn,
        body: Json<NewTokenRequest>,
    ) -> TokenResponse {
        if caller.via != Via::Session {
            return TokenResponse::Forbidden(auth_error(
                "forbidden",
                "tokens are created from the signed-in browser session, never with a token",
                None,
            ));
        }
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return TokenResponse::BadRequest(auth_error(
                "bad_request",
                "`name` must be 1 to 100 characters",
                Some("name"),
            ));
        }
        let days = body.expires_in_days.unwrap_or(accounts::DEFAULT_TOKEN_DAYS);
        if !(1..=accounts::MAX_TOKEN_DAYS).contains(&days) {
            return TokenResponse::BadRequest(auth_error(
                "bad_request",
                format!("`expires_in_days` must be 1 to {}", accounts::MAX_TOKEN_DAYS),
                Some("expires_in_days"),
            ));
        }
        let scope: TokenScope = body.scope.map_or(TokenScope::Download, Into::into);
        let is_admin = match state.identity.accounts.is_admin(caller.account).await {
            Ok(a) => a,
            Err(_) => return TokenResponse::Unavailable(auth_error("unavailable", "try again shortly", None)),
        };
        if !scope.may_be_created_by(is_admin) {
            return TokenResponse::Forbidden(auth_error(
                "forbidden",
                "only admins may create `admin` tokens",
                Some("scope"),
            ));
        }
        let now = state.clock.now();
        let token = SecretToken::generate("keys_pat_");
        match state
            .identity
            .tokens
            .create(
                caller.account,
                name,
                scope,
                now + chrono::Duration::days(i64::from(days)),
                &token.digest(),
                now,
            )
            .await
        {
            Ok(t) => TokenResponse::Created(Json(token_info(&t, Some(token.expose().to_owned())))),
            Err(_) => TokenResponse::Unavailable(auth_error("unavailable", "try again shortly", None)),
        }
    }

    /// The caller's live tokens (without their values).
    #[oai(path = "/tokens", method = "get", tag = "AuthTags::Auth")]
    async fn list_tokens(&self, state: Data<&AppState>, caller: SignedIn) -> TokenResponse {
        match state.identity.tokens.list(caller.account(), state.clock.now()).await {
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
        caller: SignedIn,
        id: poem_openapi::param::Path<i64>,
    ) -> TokenResponse {
        match state
            .identity
            .tokens
            .revoke(caller.account(), id.0, state.clock.now())
            .await
        {
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
    other_link: String,
    other_text: &'static str,
    csrf: String,
    email: String,
    error: Option<String>,
    /// Where to go after signing in (a safe same-site path, or empty).
    next: String,
}

/// `?next=` of the sign-in and sign-up pages.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    email: String,
    /// The email is confirmed (purchases need it).
    confirmed: bool,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
}

/// Form fields.
#[derive(Debug, Deserialize)]
pub(crate) struct AuthForm {
    email: String,
    password: String,
    csrf: String,
    /// Where to go afterwards (checked by [`safe_next`]).
    #[serde(default)]
    next: String,
}

impl HasCsrf for AuthForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
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

fn form_page(
    state: &AppState,
    signup: bool,
    email: &str,
    error: Option<String>,
    status: StatusCode,
    next: &str,
) -> Response {
    let csrf = SecretToken::generate("").expose().to_owned();
    let cookie = set_cookie(state, CSRF_COOKIE, &csrf, 3600);
    let next = safe_next(next).unwrap_or("").to_owned();
    let p = if signup {
        AuthPage {
            title: "Create your account",
            action: "/signup",
            button: "Create account",
            other_link: with_next("/login", &next),
            other_text: "Already have an account? Sign in",
            csrf,
            email: email.to_owned(),
            error,
            next,
        }
    } else {
        AuthPage {
            title: "Sign in",
            action: "/login",
            button: "Sign in",
            other_link: with_next("/signup", &next),
            other_text: "New here? Create an account",
            csrf,
            email: email.to_owned(),
            error,
            next,
        }
    };
    page(&p, status, Some(cookie))
}

/// Signed in: the session cookie, and back to where the buyer was going (`next`, when safe),
/// else the account page.
fn signed_in(state: &AppState, session: &accounts::NewSession, next: &str) -> Response {
    let max_age = (session.expires_at - state.clock.now()).num_seconds();
    let mut resp = Redirect::see_other(safe_next(next).unwrap_or("/account")).into_response();
    if let Ok(c) = set_cookie(state, SESSION_COOKIE, session.token.expose(), max_age).parse() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Ok(c) = set_cookie(state, CSRF_COOKIE, "", 0).parse() {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[handler]
pub(crate) async fn signup_page(state: Data<&AppState>, Query(q): Query<NextQuery>) -> Response {
    form_page(&state, true, "", None, StatusCode::OK, &q.next)
}

#[handler]
pub(crate) async fn login_page(state: Data<&AppState>, Query(q): Query<NextQuery>) -> Response {
    form_page(&state, false, "", None, StatusCode::OK, &q.next)
}

#[handler]
pub(crate) async fn signup_post(
    state: Data<&AppState>,
    req: &Request,
    CheckedForm(f): CheckedForm<AuthForm>,
) -> Response {
    let address = client_address(&state, req);
    match state
        .identity
        .accounts
        .sign_up(&f.email, &f.password, &address, state.clock.now())
        .await
    {
        Ok((account, session)) => {
            crate::discover::merge_visitor(&state, req, account.id).await;
            signed_in(&state, &session, &f.next)
        }
        Err(e @ (SignUpError::Email(_) | SignUpError::Password(_) | SignUpError::EmailTaken)) => form_page(
            &state,
            true,
            &f.email,
            Some(e.to_string()),
            StatusCode::BAD_REQUEST,
            &f.next,
        ),
        Err(SignUpError::Throttled { until }) => form_page(
            &state,
            true,
            &f.email,
            Some(format!(
                "Too many accounts were created from your address. Try again {}.",
                how_long_until(until, state.clock.now())
            )),
            StatusCode::TOO_MANY_REQUESTS,
            &f.next,
        ),
        Err(e) => {
            tracing::error!(error = %e, "sign-up failed");
            form_page(
                &state,
                true,
                &f.email,
                Some("Accounts are unavailable; try again shortly.".into()),
                StatusCode::SERVICE_UNAVAILABLE,
                &f.next,
            )
        }
    }
}

#[handler]
pub(crate) async fn login_post(
    state: Data<&AppState>,
    req: &Request,
    CheckedForm(f): CheckedForm<AuthForm>,
) -> Response {
    match state
        .identity
        .accounts
        .sign_in(&f.email, &f.password, &client_address(&state, req), state.clock.now())
        .await
    {
        Ok(session) => {
            crate::discover::merge_visitor(&state, req, session.account).await;
            signed_in(&state, &session, &f.next)
        }
        Err(e @ SignInError::InvalidCredentials) => form_page(
            &state,
            false,
            &f.email,
            Some(e.to_string()),
            StatusCode::UNAUTHORIZED,
            &f.next,
        ),
        Err(SignInError::Throttled { until }) => form_page(
            &state,
            false,
            &f.email,
            Some(format!(
                "Too many failed sign-ins. To protect the account, try again {}.",
                how_long_until(until, state.clock.now())
            )),
            StatusCode::TOO_MANY_REQUESTS,
            &f.next,
        ),
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            form_page(
                &state,
                false,
                &f.email,
                Some("Accounts are unavailable; try again shortly.".into()),
                StatusCode::SERVICE_UNAVAILABLE,
                &f.next,
            )
        }
    }
}

#[handler]
pub(crate) async fn logout_post(
    state: Data<&AppState>,
    req: &Request,
    SignedInForm(_, _): SignedInForm<CsrfOnly>,
) -> Response {
    if let Some(token) = shop_cookie(&state, req, SESSION_COOKIE)
        && let Err(e) = state
            .identity
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

async fn account_view(
    state: &AppState,
    session: Session,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let email = match state.identity.accounts.email_of(session.account).await {
        Ok(Some(e)) => e.to_string(),
        Ok(None) => return Redirect::see_other("/login").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "account lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    // Unknown (storage failed): say nothing rather than ask to confirm again.
    let confirmed = state
        .identity
        .accounts
        .email_confirmed(session.account)
        .await
        .unwrap_or(true);
    page(
        &AccountPage {
            email,
            confirmed,
            csrf: session.csrf_token,
            notice,
            error,
        },
        status,
        None,
    )
}

#[handler]
pub(crate) async fn account_page(state: Data<&AppState>, PageSession(session): PageSession) -> Response {
    account_view(&state, session, None, None, StatusCode::OK).await
}

/// `POST /account/verify-email`: mails a new confirmation link.
#[handler]
pub(crate) async fn resend_verification_post(
    state: Data<&AppState>,
    SignedInForm(session, _): SignedInForm<CsrfOnly>,
) -> Response {
    match state
        .identity
        .accounts
        .send_verification(session.account, state.clock.now())
        .await
    {
        Ok(true) => {
            let notice = "A new confirmation link is on its way; it works for 48 hours.".to_owned();
            account_view(&state, session, Some(notice), None, StatusCode::OK).await
        }
        Ok(false) => {
            let notice = "Your email is already confirmed, or a link was sent less than a minute ago: check your inbox (and spam folder).".to_owned();
            account_view(&state, session, Some(notice), None, StatusCode::OK).await
        }
        Err(e) => {
            tracing::error!(error = %e, "confirmation link failed");
            let error = "The link could not be sent just now; try again in a minute.".to_owned();
            account_view(&state, session, None, Some(error), StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}

/// The password form.
#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
}

impl HasCsrf for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/password`: change the password; other sessions are signed out.
#[handler]
pub(crate) async fn password_post(
    state: Data<&AppState>,
    req: &Request,
    SignedInForm(session, f): SignedInForm<PasswordForm>,
) -> Response {
    let Some(token) = shop_cookie(&state, req, SESSION_COOKIE) else {
        return Redirect::see_other("/login").into_response();
    };
    let result = state
        .identity
        .accounts
        .change_password(
            session.account,
            &f.current_password,
            &f.new_password,
            Some(&SecretToken::from_client(&token)),
            &client_address(&state, req),
            state.clock.now(),
        )
        .await;
    match result {
        Ok(n) => {
            let notice = format!("Password changed. {n} other session(s) signed out.");
            account_view(&state, session, Some(notice), None, StatusCode::OK).await
        }
        Err(e @ (ChangePasswordError::WrongPassword | ChangePasswordError::Password(_))) => {
            account_view(&state, session, None, Some(e.to_string()), StatusCode::BAD_REQUEST).await
        }
        Err(ChangePasswordError::Throttled { until }) => {
            account_view(
                &state,
                session,
                None,
                Some(format!(
                    "Too many wrong passwords. Try again {}.",
                    how_long_until(until, state.clock.now())
                )),
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "password change failed");
            account_view(
                &state,
                session,
                None,
                Some("The password could not be changed; try again shortly.".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
    }
}

/// `POST /account/sessions/end`: sign out every other session.
#[handler]
pub(crate) async fn end_sessions_post(
    state: Data<&AppState>,
    req: &Request,
    SignedInForm(session, _): SignedInForm<CsrfOnly>,
) -> Response {
    let Some(token) = shop_cookie(&state, req, SESSION_COOKIE) else {
        return Redirect::see_other("/login").into_response();
    };
    match state
        .identity
        .accounts
        .sign_out_everywhere(
            session.account,
            Some(&SecretToken::from_client(&token)),
            state.clock.now(),
        )
        .await
    {
        Ok(n) => {
            let notice = format!("{n} other session(s) signed out.");
            account_view(&state, session, Some(notice), None, StatusCode::OK).await
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-out everywhere failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
