//! What can be bought, as one stable id: `key:<slug>`, `bundle:<slug>` or
//! `plan:<tier>:<monthly|annual>`.
//!
//! ```
//! use upgrades::Sku;
//! let sku: Sku = "plan:scale:annual".parse().unwrap();
//! assert_eq!(sku.to_string(), "plan:scale:annual");
//! let err = "plan:gold:annual".parse::<Sku>().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "SKU `plan:gold:annual`: unknown tier `gold`; accepted: starter, operator, scale, enterprise"
//! );
//! ```

use std::fmt;
use std::str::FromStr;

use catalog::{Slug, SlugError, Tier, VocabError};
use pricing::Interval;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const FORMS: &str = "`key:<slug>`, `bundle:<slug>` or `plan:<tier>:<monthly|annual>`";

/// A thing that can be bought.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sku {
    /// One KEY, perpetually (`key:<slug>`).
    Key(Slug),
    /// A bundle of KEYS, perpetually (`bundle:<slug>`).
    Bundle(Slug),
    /// A subscription plan (`plan:<tier>:<monthly|annual>`).
    Plan {
        /// The plan's tier: it covers every KEY at or below it.
        tier: Tier,
        /// How it is billed.
        interval: Interval,
    },
}

/// Why a SKU id was refused. Each message names the problem and the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkuError {
    /// Nothing given.
    #[error("empty SKU; expected {FORMS}")]
    Empty,
    /// The part before the first `:` is not `key`, `bundle` or `plan`.
    #[error("unknown SKU prefix `{prefix}` in `{sku}`; expected `key:`, `bundle:` or `plan:`")]
    UnknownPrefix {
        /// The whole input.
        sku: String,
        /// The prefix found.
        prefix: String,
    },
    /// The right prefix with too few or too many `:`-separated parts.
    #[error("SKU `{sku}` has {parts} part(s) separated by `:` but `{prefix}:` takes {expected}; expected {FORMS}")]
    WrongParts {
        /// The whole input.
        sku: String,
        /// The prefix found.
        prefix: String,
        /// Parts found.
        parts: usize,
        /// Parts this prefix takes.
        expected: usize,
    },
    /// The slug of a `key:` or `bundle:` SKU is not a valid slug.
    #[error("SKU `{sku}`: {reason}")]
    BadSlug {
        /// The whole input.
        sku: String,
        /// The catalog's reason.
        reason: SlugError,
    },
    /// The tier of a `plan:` SKU is unknown.
    #[error("SKU `{sku}`: {reason}")]
    UnknownTier {
        /// The whole input.
        sku: String,
        /// The catalog's reason (lists the accepted tiers).
        reason: VocabError,
    },
    /// The interval of a `plan:` SKU is neither `monthly` nor `annual`.
    #[error("SKU `{sku}`: unknown interval `{interval}`; expected `monthly` or `annual`")]
    UnknownInterval {
        /// The whole input.
        sku: String,
        /// The interval found.
        interval: String,
    },
}

/// The id spelling of an interval: `monthly` or `annual`.
#[must_use]
pub const fn interval_as_str(interval: Interval) -> &'static str {
    match interval {
        Interval::Monthly => "monthly",
        Interval::Annual => "annual",
    }
}

/// Parses `monthly` or `annual`.
#[must_use]
pub fn parse_interval(text: &str) -> Option<Interval> {
    match text {
        "monthly" => Some(Interval::Monthly),
        "annual" => Some(Interval::Annual),
        _ => None,
    }
}

/// Serde for [`Interval`] fields as `monthly` / `annual` (pricing's `Interval` has no serde).
pub(crate) mod interval_serde {
    use super::{Interval, interval_as_str, parse_interval};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(interval: &Interval, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(interval_as_str(*interval))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Interval, D::Error> {
        let text = String::deserialize(d)?;
        parse_interval(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown interval `{text}`; expected `monthly` or `annual`"))
        })
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sku::Key(slug) => write!(f, "key:{slug}"),
            Sku::Bundle(slug) => write!(f, "bundle:{slug}"),
            Sku::Plan { tier, interval } => write!(f, "plan:{tier}:{}", interval_as_str(*interval)),
        }
    }
}

