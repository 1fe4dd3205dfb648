//! # discovery — explainable recommendations
//!
//! Rule-based, never a black box: every rule adds points (weights from one config file,
//! `keys-assets/discovery.toml`, parsed by [`Weights::parse`]) and a plain-language reason.
//! [`recommend`] ranks the catalog for a buyer; [`pairs_with`] ranks KEYS that go with one KEY.
//! KEYS the buyer can already access are never recommended; every item has at least one reason.
//!
//! **Rules** (points per match, from the weights file):
//! * *role* — the KEY is for the buyer's role: "Matches your role: SRE";
//! * *intent* — each of the buyer's goals the KEY serves (at most two count): "Helps you: respond
//!   to incidents";
//! * *category* — each problem the KEY solves that the buyer named (at most two): "Solves:
//!   incident response";
//! * *co-purchase* — buyers who own a KEY you own also bought it (at most two owned KEYS count):
//!   "Often bought with Deploy Rollback Runbook, which you own";
//! * *bundle* — it is sold in a bundle with a KEY you own: "Pairs with On-Call Handbook, which you
//!   own (Incident response essentials)";
//! * *next tier* — same kind, one maturity tier above the highest you own of that kind: "Next
//!   step up from your starter-tier runbooks";
//! * *recently viewed* — you looked at it in the last `recent_view_days` days and don't own it.
//!
//! **Order**: score descending; ties by lower tier first (the cheaper step), then slug — so the
//! same inputs always give the same list.
//!
//! ```
//! use catalog::{Category, Intent, KeyMetadata, Kind, Role, Tier};
//! use chrono::{TimeZone, Utc};
//! use discovery::{Context, Profile, Weights, recommend};
//! let meta = |slug: &str, name: &str, kind, tier, roles: &[Role], intents: &[Intent], cats: &[Category]| {
//!     KeyMetadata::new(slug.parse().unwrap(), name, kind, tier)
//!         .with_roles(roles.iter().copied())
//!         .with_intents(intents.iter().copied())
//!         .with_categories(cats.iter().copied())
//! };
//! let catalog = vec![
//!     meta("on-call-handbook", "On-Call Handbook", Kind::Runbook, Tier::Starter,
//!          &[Role::Sre, Role::EngineeringManager], &[Intent::RespondToIncidents, Intent::Learn], &[Category::IncidentResponse]),
//!     meta("kubernetes-incident-response", "Kubernetes Incident Response Runbook", Kind::Runbook, Tier::Scale,
//!          &[Role::Sre, Role::PlatformEngineer], &[Intent::RespondToIncidents, Intent::MonitorSystems], &[Category::IncidentResponse]),
//!     meta("next-stripe-checkout", "Next.js Stripe Checkout Kit", Kind::NodeNext, Tier::Operator,
//!          &[Role::FullstackDeveloper], &[Intent::AddPayments], &[Category::Payments]),
//! ];
//! // An SRE who wants to respond to incidents and already owns the handbook.
//! let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
//! let ctx = Context::for_profile(Profile::for_role(Role::Sre, [Intent::RespondToIncidents]), now)
//!     .owning(["on-call-handbook".parse().unwrap()]);
//! let list = recommend(&catalog, &ctx, &Weights::default(), 5);
//! assert_eq!(list[0].slug.as_str(), "kubernetes-incident-response");
//! assert!(list[0].reasons.contains(&"Matches your role: SRE".to_owned()));
//! // Never what the buyer owns; every item says why.
//! assert!(list.iter().all(|r| r.slug.as_str() != "on-call-handbook" && !r.reasons.is_empty()));
//! ```

pub mod context;
pub mod ports;
mod rules;

pub use ports::{Recall, SignalRepository, SignalStoreError, Subject};
pub use rules::{
    AsMetadata, Context, DISCOVERY_FILE, Positions, Profile, Recommendation, Signal, SignalKind, Weights, WeightsError,
    human, pairs_with, recommend, recommend_with,
};
