//! Accounts: sign-up, sign-in, sessions, passwords, API tokens ([`signin`]) and organisations
//! ([`orgs`]).

pub mod org_pages;
pub mod orgs;
pub mod reset;
pub mod signin;
