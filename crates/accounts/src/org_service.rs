//! Organisation use cases over [`OrgRepository`]: create, list, members, invites (create,
//! list, revoke, accept), leave, remove — each decided by the rules in `orgs.rs`.
//!
//! Invites are bearer tokens, so they must not outlive the authority of whoever made them:
//! removing a member (or a member leaving) revokes their unused invites in the same
//! transaction, and accepting checks that the creator is still a member whose role may invite
//! that role.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::ports::{AccountId, AccountStoreError, Invite, MemberInfo, OrgRepository, Organisation};
use crate::{Membership, OrgId, OrgRole, OrgRuleError, SecretToken, may_invite, may_leave, may_remove};

/// Invites are valid this long.
pub const INVITE_TTL_DAYS: i64 = 7;
/// Longest organisation name, in characters.
pub const MAX_ORG_NAME_CHARS: usize = 100;

/// Why an organisation operation was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// The name is empty or too long.
    #[error("`name` must be 1 to {MAX_ORG_NAME_CHARS} characters")]
    BadName,
    /// The caller is not a member (or the organisation does not exist: the same answer, so
    /// outsiders learn nothing).
    #[error("you are not in organisation {0}")]
    NotAMember(i64),
    /// The target account is not a member.
    #[error("account {account} is not in organisation {org}")]
    NoSuchMember {
        /// Organisation.
        org: i64,
        /// Account.
        account: i64,
    },
    /// No such live invite.
    #[error("this invite does not exist, was already used, was revoked, or has expired")]
    NoSuchInvite,
    /// The caller's role does not allow it, or it would leave no owner.
    #[error(transparent)]
    Rule(#[from] OrgRuleError),
    /// The invitee's address is not an email address.
    #[error(transparent)]
    Email(#[from] crate::EmailError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] AccountStoreError),
}

/// A freshly created invite: the token is shown once.
#[derive(Debug, Clone)]
pub struct NewInvite {
    /// The bearer token to send to the invitee.
    pub token: SecretToken,
    /// The invite as listed.
    pub invite: Invite,
}

/// Organisations, members and invites.
#[derive(Clone)]
pub struct OrgService {
    orgs: Arc<dyn OrgRepository>,
}

impl std::fmt::Debug for OrgService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrgService")
    }
}

impl OrgService {
    /// Builds the service over its port.
    #[must_use]
    pub fn new(orgs: Arc<dyn OrgRepository>) -> Self {
        Self { orgs }
    }

    /// The port (read-only helpers elsewhere: memberships for access checks).
    #[must_use]
    pub fn repository(&self) -> &Arc<dyn OrgRepository> {
        &self.orgs
    }

    /// The caller's role in `org` and the organisation's owner count.
    async fn role_in(&self, org: OrgId, account: AccountId) -> Result<(OrgRole, usize), OrgError> {
        let members = self.orgs.members(org).await?;
        let owners = members.iter().filter(|m| m.role == OrgRole::Owner).count();
        members
            .iter()
            .find(|m| m.account == account)
            .map(|m| (m.role, owners))
            .ok_or(OrgError::NotAMember(org.0))
    }

    /// The caller's role in `org`, when it is one that manages the organisation (owner or
    /// admin): buying for it, its billing, members and invites.
    ///
    /// # Errors
    /// [`OrgError::NotAMember`], or [`OrgRuleError::NotAllowed`] for a plain member.
    pub async fn manager_role(&self, org: OrgId, account: AccountId) -> Result<OrgRole, OrgError> {
        let (role, _) = self.role_in(org, account).await?;
        if role.manages() {
            Ok(role)
        } else {
            Err(OrgRuleError::NotAllowed.into())
        }
    }

