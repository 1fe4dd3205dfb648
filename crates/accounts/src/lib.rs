//! # accounts — who is signing in
//!
//! * [`Email`] and [`NewPassword`]: validated inputs (a password is never printed, not even by
//!   `Debug`).
//! * [`hash_password`] / [`verify_password`]: argon2id with a random salt per password.
//! * [`SecretToken`]: random session ids and API tokens; storage only ever sees their sha256
//!   ([`SecretToken::digest`]), so a database leak reveals no usable token.
//! * [`ThrottlePolicy`]: failed sign-ins are limited per account and per address.
//! * [`AccountService`]: sign up, sign in (with one error for "no such email" and "wrong
//!   password"), sign out — over the ports in [`ports`], with time from the caller's clock.
//!
//! ```
//! use accounts::{Email, NewPassword, hash_password, verify_password};
//! let email: Email = " Ada@Example.com ".parse().unwrap();
//! assert_eq!(email.as_str(), "ada@example.com");
//! let password: NewPassword = "correct horse battery".parse().unwrap();
//! let hash = hash_password(&password).unwrap();
//! assert!(verify_password(&hash, "correct horse battery"));
//! assert!(!verify_password(&hash, "Correct horse battery"));
//! assert!("short".parse::<NewPassword>().is_err());
//! ```

mod credentials;
mod org_service;
mod orgs;
pub mod ports;
mod scope;
mod service;
pub mod throttle;

pub use credentials::*;
pub use org_service::*;
pub use orgs::*;
pub use scope::*;
pub use service::*;
pub use throttle::*;
