//! Links mailed to an account: forgotten passwords (`/forgot`, `/reset/{token}`,
//! `POST /api/v1/auth/password-reset` / `…/confirm`: a link works once for an hour, and
//! choosing a new password signs the account out everywhere; nothing says whether an address
//! has an account) and email confirmation (`/verify/{token}`, `POST /api/v1/auth/verify-email`
//! and `…/resend`: sign-up mails a link that works once for 48 hours; buying needs it).

use accounts::{PasswordResetError, VerificationError};
use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Html, Path, Query, Redirect};
use poem::{IntoResponse, Response, handler};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Deserialize;

use crate::AppState;
use crate::http::extract::{CheckedForm, HasCsrf, SignedIn};
use crate::http::page::error_page;
use crate::http::problem::{Problem, e_field};
use crate::http::session::{CSRF_COOKIE, set_cookie};

#[derive(Tags)]
enum ResetTags {
    /// Accounts and sessions.
    Auth,
}

/// `{email}`.
#[derive(Object)]
pub(crate) struct ResetRequest {
    /// The account's email.
    #[oai(validator(max_length = 320))]
    email: crate::http::text::Text,
}

/// `{token, password}`.
#[derive(Object)]
pub(crate) struct ResetConfirm {
    /// The token from the mailed link (`/reset/{token}`).
    #[oai(validator(max_length = 200))]
    token: crate::http::text::Text,
    /// The new password (12 to 1024 characters).
    #[oai(validator(max_length = 1024))]
    password: crate::http::text::Text,
}

/// `{token}`.
#[derive(Object)]
pub(crate) struct VerifyRequest {
    /// The token from the mailed link (`/verify/{token}`).
    #[oai(validator(max_length = 200))]
    token: crate::http::text::Text,
}

