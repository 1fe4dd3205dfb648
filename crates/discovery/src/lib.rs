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

pub mod context;
pub mod ports;
mod rules;

pub use ports::{Recall, SignalRepository, SignalStoreError, Subject};
pub use rules::{
    AsMetadata, Context, DISCOVERY_FILE, Positions, Profile, Recommendation, Signal, SignalKind, Weights, WeightsError,
    human, pairs_with, recommend, recommend_with,
};
