//! What a personal API token may do.
//!
//! Scopes nest: `read` ⊂ `download` ⊂ `admin`.
//! * `read`: safe requests only (`GET`): the catalog, quotes, the owner's entitlements, orders,
//!   organisations, recommendations.
//! * `download`: `read`, plus download links (`POST /api/v1/keys/{slug}/download`) and using
//!   them.
//! * `admin`: everything the account itself may do through the API, including state changes
//!   and — for admin accounts only — the admin API. Only an account that holds the admin role
//!   may create one.
//!
//! Whatever the scope, a token never creates tokens (that needs the signed-in browser
//! session), and the admin API also checks the account's admin role at every request.

use serde::{Deserialize, Serialize};

/// Days a new token lives unless asked otherwise.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
/// The longest lifetime a new token may be given.
pub const MAX_TOKEN_DAYS: u32 = 365;

/// A token's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Safe requests only.
    Read,
    /// Reads and downloads.
    Download,
    /// Everything the account may do, including the admin API for admins.
    Admin,
}

/// What a request needs from its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A safe request.
    Read,
    /// A download link, or using one.
    Download,
    /// A state change.
    Write,
    /// The admin API.
    Admin,
}

impl TokenScope {
    /// Every scope, narrowest first.
    pub const ALL: [TokenScope; 3] = [TokenScope::Read, TokenScope::Download, TokenScope::Admin];

    /// Spelling in storage and JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Download => "download",
            TokenScope::Admin => "admin",
        }
    }

    /// Parses [`TokenScope::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a token of this scope may make a request needing `access`.
    #[must_use]
    pub const fn permits(self, access: Access) -> bool {
        match access {
            Access::Read => true,
            Access::Download => matches!(self, TokenScope::Download | TokenScope::Admin),
            Access::Write | Access::Admin => matches!(self, TokenScope::Admin),
        }
    }

    /// Whether an account may create a token of this scope.
    #[must_use]
    pub const fn may_be_created_by(self, account_is_admin: bool) -> bool {
        account_is_admin || !matches!(self, TokenScope::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest() {
        use TokenScope::{Admin, Download, Read};
        for (scope, access, ok) in [
            (Read, Access::Read, true),
            (Read, Access::Download, false),
            (Read, Access::Write, false),
            (Read, Access::Admin, false),
            (Download, Access::Read, true),
            (Download, Access::Download, true),
            (Download, Access::Write, false),
            (Download, Access::Admin, false),
            (Admin, Access::Read, true),
            (Admin, Access::Download, true),
            (Admin, Access::Write, true),
            (Admin, Access::Admin, true),
        ] {
            assert_eq!(scope.permits(access), ok, "{scope:?} {access:?}");
        }
        assert!(!Admin.may_be_created_by(false));
        assert!(Admin.may_be_created_by(true));
        assert!(Download.may_be_created_by(false));
        for s in TokenScope::ALL {
            assert_eq!(TokenScope::parse(s.as_str()), Some(s));
        }
        assert_eq!(TokenScope::parse("root"), None);
    }
}
