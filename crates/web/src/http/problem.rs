//! The one JSON error shape of the API, and the answer enum most operations share.

use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object};

/// An error: what went wrong, for a machine and for a person.
#[derive(Object, Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Problem {
    /// Machine-readable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `throttled`, `payment_provider`, `unavailable`, …
    pub(crate) error: String,
    /// For a person (echoes at most ~100 characters of what was sent).
    pub(crate) message: String,
    /// The body field at fault, when there is one.
    #[oai(nullable)]
    pub(crate) field: Option<String>,
    /// The parameter at fault, when there is one.
    #[oai(nullable)]
    pub(crate) parameter: Option<String>,
    /// The request's id (also its `X-Request-Id` header and in every log line of the
    /// request): quote it when asking for help.
    #[oai(skip_serializing_if_is_none)]
    pub(crate) request_id: Option<String>,
}

/// A [`Problem`] payload.
pub(crate) fn e(error: &str, message: impl Into<String>) -> Json<Problem> {
    Json(Problem {
        error: error.into(),
        message: message.into(),
        field: None,
        parameter: None,
        request_id: None,
    })
}

/// A [`Problem`] payload naming the body field at fault.
pub(crate) fn e_field(error: &str, message: impl Into<String>, field: Option<&str>) -> Json<Problem> {
    Json(Problem {
        error: error.into(),
        message: message.into(),
        field: field.map(str::to_owned),
        parameter: None,
        request_id: None,
    })
}

/// A [`Problem`] payload naming the query parameter at fault.
pub(crate) fn e_param(error: &str, message: impl Into<String>, parameter: Option<String>) -> Json<Problem> {
    Json(Problem {
        error: error.into(),
        message: message.into(),
        field: None,
        parameter,
        request_id: None,
    })
}

/// The answers an operation without special headers gives.
#[derive(ApiResponse)]
pub(crate) enum Answer<T: ToJSON + Send + Sync> {
    /// Done.
    #[oai(status = 200)]
    Ok(Json<T>),
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
    /// Accepted: the payment provider will confirm by webhook.
    #[oai(status = 202)]
    Accepted(Json<T>),
    /// Done, nothing to return.
    #[oai(status = 204)]
    Done,
    /// A parameter or field is invalid (`field` or `parameter` names it).
    #[oai(status = 400)]
    BadRequest(Json<Problem>),
    /// Signed in, not allowed (a role, an admin-only operation, a token's scope).
    #[oai(status = 403)]
    Forbidden(Json<Problem>),
    /// Unknown (or not yours).
    #[oai(status = 404)]
    NotFound(Json<Problem>),
    /// Not possible in the current state (already owned, last owner, payment in progress, …).
    #[oai(status = 409)]
    Conflict(Json<Problem>),
    /// The payment provider failed.
    #[oai(status = 502)]
    BadGateway(Json<Problem>),
    /// Storage failed (or nothing is priced yet); try again shortly.
    #[oai(status = 503)]
    Unavailable(Json<Problem>),
}
