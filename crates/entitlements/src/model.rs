//! Entitlement types and rules.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use catalog::{Slug, Tier};

/// An organisation id: the accounts crate's.
pub use accounts::OrgId;
/// A user account id: the accounts crate's [`accounts::ports::AccountId`] (one id type per concept;
/// `UserId` is its name where entitlements are concerned).
pub use accounts::ports::AccountId as UserId;

/// An entitlement id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntitlementId(pub i64);

/// Who holds an entitlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Holder {
    /// One account.
    User(UserId),
    /// Every current member of an organisation.
    Organisation(OrgId),
}

/// Who is asking: a user and the organisations they belong to *now*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user: UserId,
    /// Current memberships (a removed member is not listed, so loses access at once).
    pub organisations: Vec<OrgId>,
}

impl Principal {
    /// Whether the principal holds entitlements of `holder`.
    #[must_use]
    pub fn acts_for(&self, holder: Holder) -> bool {
        match holder {
            Holder::User(u) => u == self.user,
            Holder::Organisation(o) => self.organisations.contains(&o),
        }
    }
}

/// The KEY being asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// Its slug.
    pub slug: Slug,
    /// Its tier (plans cover every KEY at or below theirs).
    pub tier: Tier,
}

impl From<&catalog::KeyMetadata> for KeyRef {
    fn from(meta: &catalog::KeyMetadata) -> Self {
        Self {
            slug: meta.slug.clone(),
            tier: meta.tier,
        }
    }
}

impl From<&catalog::Key> for KeyRef {
    fn from(key: &catalog::Key) -> Self {
        Self::from(&key.meta)
    }
}

/// What an entitlement covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Scope {
    /// One KEY, every version.
    Key(Slug),
    /// The KEYS of a bundle (as they were when bought).
    Bundle {
        /// Bundle slug.
        bundle: Slug,
        /// Member KEYS.
        keys: Vec<Slug>,
    },
    /// Every KEY at or below a tier, including KEYS added later.
    Plan {
        /// The plan's tier.
        tier: Tier,
    },
}

impl Scope {
    /// Whether the scope covers a KEY.
    #[must_use]
    pub fn covers(&self, key: &KeyRef) -> bool {
        match self {
            Scope::Key(s) => *s == key.slug,
            Scope::Bundle { keys, .. } => keys.contains(&key.slug),
            Scope::Plan { tier } => key.tier <= *tier,
        }
    }
}

/// Why an entitlement exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Bought one KEY.
    Purchase,
    /// Bought a bundle.
    BundlePurchase,
    /// A subscription plan.
    Subscription,
    /// Granted by support or an admin.
    ManualGrant,
    /// An upgrade fully paid by earlier purchases.
    FreeUpgrade,
}

/// How long an entitlement lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Term {
    /// Forever (unless refunded, charged back or revoked by support).
    Perpetual,
    /// Until a period end, plus a grace period when payment fails.
    TimeBound {
        /// End of the paid period.
        period_end: DateTime<Utc>,
    },
}

/// Why an entitlement was revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RevokeReason {
    /// The payment was refunded.
    Refund,
    /// The payment was charged back.
    Chargeback,
    /// Support revoked it, with a note.
    Support {
        /// Why.
        note: String,
    },
    /// The subscription ended.
    SubscriptionEnded,
    /// Payment failed and the grace period ran out.
    GraceExpired,
}

/// The state of an entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Status {
    /// In force.
    Active,
    /// Payment failed; access continues until `grace_until`.
    PastDue {
        /// End of the grace period.
        grace_until: DateTime<Utc>,
        /// End of the unpaid period that made it past due, when known: a renewal paying
        /// through it clears past-due, an earlier (stale) one does not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unpaid_until: Option<DateTime<Utc>>,
    },
    /// Ended.
    Revoked {
        /// Why.
        reason: RevokeReason,
        /// When.
        at: DateTime<Utc>,
    },
    /// Suspended while the payment that bought it is disputed (a chargeback is open): no
    /// access until the dispute closes — restored when won, revoked when lost.
    Disputed {
        /// The dispute (`dp_…`).
        dispute: String,
        /// Since when.
        since: DateTime<Utc>,
    },
}

