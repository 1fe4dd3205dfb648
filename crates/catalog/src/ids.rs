//! Validated identifiers: [`Slug`] and [`Version`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Shorter than 3 or longer than 64 characters.
    #[error("slug `{0}` must be 3 to 64 characters long")]
    Length(String),
    /// Holds something other than `a-z`, `0-9` and single inner hyphens.
    #[error(
        "slug `{0}` may hold only lowercase letters, digits and single hyphens between them (like `next-saas-starter`)"
    )]
    Characters(String),
}

/// A KEY's stable, URL-safe identifier: `^[a-z0-9]+(-[a-z0-9]+)*$`, 3 to 64 characters.
///
/// ```
/// use catalog::Slug;
/// let slug: Slug = "next-saas-starter".parse().unwrap();
/// assert_eq!(slug.as_str(), "next-saas-starter");
/// assert!("Next_SaaS".parse::<Slug>().is_err());
/// assert!("a--b".parse::<Slug>().is_err());
/// ```
///
/// Cloning is cheap (a shared, immutable string): slugs are copied into every signal, ranking
/// and entitlement a request touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(std::sync::Arc<str>);

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Slug {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Slug".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$",
            "minLength": 3,
            "maxLength": 64,
            "description": "Lowercase letters, digits and single inner hyphens."
        })
    }
}

impl Slug {
    /// The slug as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Slug {
    type Err = SlugError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !(3..=64).contains(&s.len()) {
            return Err(SlugError::Length(s.to_owned()));
        }
        // Lowercase ASCII words of letters and digits joined by single hyphens (one pass: slugs
        // are parsed per stored signal on hot paths).
        let b = s.as_bytes();
        let ok = b.first() != Some(&b'-')
            && b.last() != Some(&b'-')
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && !b.windows(2).any(|w| w == b"--");
        if ok {
            Ok(Slug(std::sync::Arc::from(s)))
        } else {
            Err(SlugError::Characters(s.to_owned()))
        }
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Slug {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a version was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "version `{0}` is not a release version MAJOR.MINOR.PATCH (like `1.2.0`; no leading zeros, no pre-release or build suffix)"
)]
pub struct VersionError(pub String);

/// A released KEY version: semantic version `MAJOR.MINOR.PATCH`.
///
/// Released versions are immutable, so pre-release and build suffixes are not accepted.
/// Versions order by semver precedence.
///
/// ```
/// use catalog::Version;
/// let a: Version = "1.10.0".parse().unwrap();
/// let b: Version = "1.9.3".parse().unwrap();
/// assert!(a > b);
/// assert!(a.sort_key() > b.sort_key());
/// assert!("1.0".parse::<Version>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Version {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$",
            "description": "Release version MAJOR.MINOR.PATCH."
        })
    }
}

impl Version {
    /// Builds a version from its three numbers.
    #[must_use]
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self { major, minor, patch }
    }

    /// A string that sorts (byte-wise) like the version: used by storage to pick the newest
    /// version with a plain comparison, which is what makes concurrent upserts safe.
    #[must_use]
    pub fn sort_key(&self) -> String {
        format!("{:020}.{:020}.{:020}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_owned());
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, VersionError> {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty()
                || p.len() > 19
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
            {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        let v = Version::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs() {
        for ok in ["abc", "next-saas-starter", "k8s-incident-101"] {
            assert!(ok.parse::<Slug>().is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a--b",
            "ABC",
            "a_b",
            "a b",
            "über",
            &"a".repeat(65),
        ] {
            assert!(bad.parse::<Slug>().is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for bad in [
            "1",
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-beta",
            "1.0.0+b",
            "v1.0.0",
            "1..0",
            "",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad}");
        }
        assert_eq!("0.10.2".parse::<Version>().unwrap(), Version::new(0, 10, 2));
    }

    proptest! {
        /// The one-pass check accepts exactly "words of [a-z0-9] joined by single hyphens".
        #[test]
        fn slug_rule_is_words_joined_by_hyphens(s in "[a-c0-9_A-]{3,12}") {
            let words = s
                .split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            prop_assert_eq!(s.parse::<Slug>().is_ok(), words, "{}", s);
        }

        #[test]
        fn sort_key_orders_like_semver(a in (0u64..1000, 0u64..1000, 0u64..1000), b in (0u64..1000, 0u64..1000, 0u64..1000)) {
            let va = Version::new(a.0, a.1, a.2);
            let vb = Version::new(b.0, b.1, b.2);
            prop_assert_eq!(va.cmp(&vb), va.sort_key().cmp(&vb.sort_key()));
            prop_assert_eq!(va.to_string().parse::<Version>().unwrap(), va);
        }
    }
}
