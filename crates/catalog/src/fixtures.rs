//! Ready-made, realistic values for tests and examples (feature `fixtures`): a KEY from a slug,
//! and a small catalog of six of the shipped sample KEYS with their real names, tiers and
//! vocabularies. The workspace's own tests use them too, so they stay true.
//!
//! ```
//! use catalog::fixtures;
//! let key = fixtures::key("demo-kit");
//! assert_eq!(key.meta.name, "Demo Kit");
//! assert_eq!(key.current().unwrap().version.to_string(), "1.0.0");
//! assert_eq!(fixtures::sample_catalog().len(), 6);
//! ```

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::{ArchiveRef, Category, Intent, Key, KeyMetadata, KeyVersion, Kind, Role, Slug, Tier, Version};

/// The fixed "now" of fixtures: 2026-12-01 12:00 UTC.
#[must_use]
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().unwrap_or_default()
}

/// A slug from text known to be valid.
///
/// # Panics
/// When `text` is not a valid slug (a mistake in the test).
#[must_use]
pub fn slug(text: &str) -> Slug {
    text.parse().unwrap_or_else(|e| panic!("fixture slug {text:?}: {e}"))
}

/// A well-formed archive for `seed` (a deterministic 64-hex-digit digest, 2 KiB).
#[must_use]
pub fn archive(seed: &str) -> ArchiveRef {
    // FNV-1a, widened to 256 bits by hashing four salted copies: deterministic and well-formed,
    // not a real digest of anything.
    let mut hex = String::with_capacity(64);
    for salt in 0u8..4 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes().chain([salt]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        hex.push_str(&format!("{h:016x}"));
    }
    let mut a = ArchiveRef::new(hex.clone(), 2_048);
    a.content_sha256 = hex;
    a
}

/// A runbook KEY at the operator tier with one version, 1.0.0 released 2026-01-02, named
/// after its slug ("demo-kit" → "Demo Kit").
#[must_use]
pub fn key(slug_text: &str) -> Key {
    key_of(slug_text, Kind::Runbook, Tier::Operator)
}

/// A KEY of the given kind and tier, otherwise as [`key`].
#[must_use]
pub fn key_of(slug_text: &str, kind: Kind, tier: Tier) -> Key {
    let name = crate::title(slug_text);
    let meta =
        KeyMetadata::new(slug(slug_text), name.clone(), kind, tier).with_summary(format!("{name}, ready to use."));
    let version = KeyVersion::new(
        Version::new(1, 0, 0),
        NaiveDate::from_ymd_opt(2026, 1, 2).unwrap_or_default(),
        archive(slug_text),
    )
    .with_changelog("First release.");
    Key::new(meta, vec![version], now())
}

