//! Organisations: roles and the rules of who may do what.

use serde::{Deserialize, Serialize};

use crate::ports::AccountId;

/// An organisation id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrgId(pub i64);

/// A member's role, most powerful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Everything, including removing admins; an organisation always keeps one.
    Owner,
    /// Invites and removes members.
    Admin,
    /// Holds the organisation's entitlements.
    Member,
}

impl OrgRole {
    /// Spelling in storage and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    /// Owners and admins manage the organisation: they buy for it, see its billing and
    /// pending checkouts, its members and invites.
    #[must_use]
    pub const fn manages(self) -> bool {
        matches!(self, OrgRole::Owner | OrgRole::Admin)
    }

    /// Parses [`OrgRole::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(OrgRole::Owner),
            "admin" => Some(OrgRole::Admin),
            "member" => Some(OrgRole::Member),
            _ => None,
        }
    }
}

/// The public id of an invite: `inv_` and the first 16 hex characters of its token's digest
/// (the token itself cannot be derived from it).
#[must_use]
pub fn invite_id(token_digest: &str) -> String {
    format!("inv_{}", token_digest.get(..16).unwrap_or(token_digest))
}

/// One membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// Organisation.
    pub org: OrgId,
    /// Account.
    pub account: AccountId,
    /// Role.
    pub role: OrgRole,
}

/// Why an organisation change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgRuleError {
    /// The actor's role does not allow it.
    #[error("your role in this organisation does not allow that")]
    NotAllowed,
    /// It would leave the organisation without an owner.
    #[error("an organisation must keep at least one owner; make someone else owner first")]
    LastOwner,
}

/// Whether `actor` may invite someone with `role`.
///
/// # Errors
/// [`OrgRuleError::NotAllowed`]: members cannot invite; admins cannot invite owners.
pub fn may_invite(actor: OrgRole, role: OrgRole) -> Result<(), OrgRuleError> {
    match (actor, role) {
        (OrgRole::Owner, _) | (OrgRole::Admin, OrgRole::Admin | OrgRole::Member) => Ok(()),
        _ => Err(OrgRuleError::NotAllowed),
    }
}

/// Whether `actor` may remove `target` (someone else) given how many owners there are.
///
/// # Errors
/// [`OrgRuleError::NotAllowed`] or [`OrgRuleError::LastOwner`].
pub fn may_remove(actor: OrgRole, target: OrgRole, owners: usize) -> Result<(), OrgRuleError> {
    match (actor, target) {
        (OrgRole::Owner, OrgRole::Owner) if owners <= 1 => Err(OrgRuleError::LastOwner),
        (OrgRole::Owner, _) | (OrgRole::Admin, OrgRole::Member) => Ok(()),
        _ => Err(OrgRuleError::NotAllowed),
    }
}

/// Whether a member with `role` may leave.
///
/// # Errors
/// [`OrgRuleError::LastOwner`] for the last owner.
pub fn may_leave(role: OrgRole, owners: usize) -> Result<(), OrgRuleError> {
    if role == OrgRole::Owner && owners <= 1 {
        Err(OrgRuleError::LastOwner)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrgRole::{Admin, Member, Owner};

    #[test]
    fn rules_table() {
        for (actor, role, ok) in [
            (Owner, Owner, true),
            (Owner, Member, true),
            (Admin, Admin, true),
            (Admin, Member, true),
            (Admin, Owner, false),
            (Member, Member, false),
        ] {
            assert_eq!(may_invite(actor, role).is_ok(), ok, "invite {actor:?} {role:?}");
        }
        for (actor, target, owners, want) in [
            (Owner, Member, 1, Ok(())),
            (Owner, Admin, 1, Ok(())),
            (Owner, Owner, 2, Ok(())),
            (Owner, Owner, 1, Err(OrgRuleError::LastOwner)),
            (Admin, Member, 1, Ok(())),
            (Admin, Admin, 1, Err(OrgRuleError::NotAllowed)),
            (Admin, Owner, 1, Err(OrgRuleError::NotAllowed)),
            (Member, Member, 1, Err(OrgRuleError::NotAllowed)),
        ] {
            assert_eq!(
                may_remove(actor, target, owners),
                want,
                "remove {actor:?} {target:?} {owners}"
            );
        }
        assert_eq!(may_leave(Owner, 1), Err(OrgRuleError::LastOwner));
        assert!(may_leave(Owner, 2).is_ok() && may_leave(Member, 1).is_ok());
        for r in [Owner, Admin, Member] {
            assert_eq!(OrgRole::parse(r.as_str()), Some(r));
        }
        assert!(Owner.manages() && Admin.manages() && !Member.manages());
        assert_eq!(invite_id("0123456789abcdef0123"), "inv_0123456789abcdef");
    }
}
