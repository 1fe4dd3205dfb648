//! The HTTP layer every feature shares: who is calling ([`session`], [`extract`]), the one
//! JSON error shape ([`problem`]), pages ([`page`], [`markdown`]), strict JSON strings
//! ([`text`]), the middleware ([`guard`]) and the OpenAPI document ([`spec`]). Nothing here
//! depends on a feature module.

pub mod access_cache;
pub mod extract;
pub mod guard;
pub mod markdown;
pub mod metrics;
pub mod outage;
pub mod page;
pub mod problem;
pub mod session;
pub mod spec;
pub mod text;