/// Six of the shipped sample KEYS (`keys-assets/`), with their real names, kinds, tiers, roles,
/// intents and categories: two starter kits, three runbooks, one notebook pack.
#[must_use]
pub fn sample_catalog() -> Vec<Key> {
    let with = |slug_text: &str, name: &str, kind, tier, roles: &[Role], intents: &[Intent], cats: &[Category]| {
        let mut k = key_of(slug_text, kind, tier);
        k.meta.name = name.to_owned();
        k.meta.summary = summary_of(slug_text).to_owned();
        k.meta.roles = roles.to_vec();
        k.meta.intents = intents.to_vec();
        k.meta.categories = cats.to_vec();
        k
    };
    vec![
        with(
            "next-saas-starter",
            "Next.js Multi-Tenant SaaS Starter",
            Kind::NodeNext,
            Tier::Enterprise,
            &[Role::Founder, Role::FullstackDeveloper, Role::EngineeringManager],
            &[Intent::BootstrapProject, Intent::AddAuthentication, Intent::AddPayments],
            &[Category::SaasFoundations, Category::Authentication, Category::Payments],
        ),
        with(
            "next-stripe-checkout",
            "Next.js Stripe Checkout Kit",
            Kind::NodeNext,
            Tier::Operator,
            &[Role::FullstackDeveloper, Role::Founder],
            &[Intent::AddPayments, Intent::ShipToProduction],
            &[Category::Payments, Category::SaasFoundations],
        ),
        with(
            "postgres-failover-runbook",
            "PostgreSQL Failover Runbook",
            Kind::Runbook,
            Tier::Enterprise,
            &[Role::Sre, Role::PlatformEngineer, Role::DevopsEngineer],
            &[Intent::RespondToIncidents, Intent::AutomateOperations],
            &[Category::DatabaseOperations, Category::IncidentResponse],
        ),
        with(
            "on-call-handbook",
            "On-Call Handbook",
            Kind::Runbook,
            Tier::Starter,
            &[Role::Sre, Role::EngineeringManager, Role::DevopsEngineer, Role::Founder],
            &[Intent::RespondToIncidents, Intent::Learn],
            &[Category::IncidentResponse],
        ),
        with(
            "kubernetes-incident-response",
            "Kubernetes Incident Response Runbook",
            Kind::Runbook,
            Tier::Scale,
            &[Role::Sre, Role::PlatformEngineer, Role::DevopsEngineer],
            &[Intent::RespondToIncidents, Intent::MonitorSystems],
            &[Category::IncidentResponse, Category::Observability],
        ),
        with(
            "churn-model-notebooks",
            "Churn Prediction Model Notebooks",
            Kind::Jupyter,
            Tier::Operator,
            &[Role::DataScientist, Role::MlEngineer],
            &[Intent::TrainModels, Intent::AnalyzeData],
            &[Category::MachineLearning, Category::DataAnalysis],
        ),
    ]
}

/// The shipped summaries of the sample KEYS.
fn summary_of(slug: &str) -> &'static str {
    match slug {
        "next-saas-starter" => {
            "B2B SaaS foundation on Next.js 15: organizations, roles, invitations, per-org Stripe billing with seat limits, audit log and CI."
        }
        "next-stripe-checkout" => {
            "Stripe Checkout for the Next.js App Router: idempotent fulfillment, verified webhooks, license keys, and (1.1.0) subscriptions with the Customer Portal."
        }
        "postgres-failover-runbook" => {
            "Fenced, guard-railed PostgreSQL primary failover for streaming replication, Patroni and RDS/Aurora, with rebuild and alerting."
        }
        "on-call-handbook" => {
            "A complete on-call operating manual: severities, first five minutes, incident roles, escalation, handoffs, post-mortems and shift reporting."
        }
        "kubernetes-incident-response" => {
            "First-response runbook for Kubernetes incidents: evidence snapshot, per-symptom playbooks, debug scripts and kube-state-metrics alerts."
        }
        "churn-model-notebooks" => {
            "Predict 90-day B2B churn with scikit-learn, pick who to contact by expected value, then calibrate the model and monitor drift."
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_keys_are_well_formed_and_distinct() {
        let keys = sample_catalog();
        let mut slugs: Vec<_> = keys.iter().map(|k| k.meta.slug.clone()).collect();
        slugs.dedup();
        assert_eq!(slugs.len(), 6);
        for k in &keys {
            let a = &k.current().unwrap().archive;
            assert_eq!(a.sha256.len(), 64);
            assert!(
                a.sha256
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            assert_eq!(a.object_key, crate::archive_object_key(&a.sha256));
        }
        assert_ne!(archive("a").sha256, archive("b").sha256);
        // Names and summaries are the shipped ones.
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../keys-assets");
        for k in keys.iter().filter(|k| k.meta.kind != Kind::Jupyter) {
            let dir = if k.meta.kind == Kind::Runbook {
                "runbook-keys"
            } else {
                "node-next-keys"
            };
            let manifest = std::fs::read_to_string(format!("{root}/{dir}/{}/key.toml", k.meta.slug)).unwrap();
            assert!(
                manifest.contains(&format!("name = \"{}\"", k.meta.name)),
                "{}",
                k.meta.slug
            );
            assert!(
                manifest.contains(&format!("summary = \"{}\"", k.meta.summary)),
                "{}",
                k.meta.slug
            );
        }
    }
}
