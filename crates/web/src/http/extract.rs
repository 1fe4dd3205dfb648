//! Extractors: who is calling, and whether a form may be trusted — decided once, here, for
//! every handler.
//!
//! * `SignedIn` (JSON API): the caller behind the session cookie or an API token; 401 else.
//! * `Admin` (JSON API): a signed-in account holding the admin role (read from the database
//!   at every request); 401, 403 or 503 else.
//! * `PageSession` (pages): the live session; a redirect to `/login` else.
//! * `CheckedForm` (form posts): the form's `csrf` field matches the session's token when
//!   signed in, or the double-submit `keys_csrf` cookie before sign-in; 403 else. Every
//!   state-changing form route takes one (the router-table test holds every route to it).
//! * `SignedInForm`: both — a `CheckedForm` from a live session.

use accounts::ports::{AccountId, Session};
use poem::http::StatusCode;
use poem::web::{Form, Redirect};
use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::http::problem::{Problem, e};
use crate::http::session::{CSRF_COOKIE, Caller, caller_of, constant_time_eq, session_of, shop_cookie};

/// A [`Problem`] as a poem error, answered as it is (see [`crate::api_error`]).
#[derive(Debug)]
pub(crate) struct ProblemError(pub(crate) StatusCode, pub(crate) Problem);

impl std::fmt::Display for ProblemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1.message)
    }
}

impl std::error::Error for ProblemError {}

impl ProblemError {
    pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> poem::Error {
        poem::Error::new(ProblemError(status, e(code, message).0), status)
    }

    pub(crate) fn response(&self) -> Response {
        (self.0, poem::web::Json(&self.1)).into_response()
    }
}

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| ProblemError::error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "no state"))
}

/// The caller of a JSON API operation.
pub(crate) struct SignedIn(pub(crate) Caller);

impl SignedIn {
    /// The account.
    pub(crate) fn account(&self) -> AccountId {
        self.0.account
    }
}

impl<'a> FromRequest<'a> for SignedIn {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = state(req)?;
        caller_of(state, req)
            .await
            .map(SignedIn)
            .ok_or_else(|| ProblemError::error(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first"))
    }
}

/// A signed-in admin (the role is read from the database at every request; an API token must
/// also have the `admin` scope, which [`crate::http::guard::api_guard`] checks).
pub(crate) struct Admin(pub(crate) AccountId);

impl<'a> FromRequest<'a> for Admin {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = state(req)?;
        let SignedIn(caller) = SignedIn::from_request(req, body).await?;
        match state.identity.accounts.is_admin(caller.account).await {
            Ok(true) => Ok(Admin(caller.account)),
            Ok(false) => Err(ProblemError::error(StatusCode::FORBIDDEN, "forbidden", "admins only")),
            Err(err) => {
                tracing::error!(error = %err, "admin check failed");
                Err(ProblemError::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "try again shortly",
                ))
            }
        }
    }
}

/// The live session of a page request; otherwise the browser is sent to `/login`, which
/// brings it back to this page afterwards (`?next=`).
pub(crate) struct PageSession(pub(crate) Session);

impl<'a> FromRequest<'a> for PageSession {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = state(req)?;
        let here = req.uri().path_and_query().map_or("/", |p| p.as_str());
        session_of(state, req).await.map(PageSession).ok_or_else(|| {
            poem::Error::from_response(
                Redirect::see_other(crate::http::session::with_next("/login", here)).into_response(),
            )
        })
    }
}

/// A form with a `csrf` field.
pub(crate) trait HasCsrf {
    /// The submitted token.
    fn csrf(&self) -> &str;
}

/// Whether `submitted` is the session's CSRF token, or the double-submit cookie's value.
pub(crate) fn csrf_accepted(state: &AppState, req: &Request, session: Option<&Session>, submitted: &str) -> bool {
    let by_session = session.is_some_and(|s| constant_time_eq(s.csrf_token.as_bytes(), submitted.as_bytes()));
    let by_cookie = shop_cookie(state, req, CSRF_COOKIE)
        .is_some_and(|c| !c.is_empty() && constant_time_eq(c.as_bytes(), submitted.as_bytes()));
    by_session || by_cookie
}

fn forged() -> poem::Error {
    poem::Error::from_response(crate::http::page::error_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The page you sent it from is out of date (you may have signed in or out since it was opened). Go back, reload the page and try again.",
    ))
}

/// A form post whose CSRF token checks out (the session's when signed in, else the
/// double-submit cookie's).
pub(crate) struct CheckedForm<T>(pub(crate) T);

impl<'a, T: DeserializeOwned + HasCsrf + Send> FromRequest<'a> for CheckedForm<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = state(req)?;
        let Form(form) = Form::<T>::from_request(req, body).await?;
        let session = session_of(state, req).await;
        if csrf_accepted(state, req, session.as_ref(), form.csrf()) {
            Ok(CheckedForm(form))
        } else {
            Err(forged())
        }
    }
}

/// A form post from a live session with the session's CSRF token (no session: to `/login`).
pub(crate) struct SignedInForm<T>(pub(crate) Session, pub(crate) T);

impl<'a, T: DeserializeOwned + HasCsrf + Send> FromRequest<'a> for SignedInForm<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = state(req)?;
        let Some(session) = session_of(state, req).await else {
            return Err(poem::Error::from_response(
                Redirect::see_other("/login").into_response(),
            ));
        };
        let Form(form) = Form::<T>::from_request(req, body).await?;
        if constant_time_eq(session.csrf_token.as_bytes(), form.csrf().as_bytes()) {
            Ok(SignedInForm(session, form))
        } else {
            Err(forged())
        }
    }
}

/// A form with nothing but its CSRF token (sign out, sign out everywhere, the portal, …).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: String,
}

impl HasCsrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
