//! Controlled vocabularies shared by manifests, filters and (later) discovery.
//!
//! Every value is written in kebab-case in manifests, URLs and JSON. Parsing an unknown value
//! fails with a [`VocabError`] that lists the accepted values, so a person can fix the input.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that is not in a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {vocabulary} `{value}`; accepted: {}", accepted.join(", "))]
pub struct VocabError {
    /// Which vocabulary was asked (`kind`, `tier`, `role`, `intent`, `category`).
    pub vocabulary: &'static str,
    /// The rejected value.
    pub value: String,
    /// Every accepted value, in their canonical order.
    pub accepted: Vec<&'static str>,
}

macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident, $label:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(rename_all = "kebab-case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in canonical order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),+ ];
            /// The vocabulary's name as used in errors and parameters.
            pub const LABEL: &'static str = $label;

            /// The kebab-case spelling used in manifests, URLs and JSON.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }

            /// Every accepted spelling.
            #[must_use]
            pub fn accepted() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = VocabError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| VocabError {
                        vocabulary: $label,
                        value: s.to_owned(),
                        accepted: Self::accepted(),
                    })
            }
        }
    };
}

vocabulary! {
    /// What sort of KEY this is; decides which asset source it comes from.
    Kind, "kind" {
        /// A Node.js / Next.js starter kit (`keys-assets/node-next-keys/`).
        NodeNext => "node-next",
        /// An operations runbook (`keys-assets/runbook-keys/`).
        Runbook => "runbook",
        /// A Jupyter notebook pack (`keys-assets/jupyter-keys/JUPYTER_KEYS_LIBRARY.md`).
        Jupyter => "jupyter",
    }
}

vocabulary! {
    /// Maturity tier, lowest first. Ordering follows maturity (`Starter < Enterprise`).
    Tier, "tier" {
        /// For a first project or a small team.
        Starter => "starter",
        /// For teams running production systems.
        Operator => "operator",
        /// For organisations operating at scale.
        Scale => "scale",
        /// For regulated or very large organisations.
        Enterprise => "enterprise",
    }
}

vocabulary! {
    /// Who a KEY is for.
    Role, "role" {
        /// Front-end developer.
        FrontendDeveloper => "frontend-developer",
        /// Back-end developer.
        BackendDeveloper => "backend-developer",
        /// Full-stack developer.
        FullstackDeveloper => "fullstack-developer",
        /// Site reliability engineer.
        Sre => "sre",
        /// Platform engineer.
        PlatformEngineer => "platform-engineer",
        /// DevOps engineer.
        DevopsEngineer => "devops-engineer",
        /// Security engineer.
        SecurityEngineer => "security-engineer",
        /// Data scientist.
        DataScientist => "data-scientist",
        /// Data engineer.
        DataEngineer => "data-engineer",
        /// Machine-learning engineer.
        MlEngineer => "ml-engineer",
        /// Analyst.
        Analyst => "analyst",
        /// Engineering manager.
        EngineeringManager => "engineering-manager",
        /// Founder.
        Founder => "founder",
    }
}

vocabulary! {
    /// What the buyer wants to do with a tool ("tool intent").
    Intent, "intent" {
        /// Start a new project.
        BootstrapProject => "bootstrap-project",
        /// Take payments.
        AddPayments => "add-payments",
        /// Add sign-in.
        AddAuthentication => "add-authentication",
        /// Go live.
        ShipToProduction => "ship-to-production",
        /// Automate operations work.
        AutomateOperations => "automate-operations",
        /// Handle incidents.
        RespondToIncidents => "respond-to-incidents",
        /// Watch systems.
        MonitorSystems => "monitor-systems",
        /// Harden security.
        HardenSecurity => "harden-security",
        /// Move data or systems.
        MigrateData => "migrate-data",
        /// Analyse data.
        AnalyzeData => "analyze-data",
        /// Forecast.
        Forecast => "forecast",
        /// Train models.
        TrainModels => "train-models",
        /// Spend less.
        ReduceCosts => "reduce-costs",
        /// Learn a topic.
        Learn => "learn",
    }
}

