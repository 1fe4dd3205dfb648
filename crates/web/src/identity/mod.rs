//! Accounts: sign-up, sign-in, sessions, passwords, API tokens ([`signin`]) and organisations
//! ([`orgs`]).

pub mod orgs;
pub mod signin;