    /// Creates an organisation owned by `owner`.
    ///
    /// # Errors
    /// [`OrgError::BadName`], [`OrgError::Store`].
    pub async fn create(&self, name: &str, owner: AccountId, now: DateTime<Utc>) -> Result<Organisation, OrgError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_ORG_NAME_CHARS {
            return Err(OrgError::BadName);
        }
        Ok(self.orgs.create(name, owner, now).await?)
    }

    /// The organisations an account belongs to, with its role.
    ///
    /// # Errors
    /// [`OrgError::Store`].
    pub async fn memberships(&self, account: AccountId) -> Result<Vec<(Organisation, OrgRole)>, OrgError> {
        Ok(self.orgs.memberships_of(account).await?)
    }

    /// The members (owners and admins only).
    ///
    /// # Errors
    /// [`OrgError`].
    pub async fn members(&self, org: OrgId, caller: AccountId) -> Result<Vec<MemberInfo>, OrgError> {
        self.manager_role(org, caller).await?;
        Ok(self.orgs.member_list(org).await?)
    }

    /// A single-use invite for `role`, valid [`INVITE_TTL_DAYS`] days.
    ///
    /// # Errors
    /// [`OrgError`].
    pub async fn invite(
        &self,
        org: OrgId,
        caller: AccountId,
        role: OrgRole,
        now: DateTime<Utc>,
    ) -> Result<NewInvite, OrgError> {
        self.create_invite(org, caller, role, None, now).await
    }

    /// Like [`OrgService::invite`], and the link is mailed to `email` (queued in the same
    /// transaction as the invite; the caller still gets the link, to send it another way too).
    ///
    /// # Errors
    /// [`OrgError::Email`] for a malformed address, and the others.
    pub async fn invite_by_email(
        &self,
        org: OrgId,
        caller: AccountId,
        role: OrgRole,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<NewInvite, OrgError> {
        let email: crate::Email = email.parse()?;
        self.create_invite(org, caller, role, Some(email), now).await
    }

    async fn create_invite(
        &self,
        org: OrgId,
        caller: AccountId,
        role: OrgRole,
        to: Option<crate::Email>,
        now: DateTime<Utc>,
    ) -> Result<NewInvite, OrgError> {
        let (mine, _) = self.role_in(org, caller).await?;
        may_invite(mine, role)?;
        let token = SecretToken::generate("keys_inv_");
        let digest = token.digest();
        let notice = match to {
            Some(to) => {
                let name = self
                    .orgs
                    .memberships_of(caller)
                    .await?
                    .into_iter()
                    .find(|(o, _)| o.id == org)
                    .map(|(o, _)| o.name)
                    .unwrap_or_default();
                Some(mail::Notice {
                    kind: mail::NoticeKind::Invitation,
                    account: Some(caller.0),
                    to: Some(to.as_str().to_owned()),
                    order: None,
                    detail: name,
                    secret: Some(token.expose().to_owned()),
                    dedupe: format!("invitation:{digest}"),
                })
            }
            None => None,
        };
        let invite = self
            .orgs
            .create_invite(
                &digest,
                org,
                role,
                caller,
                now,
                now + Duration::days(INVITE_TTL_DAYS),
                notice,
            )
            .await?;
        Ok(NewInvite { token, invite })
    }

    /// The live invites (owners and admins only).
    ///
    /// # Errors
    /// [`OrgError`].
    pub async fn invites(&self, org: OrgId, caller: AccountId, now: DateTime<Utc>) -> Result<Vec<Invite>, OrgError> {
        self.manager_role(org, caller).await?;
        Ok(self.orgs.invites(org, now).await?)
    }

    /// Revokes a live invite (owners and admins only).
    ///
    /// # Errors
    /// [`OrgError::NoSuchInvite`] and the others.
    pub async fn revoke_invite(
        &self,
        org: OrgId,
        caller: AccountId,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), OrgError> {
        self.manager_role(org, caller).await?;
        if self.orgs.revoke_invite(org, id, now).await? {
            Ok(())
        } else {
            Err(OrgError::NoSuchInvite)
        }
    }

    /// Accepts an invite: only while its creator is still a member whose role may invite
    /// that role (a removed or demoted admin's invites are dead).
    ///
    /// # Errors
    /// [`OrgError::NoSuchInvite`], [`OrgError::Store`].
    pub async fn accept(
        &self,
        token: &SecretToken,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Membership, OrgError> {
        let digest = token.digest();
        let invite = self
            .orgs
            .find_invite(&digest, now)
            .await?
            .ok_or(OrgError::NoSuchInvite)?;
        let creator_may = match self.role_in(invite.org, invite.created_by).await {
            Ok((creator, _)) => may_invite(creator, invite.role).is_ok(),
            Err(OrgError::NotAMember(_)) => false,
            Err(e) => return Err(e),
        };
        if !creator_may {
            return Err(OrgError::NoSuchInvite);
        }
        self.orgs
            .accept_invite(&digest, account, now)
            .await?
            .ok_or(OrgError::NoSuchInvite)
    }

    /// Leaves an organisation (not as its last owner); the leaver's unused invites die.
    ///
    /// # Errors
    /// [`OrgError`].
    pub async fn leave(&self, org: OrgId, caller: AccountId, now: DateTime<Utc>) -> Result<(), OrgError> {
        let (mine, owners) = self.role_in(org, caller).await?;
        may_leave(mine, owners)?;
        self.orgs.remove(org, caller, now).await?;
        Ok(())
    }

    /// Removes a member (owners remove anyone but the last owner; admins remove members); the
    /// removed member's unused invites die with the membership.
    ///
    /// # Errors
    /// [`OrgError`].
    pub async fn remove(
        &self,
        org: OrgId,
        caller: AccountId,
        target: AccountId,
        now: DateTime<Utc>,
    ) -> Result<(), OrgError> {
        let (mine, owners) = self.role_in(org, caller).await?;
        if target == caller {
            may_leave(mine, owners)?;
        } else {
            let (theirs, _) = self.role_in(org, target).await.map_err(|e| match e {
                OrgError::NotAMember(_) => OrgError::NoSuchMember {
                    org: org.0,
                    account: target.0,
                },
                other => other,
            })?;
            may_remove(mine, theirs, owners)?;
        }
        self.orgs.remove(org, target, now).await?;
        Ok(())
    }
}
