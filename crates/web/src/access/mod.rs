//! Who may have what: entitlements (mine and the admin API, [`entitlements_api`]), download
//! links ([`links`]) and the library pages ([`library`]).

pub mod entitlements_api;
pub mod library;
pub mod links;