/// One entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// Id.
    pub id: EntitlementId,
    /// Holder.
    pub holder: Holder,
    /// What it covers.
    pub scope: Scope,
    /// Why it exists.
    pub source: Source,
    /// How long.
    pub term: Term,
    /// Current state.
    pub status: Status,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A change that the rules refuse. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Already revoked.
    #[error("entitlement {0:?} is already revoked")]
    AlreadyRevoked(EntitlementId),
    /// A perpetual grant can only be revoked by a refund, a chargeback or support.
    #[error("a perpetual entitlement can only be revoked by a refund, a chargeback or support, not by {0:?}")]
    PerpetualNotRevocableBy(RevokeReason),
    /// Past-due, renewal and expiry apply to time-bound entitlements only.
    #[error("entitlement {0:?} is perpetual; subscription events do not apply to it")]
    NotTimeBound(EntitlementId),
    /// The grace period has not run out yet.
    #[error("the grace period of entitlement {0:?} has not run out yet")]
    GraceNotOver(EntitlementId),
    /// Only an entitlement in force can be suspended, and only a suspended one restored.
    #[error("entitlement {0:?} is not in a state this dispute step applies to")]
    NotDisputable(EntitlementId),
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// An admin account.
    Admin {
        /// The admin.
        user: UserId,
    },
    /// A Stripe event.
    Stripe {
        /// Its id (`evt_…`).
        event_id: String,
    },
    /// The system (sweeps, free upgrades).
    System,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditAction {
    /// Granted.
    Grant,
    /// Revoked.
    Revoke {
        /// Why.
        reason: RevokeReason,
    },
    /// Marked past due.
    PastDue {
        /// Grace end.
        grace_until: DateTime<Utc>,
    },
    /// Period extended (and past-due cleared).
    Renew {
        /// New period end.
        period_end: DateTime<Utc>,
    },
    /// Suspended while a dispute is open.
    Suspend {
        /// The dispute.
        dispute: String,
    },
    /// Restored: the dispute was won.
    Restore {
        /// The dispute.
        dispute: String,
    },
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The entitlement.
    pub entitlement: EntitlementId,
    /// Its holder.
    pub holder: Holder,
    /// What changed.
    pub action: AuditAction,
    /// Who did it.
    pub actor: Actor,
    /// Free text cause (admin's reason, event type).
    pub cause: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Entitlement {
    /// A new, active entitlement.
    #[must_use]
    pub fn grant(
        id: EntitlementId,
        holder: Holder,
        scope: Scope,
        source: Source,
        term: Term,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            holder,
            scope,
            source,
            term,
            status: Status::Active,
            granted_at: now,
            updated_at: now,
        }
    }

    /// Whether it gives access at `now`.
    #[must_use]
    pub fn is_effective(&self, now: DateTime<Utc>) -> bool {
        match (&self.status, self.term) {
            (Status::Revoked { .. } | Status::Disputed { .. }, _) => false,
            (Status::PastDue { grace_until, .. }, _) => now < *grace_until,
            (Status::Active, Term::Perpetual) => true,
            (Status::Active, Term::TimeBound { period_end }) => now < period_end,
        }
    }

    /// When access ends, if it does (period end, or grace end when past due).
    #[must_use]
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match (&self.status, self.term) {
            (Status::Revoked { at, .. } | Status::Disputed { since: at, .. }, _) => Some(*at),
            (Status::PastDue { grace_until, .. }, _) => Some(*grace_until),
            (Status::Active, Term::Perpetual) => None,
            (Status::Active, Term::TimeBound { period_end }) => Some(period_end),
        }
    }

    fn audit(&self, action: AuditAction, actor: Actor, cause: &str, at: DateTime<Utc>) -> AuditEntry {
        AuditEntry {
            entitlement: self.id,
            holder: self.holder,
            action,
            actor,
            cause: cause.to_owned(),
            at,
        }
    }

    /// The audit line of the grant itself.
    #[must_use]
    pub fn grant_audit(&self, actor: Actor, cause: &str) -> AuditEntry {
        self.audit(AuditAction::Grant, actor, cause, self.granted_at)
    }

    /// Revokes, following the rules.
    ///
    /// # Errors
    /// [`RuleError::AlreadyRevoked`], or [`RuleError::PerpetualNotRevocableBy`] when a perpetual
    /// grant would end by a subscription reason.
    pub fn revoke(
        &mut self,
        reason: RevokeReason,
        actor: Actor,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, RuleError> {
        if matches!(self.status, Status::Revoked { .. }) {
            return Err(RuleError::AlreadyRevoked(self.id));
        }
        let allowed = match (&self.term, &reason) {
            (Term::Perpetual, RevokeReason::Refund | RevokeReason::Chargeback | RevokeReason::Support { .. }) => true,
            (Term::Perpetual, _) => false,
            (Term::TimeBound { .. }, _) => true,
        };
        if !allowed {
            return Err(RuleError::PerpetualNotRevocableBy(reason));
        }
        self.status = Status::Revoked {
            reason: reason.clone(),
            at: now,
        };
        self.updated_at = now;
        Ok(self.audit(AuditAction::Revoke { reason }, actor, cause, now))
    }

    /// Payment failed: access continues for `grace` after `now` (or after the period end, if
    /// later). Marking twice keeps the earlier grace end.
    ///
    /// # Errors
    /// [`RuleError::NotTimeBound`] or [`RuleError::AlreadyRevoked`].
    pub fn mark_past_due(
        &mut self,
        grace: Duration,
        actor: Actor,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, RuleError> {
        let Term::TimeBound { period_end } = self.term else {
            return Err(RuleError::NotTimeBound(self.id));
        };
        let grace_until = match &self.status {
            Status::Revoked { .. } => return Err(RuleError::AlreadyRevoked(self.id)),
            Status::Disputed { .. } => return Err(RuleError::NotDisputable(self.id)),
            Status::PastDue { grace_until, .. } => *grace_until,
            Status::Active => period_end.max(now) + grace,
        };
        let unpaid_until = match &self.status {
            Status::PastDue { unpaid_until, .. } => *unpaid_until,
            _ => None,
        };
        self.status = Status::PastDue {
            grace_until,
            unpaid_until,
        };
        self.updated_at = now;
        Ok(self.audit(AuditAction::PastDue { grace_until }, actor, cause, now))
    }

    /// The invoice for the period ending `unpaid_until` failed. Nothing changes when the
    /// entitlement is already paid through that period (a stale failure): `Ok(None)`. Otherwise
    /// it is past due until `grace` after its period end (or now, if later), remembering the
    /// unpaid period so a renewal for an earlier period does not clear it.
    ///
    /// # Errors
    /// [`RuleError::NotTimeBound`] or [`RuleError::AlreadyRevoked`].
    pub fn mark_unpaid(
        &mut self,
        unpaid_until: DateTime<Utc>,
        grace: Duration,
        actor: Actor,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AuditEntry>, RuleError> {
        let Term::TimeBound { period_end } = self.term else {
            return Err(RuleError::NotTimeBound(self.id));
        };
        if period_end >= unpaid_until {
            return Ok(None);
        }
        let (grace_until, unpaid) = match &self.status {
            Status::Revoked { .. } => return Err(RuleError::AlreadyRevoked(self.id)),
            Status::Disputed { .. } => return Err(RuleError::NotDisputable(self.id)),
            Status::PastDue {
                grace_until,
                unpaid_until: known,
            } => (*grace_until, known.map_or(unpaid_until, |k| k.max(unpaid_until))),
            Status::Active => (period_end.max(now) + grace, unpaid_until),
        };
        self.status = Status::PastDue {
            grace_until,
            unpaid_until: Some(unpaid),
        };
        self.updated_at = now;
        Ok(Some(self.audit(
            AuditAction::PastDue { grace_until },
            actor,
            cause,
            now,
        )))
    }

    /// Suspends an entitlement in force while dispute `dispute` of the payment that bought it
    /// is open: no access until [`Entitlement::restore`] (dispute won) or a revocation with
    /// [`RevokeReason::Chargeback`] (lost).
    ///
    /// # Errors
    /// [`RuleError::NotDisputable`] unless it is active or past due.
    pub fn suspend(
        &mut self,
        dispute: &str,
        actor: Actor,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, RuleError> {
        if !matches!(self.status, Status::Active | Status::PastDue { .. }) {
            return Err(RuleError::NotDisputable(self.id));
        }
        self.status = Status::Disputed {
            dispute: dispute.to_owned(),
            since: now,
        };
        self.updated_at = now;
        Ok(self.audit(
            AuditAction::Suspend {
                dispute: dispute.to_owned(),
            },
            actor,
            cause,
            now,
        ))
    }

    /// Restores an entitlement suspended by dispute `dispute`, which the seller won: in force
    /// again (a time-bound one until its period end, as before).
    ///
    /// # Errors
    /// [`RuleError::NotDisputable`] unless it is suspended by that dispute.
    pub fn restore(
        &mut self,
        dispute: &str,
        actor: Actor,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, RuleError> {
        if !matches!(&self.status, Status::Disputed { dispute: d, .. } if d == dispute) {
            return Err(RuleError::NotDisputable(self.id));
        }
        self.status = Status::Active;
        self.updated_at = now;
        Ok(self.audit(
            AuditAction::Restore {
                dispute: dispute.to_owned(),
            },
            actor,
            cause,
            now,
        ))
    }

    /// Payment succeeded: the period end moves to `period_end` if later (never earlier, so a
    /// stale renewal changes nothing) and past-due is cleared.
    ///
    /// # Errors
    /// [`RuleError::NotTimeBound`] or [`RuleError::AlreadyRevoked`].
    pub fn renew(
        &mut self,
        period_end: DateTime<Utc>,
        actor: Actor,
        cause: &str,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, RuleError> {
        let Term::TimeBound { period_end: current } = self.term else {
            return Err(RuleError::NotTimeBound(self.id));
        };
        if matches!(self.status, Status::Revoked { .. }) {
            return Err(RuleError::AlreadyRevoked(self.id));
        }
        let new_end = current.max(period_end);
        self.term = Term::TimeBound { period_end: new_end };
        self.status = match self.status {
            // Paid through an earlier period than the one that failed: still past due, with the
            // grace moved along with the period (so the order of events does not matter).
            Status::PastDue {
                grace_until,
                unpaid_until: Some(unpaid),
            } if new_end < unpaid => Status::PastDue {
                grace_until: grace_until + (new_end - current),
                unpaid_until: Some(unpaid),
            },
            // A renewal does not lift a suspension: only the dispute's outcome does.
            Status::Disputed { .. } => self.status.clone(),
            _ => Status::Active,
        };
        self.updated_at = now;
        let period_end = new_end;
        Ok(self.audit(AuditAction::Renew { period_end }, actor, cause, now))
    }

    /// The sweep: a past-due entitlement whose grace ran out is revoked.
    ///
    /// # Errors
    /// [`RuleError::GraceNotOver`] when it is not past due or the grace has not run out.
    pub fn expire_grace(&mut self, now: DateTime<Utc>) -> Result<AuditEntry, RuleError> {
        match self.status {
            Status::PastDue { grace_until, .. } if now >= grace_until => {
                self.revoke(RevokeReason::GraceExpired, Actor::System, "grace period ran out", now)
            }
            _ => Err(RuleError::GraceNotOver(self.id)),
        }
    }
}

/// How a holder's plan stands now, as a billing page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStanding {
    /// Paid: access until `period_end`, when it renews.
    Active {
        /// The plan's tier.
        tier: Tier,
        /// End of the paid period (the next renewal).
        period_end: DateTime<Utc>,
    },
    /// A renewal failed: access until `grace_until` unless the card is fixed.
    PastDue {
        /// The plan's tier.
        tier: Tier,
        /// When access stops.
        grace_until: DateTime<Utc>,
    },
    /// Ended (cancelled, unpaid, refunded, or its period passed): access stopped `at`.
    Ended {
        /// The plan's tier.
        tier: Tier,
        /// When access stopped.
        at: DateTime<Utc>,
    },
}

/// The standing of `holder`'s most recent plan grant (a subscription's), if it ever had one:
/// the grant last granted or changed wins.
#[must_use]
pub fn plan_standing(list: &[Entitlement], holder: Holder, now: DateTime<Utc>) -> Option<PlanStanding> {
    let e = list
        .iter()
        .filter(|e| e.holder == holder && e.source == Source::Subscription)
        .filter(|e| matches!(e.scope, Scope::Plan { .. }))
        .max_by_key(|e| (e.is_effective(now), e.updated_at, e.id.0))?;
    let Scope::Plan { tier } = e.scope else { return None };
    Some(match (&e.status, e.term) {
        (Status::Active, Term::TimeBound { period_end }) if now < period_end => {
            PlanStanding::Active { tier, period_end }
        }
        (Status::PastDue { grace_until, .. }, _) if now < *grace_until => PlanStanding::PastDue {
            tier,
            grace_until: *grace_until,
        },
        _ => PlanStanding::Ended {
            tier,
            at: e.expires_at().unwrap_or(e.updated_at),
        },
    })
}

/// The entitlement that lets `principal` access `key` at `now`, if any: their own or one of
/// their current organisations'. Every version of a covered KEY is accessible. Perpetual grants
/// are preferred over time-bound ones when several apply (they say "you own it").
#[must_use]
pub fn can_access<'a>(
    principal: &Principal,
    entitlements: &'a [Entitlement],
    key: &KeyRef,
    now: DateTime<Utc>,
) -> Option<&'a Entitlement> {
    entitlements
        .iter()
        .filter(|e| principal.acts_for(e.holder) && e.scope.covers(key) && e.is_effective(now))
        .min_by_key(|e| (matches!(e.term, Term::TimeBound { .. }), e.granted_at, e.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn a_dispute_suspends_then_restores_or_ends_in_a_chargeback() {
        let now = catalog::fixtures::now();
        let user = Holder::User(UserId(3));
        let key = KeyRef {
            slug: catalog::fixtures::slug("disk-full-recovery"),
            tier: Tier::Starter,
        };
        let buyer = Principal {
            user: UserId(3),
            organisations: vec![],
        };
        let mut e = crate::fixtures::key_purchase(1, user, "disk-full-recovery");
        let audit = e.suspend("dp_1", Actor::System, "charge.dispute.created", now).unwrap();
        assert!(matches!(audit.action, AuditAction::Suspend { ref dispute } if dispute == "dp_1"));
        assert!(!e.is_effective(now) && can_access(&buyer, &[e.clone()], &key, now).is_none());
        assert_eq!(
            e.suspend("dp_2", Actor::System, "again", now),
            Err(RuleError::NotDisputable(e.id))
        );
        assert_eq!(
            e.restore("dp_other", Actor::System, "won", now),
            Err(RuleError::NotDisputable(e.id))
        );
        let mut lost = e.clone();
        e.restore("dp_1", Actor::System, "won", now).unwrap();
        assert!(
            e.is_effective(now + Duration::days(400)),
            "won: a perpetual grant again"
        );
        lost.revoke(RevokeReason::Chargeback, Actor::System, "lost", now)
            .unwrap();
        assert!(!lost.is_effective(now));
        assert_eq!(
            lost.restore("dp_1", Actor::System, "late", now),
            Err(RuleError::NotDisputable(lost.id))
        );
    }

    #[test]
    fn a_plan_stands_active_past_due_or_ended_as_its_latest_grant_says() {
        let now = catalog::fixtures::now();
        let user = Holder::User(UserId(3));
        let end = now + Duration::days(10);
        let mut plan = crate::fixtures::plan(1, user, Tier::Operator, end);
        assert_eq!(plan_standing(&[], user, now), None);
        assert_eq!(
            plan_standing(&[plan.clone()], user, now),
            Some(PlanStanding::Active {
                tier: Tier::Operator,
                period_end: end
            })
        );
        assert_eq!(
            plan_standing(&[plan.clone()], Holder::User(UserId(4)), now),
            None,
            "someone else's plan"
        );
        plan.mark_past_due(Duration::days(7), Actor::System, "invoice failed", now)
            .unwrap();
        assert!(matches!(
            plan_standing(&[plan.clone()], user, now),
            Some(PlanStanding::PastDue { .. })
        ));
        plan.revoke(
            RevokeReason::SubscriptionEnded,
            Actor::System,
            "cancelled in the portal",
            now,
        )
        .unwrap();
        assert_eq!(
            plan_standing(&[plan.clone()], user, now + Duration::hours(1)),
            Some(PlanStanding::Ended {
                tier: Tier::Operator,
                at: now
            }),
            "cancelled: ended the moment it was revoked, whatever the period said"
        );
        // A newer live plan wins over the ended one.
        let scale = crate::fixtures::plan(2, user, Tier::Scale, end);
        assert!(matches!(
            plan_standing(&[plan, scale], user, now),
            Some(PlanStanding::Active { tier: Tier::Scale, .. })
        ));
    }

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()
    }
    fn key(slug: &str, tier: Tier) -> KeyRef {
        KeyRef {
            slug: slug.parse().unwrap(),
            tier,
        }
    }
    fn slug(s: &str) -> Slug {
        s.parse().unwrap()
    }
    const ALICE: UserId = UserId(1);
    const BOB: UserId = UserId(2);
    const ACME: OrgId = OrgId(10);

    fn ent(id: i64, holder: Holder, scope: Scope, source: Source, term: Term) -> Entitlement {
        Entitlement::grant(EntitlementId(id), holder, scope, source, term, t(1))
    }

    #[test]
    fn access_table() {
        let pg = key("pg-failover", Tier::Scale);
        let starter = key("next-blog", Tier::Starter);
        let alice = Principal {
            user: ALICE,
            organisations: vec![],
        };
        let alice_in_acme = Principal {
            user: ALICE,
            organisations: vec![ACME],
        };
        let bob = Principal {
            user: BOB,
            organisations: vec![],
        };
        let sub = Term::TimeBound { period_end: t(20) };
        let cases: Vec<(&str, Entitlement, &Principal, &KeyRef, DateTime<Utc>, bool)> = vec![
            (
                "own key",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Key(slug("pg-failover")),
                    Source::Purchase,
                    Term::Perpetual,
                ),
                &alice,
                &pg,
                t(2),
                true,
            ),
            (
                "other user's key",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Key(slug("pg-failover")),
                    Source::Purchase,
                    Term::Perpetual,
                ),
                &bob,
                &pg,
                t(2),
                false,
            ),
            (
                "other key",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Key(slug("pg-failover")),
                    Source::Purchase,
                    Term::Perpetual,
                ),
                &alice,
                &starter,
                t(2),
                false,
            ),
            (
                "via organisation",
                ent(
                    1,
                    Holder::Organisation(ACME),
                    Scope::Key(slug("pg-failover")),
                    Source::ManualGrant,
                    Term::Perpetual,
                ),
                &alice_in_acme,
                &pg,
                t(2),
                true,
            ),
            (
                "removed member",
                ent(
                    1,
                    Holder::Organisation(ACME),
                    Scope::Key(slug("pg-failover")),
                    Source::ManualGrant,
                    Term::Perpetual,
                ),
                &alice,
                &pg,
                t(2),
                false,
            ),
            (
                "bundle member",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Bundle {
                        bundle: slug("ops-pack"),
                        keys: vec![slug("pg-failover")],
                    },
                    Source::BundlePurchase,
                    Term::Perpetual,
                ),
                &alice,
                &pg,
                t(2),
                true,
            ),
            (
                "bundle non-member",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Bundle {
                        bundle: slug("ops-pack"),
                        keys: vec![slug("pg-failover")],
                    },
                    Source::BundlePurchase,
                    Term::Perpetual,
                ),
                &alice,
                &starter,
                t(2),
                false,
            ),
            (
                "plan covers lower tier",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Plan { tier: Tier::Scale },
                    Source::Subscription,
                    sub,
                ),
                &alice,
                &starter,
                t(2),
                true,
            ),
            (
                "plan covers own tier",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Plan { tier: Tier::Scale },
                    Source::Subscription,
                    sub,
                ),
                &alice,
                &pg,
                t(2),
                true,
            ),
            (
                "plan excludes higher tier",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Plan { tier: Tier::Starter },
                    Source::Subscription,
                    sub,
                ),
                &alice,
                &pg,
                t(2),
                false,
            ),
            (
                "subscription before period end",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Plan { tier: Tier::Scale },
                    Source::Subscription,
                    sub,
                ),
                &alice,
                &pg,
                t(19),
                true,
            ),
            (
                "subscription after period end",
                ent(
                    1,
                    Holder::User(ALICE),
                    Scope::Plan { tier: Tier::Scale },
                    Source::Subscription,
                    sub,
                ),
                &alice,
                &pg,
                t(20),
                false,
            ),
        ];
        for (name, e, who, k, now, want) in cases {
            assert_eq!(
                can_access(who, std::slice::from_ref(&e), k, now).is_some(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn perpetual_grants_survive_everything_but_refund_chargeback_support() {
        for (reason, ok) in [
            (RevokeReason::Refund, true),
            (RevokeReason::Chargeback, true),
            (RevokeReason::Support { note: "fraud".into() }, true),
            (RevokeReason::SubscriptionEnded, false),
            (RevokeReason::GraceExpired, false),
        ] {
            let mut e = ent(
                1,
                Holder::User(ALICE),
                Scope::Key(slug("pg-failover")),
                Source::Purchase,
                Term::Perpetual,
            );
            let before = e.clone();
            let r = e.revoke(reason.clone(), Actor::System, "x", t(3));
            assert_eq!(r.is_ok(), ok, "{reason:?}");
            if !ok {
                assert_eq!(e, before, "a refused revocation changes nothing");
            }
        }
        let mut e = ent(
            1,
            Holder::User(ALICE),
            Scope::Key(slug("pg-failover")),
            Source::Purchase,
            Term::Perpetual,
        );
        assert_eq!(
            e.mark_past_due(Duration::days(7), Actor::System, "x", t(3)),
            Err(RuleError::NotTimeBound(EntitlementId(1)))
        );
    }

    #[test]
    fn past_due_keeps_access_until_grace_runs_out_then_the_sweep_revokes() {
        let k = key("pg-failover", Tier::Scale);
        let alice = Principal {
            user: ALICE,
            organisations: vec![],
        };
        let mut e = ent(
            1,
            Holder::User(ALICE),
            Scope::Plan { tier: Tier::Scale },
            Source::Subscription,
            Term::TimeBound { period_end: t(10) },
        );
        let audit = e
            .mark_past_due(
                Duration::days(7),
                Actor::Stripe {
                    event_id: "evt_1".into(),
                },
                "invoice.payment_failed",
                t(10),
            )
            .unwrap();
        assert_eq!(audit.action, AuditAction::PastDue { grace_until: t(17) });
        assert!(
            can_access(&alice, std::slice::from_ref(&e), &k, t(16)).is_some(),
            "in grace"
        );
        assert_eq!(e.expire_grace(t(16)), Err(RuleError::GraceNotOver(EntitlementId(1))));
        assert!(
            can_access(&alice, std::slice::from_ref(&e), &k, t(17)).is_none(),
            "grace over"
        );
        let audit = e.expire_grace(t(17)).unwrap();
        assert_eq!(
            audit.action,
            AuditAction::Revoke {
                reason: RevokeReason::GraceExpired
            }
        );
        assert_eq!(audit.actor, Actor::System);
        // A second failure notice does not extend grace.
        let mut e = ent(
            1,
            Holder::User(ALICE),
            Scope::Plan { tier: Tier::Scale },
            Source::Subscription,
            Term::TimeBound { period_end: t(10) },
        );
        e.mark_past_due(Duration::days(7), Actor::System, "x", t(10)).unwrap();
        e.mark_past_due(Duration::days(7), Actor::System, "x", t(12)).unwrap();
        assert_eq!(
            e.status,
            Status::PastDue {
                grace_until: t(17),
                unpaid_until: None
            }
        );
    }

    #[test]
    fn renewals_only_move_forward_and_clear_past_due() {
        let mut e = ent(
            1,
            Holder::User(ALICE),
            Scope::Plan { tier: Tier::Scale },
            Source::Subscription,
            Term::TimeBound { period_end: t(10) },
        );
        e.mark_past_due(Duration::days(7), Actor::System, "x", t(10)).unwrap();
        e.renew(t(25), Actor::System, "invoice.paid", t(11)).unwrap();
        assert_eq!(
            (e.term, &e.status),
            (Term::TimeBound { period_end: t(25) }, &Status::Active)
        );
        // A stale invoice.paid for an older period changes nothing.
        e.renew(t(15), Actor::System, "invoice.paid", t(12)).unwrap();
        assert_eq!(e.term, Term::TimeBound { period_end: t(25) });
        // The subscription ends: revoked, and no renewal brings it back.
        e.revoke(
            RevokeReason::SubscriptionEnded,
            Actor::System,
            "customer.subscription.deleted",
            t(13),
        )
        .unwrap();
        assert_eq!(
            e.renew(t(30), Actor::System, "x", t(14)),
            Err(RuleError::AlreadyRevoked(EntitlementId(1)))
        );
        assert_eq!(
            e.revoke(RevokeReason::Refund, Actor::System, "x", t(14)),
            Err(RuleError::AlreadyRevoked(EntitlementId(1)))
        );
    }

    #[test]
    fn perpetual_is_preferred_and_expiry_is_reported() {
        let k = key("pg-failover", Tier::Scale);
        let alice = Principal {
            user: ALICE,
            organisations: vec![ACME],
        };
        let sub = ent(
            1,
            Holder::User(ALICE),
            Scope::Plan { tier: Tier::Enterprise },
            Source::Subscription,
            Term::TimeBound { period_end: t(20) },
        );
        let own = ent(
            2,
            Holder::Organisation(ACME),
            Scope::Key(slug("pg-failover")),
            Source::ManualGrant,
            Term::Perpetual,
        );
        let all = [sub.clone(), own];
        assert_eq!(can_access(&alice, &all, &k, t(2)).unwrap().id, EntitlementId(2));
        assert_eq!(sub.expires_at(), Some(t(20)));
        assert_eq!(all[1].expires_at(), None);
    }

    fn arb_reason() -> impl Strategy<Value = RevokeReason> {
        prop_oneof![
            Just(RevokeReason::Refund),
            Just(RevokeReason::Chargeback),
            Just(RevokeReason::SubscriptionEnded),
            Just(RevokeReason::GraceExpired),
            Just(RevokeReason::Support { note: "n".into() }),
        ]
    }

    proptest! {
        /// Revoking never grants: after any revocation attempt, the set of (principal, key, time)
        /// with access is a subset of what it was before.
        #[test]
        fn revoking_never_grants(
            perpetual in any::<bool>(),
            org in any::<bool>(),
            tier_i in 0usize..4,
            key_tier_i in 0usize..4,
            reason in arb_reason(),
            past_due in any::<bool>(),
            at in 1u32..28,
            probe in 1u32..28,
        ) {
            let holder = if org { Holder::Organisation(ACME) } else { Holder::User(ALICE) };
            let term = if perpetual { Term::Perpetual } else { Term::TimeBound { period_end: t(15) } };
            let mut e = ent(1, holder, Scope::Plan { tier: Tier::ALL[tier_i] }, Source::Subscription, term);
            if past_due && !perpetual {
                e.mark_past_due(Duration::days(3), Actor::System, "x", t(10)).unwrap();
            }
            let before = e.clone();
            let _ = e.revoke(reason, Actor::System, "x", t(at));
            let k = key("some-key", Tier::ALL[key_tier_i]);
            for who in [Principal { user: ALICE, organisations: vec![] }, Principal { user: ALICE, organisations: vec![ACME] }, Principal { user: BOB, organisations: vec![ACME] }] {
                for day in [probe, at, 27] {
                    let after = can_access(&who, std::slice::from_ref(&e), &k, t(day)).is_some();
                    let was = can_access(&who, std::slice::from_ref(&before), &k, t(day)).is_some();
                    prop_assert!(!after || was);
                }
            }
        }
    }

    /// A renewal and a failure for the following period end in the same state whichever is
    /// applied first; a failure for a period already paid changes nothing.
    #[test]
    fn paid_and_failed_invoices_commute() {
        let sub = |id| {
            ent(
                id,
                Holder::User(UserId(1)),
                Scope::Plan { tier: Tier::Operator },
                Source::Subscription,
                Term::TimeBound { period_end: t(10) },
            )
        };
        let grace = Duration::days(3);
        let a = || Actor::System;
        let mut paid_first = sub(1);
        paid_first.renew(t(20), a(), "paid", t(2)).unwrap();
        paid_first
            .mark_unpaid(t(28), grace, a(), "failed", t(3))
            .unwrap()
            .unwrap();
        let mut failed_first = sub(1);
        failed_first
            .mark_unpaid(t(28), grace, a(), "failed", t(2))
            .unwrap()
            .unwrap();
        failed_first.renew(t(20), a(), "paid", t(3)).unwrap();
        assert_eq!(paid_first.term, failed_first.term);
        assert_eq!(paid_first.status, failed_first.status);
        assert_eq!(
            paid_first.status,
            Status::PastDue {
                grace_until: t(23),
                unpaid_until: Some(t(28))
            }
        );
        // Paying the failed period clears it; a stale failure for a paid period is ignored.
        failed_first.renew(t(28), a(), "paid", t(4)).unwrap();
        assert_eq!(failed_first.status, Status::Active);
        assert_eq!(
            failed_first.mark_unpaid(t(20), grace, a(), "stale", t(5)).unwrap(),
            None
        );
        assert_eq!(failed_first.status, Status::Active);
    }
}