vocabulary! {
    /// The problem a KEY solves ("problem category").
    Category, "category" {
        /// Sign-in, sessions, identity.
        Authentication => "authentication",
        /// Checkout, billing.
        Payments => "payments",
        /// The base of a SaaS product.
        SaasFoundations => "saas-foundations",
        /// HTTP/JSON API design.
        ApiDesign => "api-design",
        /// Deploying software.
        Deployment => "deployment",
        /// Metrics, logs, traces.
        Observability => "observability",
        /// Incident handling.
        IncidentResponse => "incident-response",
        /// Running databases.
        DatabaseOperations => "database-operations",
        /// Backups and restores.
        BackupRecovery => "backup-recovery",
        /// Security.
        Security => "security",
        /// Compliance and audits.
        Compliance => "compliance",
        /// Spending less.
        CostOptimization => "cost-optimization",
        /// Speed.
        Performance => "performance",
        /// Data analysis.
        DataAnalysis => "data-analysis",
        /// Forecasting.
        Forecasting => "forecasting",
        /// Machine learning.
        MachineLearning => "machine-learning",
        /// Experiments and A/B tests.
        Experimentation => "experimentation",
        /// Data quality.
        DataQuality => "data-quality",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_spelling() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), *k);
        }
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), *t);
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), *r);
        }
        for i in Intent::ALL {
            assert_eq!(i.as_str().parse::<Intent>().unwrap(), *i);
        }
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), *c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
    }

    #[test]
    fn unknown_value_lists_the_accepted_ones() {
        let err = "wizard".parse::<Tier>().unwrap_err();
        assert_eq!(err.vocabulary, "tier");
        assert_eq!(
            err.to_string(),
            "unknown tier `wizard`; accepted: starter, operator, scale, enterprise"
        );
    }

    #[test]
    fn tiers_order_by_maturity() {
        assert!(Tier::Starter < Tier::Operator);
        assert!(Tier::Scale < Tier::Enterprise);
    }
}

/// Words written in capitals (or with inner capitals) wherever a vocabulary value is shown.
const SPECIAL_WORDS: &[(&str, &str)] = &[
    ("sre", "SRE"),
    ("ml", "ML"),
    ("api", "API"),
    ("llm", "LLM"),
    ("saas", "SaaS"),
    ("ab", "AB"),
    ("devops", "DevOps"),
    ("ci", "CI"),
    ("cd", "CD"),
    ("k8s", "K8s"),
    ("sql", "SQL"),
];

fn word(w: &str) -> Option<&'static str> {
    SPECIAL_WORDS.iter().find(|(k, _)| *k == w).map(|(_, v)| *v)
}

/// A vocabulary value in a sentence: `incident-response` → `incident response`,
/// `ml-engineer` → `ML engineer`. The one word list every label shares.
#[must_use]
pub fn words(value: &str) -> String {
    value
        .split('-')
        .map(|w| word(w).map_or_else(|| w.to_owned(), str::to_owned))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A vocabulary value as a label or heading: `incident-response` → `Incident Response`,
/// `ml-engineer` → `ML Engineer` (the same words as [`words`], each capitalised).
#[must_use]
pub fn title(value: &str) -> String {
    value
        .split('-')
        .map(|w| {
            word(w).map_or_else(
                || {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                },
                str::to_owned,
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn labels_and_sentences_use_the_same_words() {
        let all: Vec<&str> = Role::ALL
            .iter()
            .map(|r| r.as_str())
            .chain(Intent::ALL.iter().map(|i| i.as_str()))
            .chain(Category::ALL.iter().map(|c| c.as_str()))
            .chain(Tier::ALL.iter().map(|t| t.as_str()))
            .collect();
        for v in all {
            let (t, w) = (title(v), words(v));
            assert_eq!(t.to_lowercase(), w.to_lowercase(), "{v}");
            // Special words are written the same way in both.
            for (a, b) in t.split(' ').zip(w.split(' ')) {
                if word(&a.to_lowercase()).is_some() {
                    assert_eq!(a, b, "{v}");
                }
            }
        }
        assert_eq!(title("ml-engineer"), "ML Engineer");
        assert_eq!(words("ml-engineer"), "ML engineer");
        assert_eq!(title("saas-foundations"), "SaaS Foundations");
        assert_eq!(words("incident-response"), "incident response");
        assert_eq!(title("sre"), "SRE");
    }
}