impl FromStr for Sku {
    type Err = SkuError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(SkuError::Empty);
        }
        let parts: Vec<&str> = s.split(':').collect();
        let prefix = parts[0];
        let expected = match prefix {
            "key" | "bundle" => 2,
            "plan" => 3,
            _ => {
                return Err(SkuError::UnknownPrefix {
                    sku: s.to_owned(),
                    prefix: prefix.to_owned(),
                });
            }
        };
        if parts.len() != expected {
            return Err(SkuError::WrongParts {
                sku: s.to_owned(),
                prefix: prefix.to_owned(),
                parts: parts.len(),
                expected,
            });
        }
        let slug = || {
            parts[1].parse::<Slug>().map_err(|reason| SkuError::BadSlug {
                sku: s.to_owned(),
                reason,
            })
        };
        match prefix {
            "key" => Ok(Sku::Key(slug()?)),
            "bundle" => Ok(Sku::Bundle(slug()?)),
            _ => {
                let tier = parts[1].parse::<Tier>().map_err(|reason| SkuError::UnknownTier {
                    sku: s.to_owned(),
                    reason,
                })?;
                let interval = parse_interval(parts[2]).ok_or_else(|| SkuError::UnknownInterval {
                    sku: s.to_owned(),
                    interval: parts[2].to_owned(),
                })?;
                Ok(Sku::Plan { tier, interval })
            }
        }
    }
}

impl Serialize for Sku {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sku {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    #[test]
    fn every_form_round_trips() {
        let slug = |s: &str| s.parse::<Slug>().unwrap();
        let mut cases = vec![
            (
                "key:postgres-failover-runbook".to_owned(),
                Sku::Key(slug("postgres-failover-runbook")),
            ),
            ("bundle:ops-pack".to_owned(), Sku::Bundle(slug("ops-pack"))),
        ];
        for tier in Tier::ALL {
            for interval in [Interval::Monthly, Interval::Annual] {
                let id = format!("plan:{tier}:{}", interval_as_str(interval));
                cases.push((id, Sku::Plan { tier: *tier, interval }));
            }
        }
        for (id, sku) in cases {
            assert_eq!(id.parse::<Sku>().unwrap(), sku, "{id}");
            assert_eq!(sku.to_string(), id);
            let de: StrDeserializer<'_, DeError> = id.as_str().into_deserializer();
            assert_eq!(Sku::deserialize(de).unwrap(), sku, "serde {id}");
        }
        let de: StrDeserializer<'_, DeError> = "key:Bad_Slug".into_deserializer();
        assert!(
            Sku::deserialize(de)
                .unwrap_err()
                .to_string()
                .contains("lowercase letters")
        );
    }

    #[test]
    fn every_error_names_the_problem_and_the_accepted_forms() {
        let cases = [
            (
                "",
                "empty SKU; expected `key:<slug>`, `bundle:<slug>` or `plan:<tier>:<monthly|annual>`",
            ),
            (
                "foo:bar",
                "unknown SKU prefix `foo` in `foo:bar`; expected `key:`, `bundle:` or `plan:`",
            ),
            (
                "postgres",
                "unknown SKU prefix `postgres` in `postgres`; expected `key:`, `bundle:` or `plan:`",
            ),
            (
                "key:Bad_Slug",
                "SKU `key:Bad_Slug`: slug `Bad_Slug` may hold only lowercase letters, digits and single hyphens between them (like `next-saas-starter`)",
            ),
            (
                "bundle:ab",
                "SKU `bundle:ab`: slug `ab` must be 3 to 64 characters long",
            ),
            (
                "plan:gold:monthly",
                "SKU `plan:gold:monthly`: unknown tier `gold`; accepted: starter, operator, scale, enterprise",
            ),
            (
                "plan:scale:weekly",
                "SKU `plan:scale:weekly`: unknown interval `weekly`; expected `monthly` or `annual`",
            ),
            (
                "plan:scale",
                "SKU `plan:scale` has 2 part(s) separated by `:` but `plan:` takes 3; expected `key:<slug>`, `bundle:<slug>` or `plan:<tier>:<monthly|annual>`",
            ),
            (
                "key:abc:def",
                "SKU `key:abc:def` has 3 part(s) separated by `:` but `key:` takes 2; expected `key:<slug>`, `bundle:<slug>` or `plan:<tier>:<monthly|annual>`",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(input.parse::<Sku>().unwrap_err().to_string(), message, "{input}");
        }
    }
}