#[derive(ApiResponse)]
pub(crate) enum VerifyResponse {
    /// The email is confirmed.
    #[oai(status = 204)]
    Done,
    /// No usable link with this token: unknown, used or expired (`error`: `invalid_link`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

#[derive(ApiResponse)]
pub(crate) enum ResendResponse {
    /// A new link is mailed, unless the email is already confirmed or a link went out less
    /// than a minute ago (`message` says which).
    #[oai(status = 202)]
    Accepted(Json<ResetAccepted>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

/// What happens next.
#[derive(Object)]
pub(crate) struct ResetAccepted {
    /// Always the same words, whether or not the address has an account.
    message: String,
}

const SENT: &str =
    "If an account uses this address, a link to choose a new password is on its way. It works once, for 60 minutes.";

#[derive(ApiResponse)]
pub(crate) enum RequestResponse {
    /// Accepted: a link is mailed if the address has an account (the answer never says).
    #[oai(status = 202)]
    Accepted(Json<ResetAccepted>),
    /// The email is not an address (`field`: `email`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// Storage failed.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

#[derive(ApiResponse)]
pub(crate) enum ConfirmResponse {
    /// The password is changed and every session of the account ended.
    #[oai(status = 204)]
    Done,
    /// The password is outside the policy (`field`: `password`).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// No usable link with this token: unknown, used or expired (`error`: `invalid_link`).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Storage failed, or every password slot is busy.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}

fn unavailable() -> Json<Problem> {
    e_field("unavailable", "accounts are unavailable; try again shortly", None)
}

/// The password reset API.
pub struct ResetApi;

#[OpenApi]
impl ResetApi {
    /// Mail a single-use link (valid 60 minutes) to choose a new password. The answer is the
    /// same whether or not the address has an account; at most one link a minute per account.
    #[oai(path = "/auth/password-reset", method = "post", tag = "ResetTags::Auth")]
    async fn request(&self, state: Data<&AppState>, body: Json<ResetRequest>) -> RequestResponse {
        match state
            .identity
            .accounts
            .request_password_reset(&body.email, state.clock.now())
            .await
        {
            Ok(()) => RequestResponse::Accepted(Json(ResetAccepted {
                message: SENT.to_owned(),
            })),
            Err(PasswordResetError::Email(e)) => {
                RequestResponse::BadRequest(e_field("bad_request", e.to_string(), Some("email")))
            }
            Err(e) => {
                tracing::error!(error = %e, "password reset request failed");
                RequestResponse::Unavailable(unavailable())
            }
        }
    }

    /// Confirm the account's email with the token of the link mailed at sign-up. Buying needs a
    /// confirmed email.
    #[oai(path = "/auth/verify-email", method = "post", tag = "ResetTags::Auth")]
    async fn verify(&self, state: Data<&AppState>, body: Json<VerifyRequest>) -> VerifyResponse {
        match state
            .identity
            .accounts
            .verify_email(&body.token, state.clock.now())
            .await
        {
            Ok(_) => VerifyResponse::Done,
            Err(e @ VerificationError::InvalidLink) => {
                VerifyResponse::NotFound(e_field("invalid_link", e.to_string(), Some("token")))
            }
            Err(e) => {
                tracing::error!(error = %e, "email confirmation failed");
                VerifyResponse::Unavailable(unavailable())
            }
        }
    }

    /// Mail the signed-in account a new confirmation link (valid 48 hours; at most one a
    /// minute).
    #[oai(path = "/auth/verify-email/resend", method = "post", tag = "ResetTags::Auth")]
    async fn resend(&self, state: Data<&AppState>, caller: SignedIn) -> ResendResponse {
        match state
            .identity
            .accounts
            .send_verification(caller.account(), state.clock.now())
            .await
        {
            Ok(sent) => ResendResponse::Accepted(Json(ResetAccepted {
                message: if sent {
                    "A new confirmation link is on its way; it works for 48 hours.".to_owned()
                } else {
                    "Nothing sent: the email is already confirmed, or a link went out less than a minute ago."
                        .to_owned()
                },
            })),
            Err(e) => {
                tracing::error!(error = %e, "confirmation link failed");
                ResendResponse::Unavailable(unavailable())
            }
        }
    }

    /// Choose a new password with a mailed link's token. Ends every session of the account.
    #[oai(path = "/auth/password-reset/confirm", method = "post", tag = "ResetTags::Auth")]
    async fn confirm(&self, state: Data<&AppState>, body: Json<ResetConfirm>) -> ConfirmResponse {
        match state
            .identity
            .accounts
            .reset_password(&body.token, &body.password, state.clock.now())
            .await
        {
            Ok(_) => ConfirmResponse::Done,
            Err(e @ PasswordResetError::InvalidLink) => {
                ConfirmResponse::NotFound(e_field("invalid_link", e.to_string(), Some("token")))
            }
            Err(PasswordResetError::Password(e)) => {
                ConfirmResponse::BadRequest(e_field("bad_request", e.to_string(), Some("password")))
            }
            Err(e) => {
                tracing::error!(error = %e, "password reset failed");
                ConfirmResponse::Unavailable(unavailable())
            }
        }
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    /// `forgot` (ask for a link), `sent`, `choose` (a new password), `done`.
    step: &'static str,
    csrf: String,
    email: String,
    token: String,
    error: Option<String>,
    notice: Option<String>,
}

fn page(state: &AppState, p: ResetPage, status: StatusCode) -> Response {
    let cookie = set_cookie(state, CSRF_COOKIE, &p.csrf, 3600);
    match p.render() {
        Ok(html) => {
            let mut resp = Html(html).with_status(status).into_response();
            if let Ok(c) = cookie.parse() {
                resp.headers_mut().append(poem::http::header::SET_COOKIE, c);
            }
            resp.headers_mut().insert(
                poem::http::header::CACHE_CONTROL,
                poem::http::HeaderValue::from_static("no-store"),
            );
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn fresh_csrf() -> String {
    accounts::SecretToken::generate("").expose().to_owned()
}

fn view(step: &'static str) -> ResetPage {
    ResetPage {
        step,
        csrf: fresh_csrf(),
        email: String::new(),
        token: String::new(),
        error: None,
        notice: None,
    }
}

/// `?sent=1` (a link was asked for) or `?done=1` (the password was changed): where the forms
/// redirect to, so a reload never posts again.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ForgotQuery {
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /forgot`.
#[handler]
pub(crate) fn forgot_page(state: Data<&AppState>, Query(q): Query<ForgotQuery>) -> Response {
    let p = if q.done.is_some() {
        let mut p = view("done");
        p.notice = Some(
            "Your password is changed, and every session of your account was signed out. Sign in with the new password."
                .into(),
        );
        p
    } else if q.sent.is_some() {
        let mut p = view("sent");
        p.notice = Some(SENT.to_owned());
        p
    } else {
        view("forgot")
    };
    page(&state, p, StatusCode::OK)
}

/// The `/forgot` form.
#[derive(Debug, Deserialize)]
pub(crate) struct ForgotForm {
    csrf: String,
    email: String,
}

impl HasCsrf for ForgotForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /forgot`.
#[handler]
pub(crate) async fn forgot_post(state: Data<&AppState>, CheckedForm(f): CheckedForm<ForgotForm>) -> Response {
    match state
        .identity
        .accounts
        .request_password_reset(&f.email, state.clock.now())
        .await
    {
        Ok(()) => Redirect::see_other("/forgot?sent=1").into_response(),
        Err(PasswordResetError::Email(e)) => {
            let mut p = view("forgot");
            p.email = f.email;
            p.error = Some(format!("That does not look like an email address ({e})."));
            page(&state, p, StatusCode::BAD_REQUEST)
        }
        Err(e) => {
            tracing::error!(error = %e, "password reset request failed");
            let mut p = view("forgot");
            p.email = f.email;
            p.error = Some("Accounts are unavailable just now; try again in a minute.".into());
            page(&state, p, StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

fn dead_link() -> Response {
    error_page(
        StatusCode::GONE,
        "This link no longer works",
        "Password links work once, for 60 minutes, and the newest one replaces the others. Ask for a new one on the “Forgot your password?” page (/forgot).",
    )
}

/// `GET /reset/{token}`: the new-password form, when the link still works.
#[handler]
pub(crate) async fn reset_page(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    match state
        .identity
        .accounts
        .reset_link_usable(&token, state.clock.now())
        .await
    {
        Ok(true) => {
            let mut p = view("choose");
            p.token = token;
            page(&state, p, StatusCode::OK)
        }
        Ok(false) => dead_link(),
        Err(e) => {
            tracing::error!(error = %e, "reset link check failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Accounts are unavailable",
                "We could not check this link just now. Try again in a minute.",
            )
        }
    }
}

/// The new-password form.
#[derive(Debug, Deserialize)]
pub(crate) struct ChooseForm {
    csrf: String,
    password: String,
}

impl HasCsrf for ChooseForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /reset/{token}`.
#[handler]
pub(crate) async fn reset_post(
    state: Data<&AppState>,
    Path(token): Path<String>,
    CheckedForm(f): CheckedForm<ChooseForm>,
) -> Response {
    match state
        .identity
        .accounts
        .reset_password(&token, &f.password, state.clock.now())
        .await
    {
        Ok(_) => Redirect::see_other("/forgot?done=1").into_response(),
        Err(PasswordResetError::InvalidLink) => dead_link(),
        Err(PasswordResetError::Password(e)) => {
            let mut p = view("choose");
            p.token = token;
            p.error = Some(format!("Choose another password: {e}."));
            page(&state, p, StatusCode::BAD_REQUEST)
        }
        Err(e) => {
            tracing::error!(error = %e, "password reset failed");
            let mut p = view("choose");
            p.token = token;
            p.error = Some("Accounts are unavailable just now; try again in a minute.".into());
            page(&state, p, StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// `GET /verify/{token}`: confirms the email of the account the link was mailed to.
#[handler]
pub(crate) async fn verify_page(state: Data<&AppState>, Path(token): Path<String>) -> Response {
    match state.identity.accounts.verify_email(&token, state.clock.now()).await {
        Ok(_) => crate::http::page::message_page(
            StatusCode::OK,
            "Your email is confirmed",
            "Thank you. Receipts and password resets will reach you, and you can buy KEYS now.",
        ),
        Err(VerificationError::InvalidLink) => error_page(
            StatusCode::GONE,
            "This link no longer works",
            "Confirmation links work once, for 48 hours. If your email is not confirmed yet, ask for a new link on your account page (/account).",
        ),
        Err(e) => {
            tracing::error!(error = %e, "email confirmation failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Accounts are unavailable",
                "We could not confirm your email just now. Open the link again in a minute.",
            )
        }
    }
}
