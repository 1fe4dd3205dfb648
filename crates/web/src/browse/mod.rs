//! The public catalog: the marketplace and KEY pages ([`pages`]) and the catalog API
//! ([`keys_api`]).

pub mod keys_api;
pub mod pages;
