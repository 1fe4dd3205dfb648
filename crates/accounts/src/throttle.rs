//! Failed sign-in throttling: a pure rule over the times of recent failures.

use chrono::{DateTime, Duration, Utc};

/// How many failures are tolerated, within which window, and how long the lock lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed inside `window` before locking.
    pub max_failures: u32,
    /// Sliding window.
    pub window: Duration,
    /// How long a lock lasts after the failure that triggered it.
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    /// 5 failures in 15 minutes lock for 15 minutes (per account; per address the caller uses
    /// a looser policy).
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        }
    }
}

/// Whether another attempt may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Go ahead.
    Allowed,
    /// Refuse until this instant.
    LockedUntil(DateTime<Utc>),
}

impl ThrottlePolicy {
    /// The decision at `now` given the times of recent failures (any order; older ones are
    /// ignored).
    ///
    /// ```
    /// use accounts::{ThrottleDecision, ThrottlePolicy};
    /// use chrono::{Duration, Utc};
    /// let p = ThrottlePolicy::default();
    /// let now = Utc::now();
    /// let five: Vec<_> = (0..5).map(|i| now - Duration::minutes(i)).collect();
    /// assert_eq!(p.decide(&five[..4], now), ThrottleDecision::Allowed);
    /// assert!(matches!(p.decide(&five, now), ThrottleDecision::LockedUntil(_)));
    /// ```
    #[must_use]
    pub fn decide(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> ThrottleDecision {
        let mut recent: Vec<DateTime<Utc>> = failures
            .iter()
            .copied()
            .filter(|t| *t > now - self.window && *t <= now)
            .collect();
        if recent.len() < self.max_failures as usize {
            return ThrottleDecision::Allowed;
        }
        recent.sort_unstable();
        let until = recent[recent.len() - 1] + self.lockout;
        if until > now {
            ThrottleDecision::LockedUntil(until)
        } else {
            ThrottleDecision::Allowed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn table() {
        let p = ThrottlePolicy::default();
        let cases: Vec<(&str, Vec<i64>, i64, ThrottleDecision)> = vec![
            ("no failures", vec![], 0, ThrottleDecision::Allowed),
            ("four failures", vec![0, 1, 2, 3], 4, ThrottleDecision::Allowed),
            (
                "five failures lock",
                vec![0, 1, 2, 3, 4],
                5,
                ThrottleDecision::LockedUntil(t(19)),
            ),
            ("lock ends", vec![0, 1, 2, 3, 4], 19, ThrottleDecision::Allowed),
            (
                "old failures ignored",
                vec![-40, -30, -20, 1, 2],
                3,
                ThrottleDecision::Allowed,
            ),
            (
                "future failures ignored",
                vec![10, 11, 12, 13, 14],
                5,
                ThrottleDecision::Allowed,
            ),
        ];
        for (name, failures, now, want) in cases {
            let f: Vec<_> = failures.into_iter().map(t).collect();
            assert_eq!(p.decide(&f, t(now)), want, "{name}");
        }
    }

    proptest! {
        /// More failures never unlock.
        #[test]
        fn more_failures_never_unlock(mut mins in proptest::collection::vec(-30i64..30, 0..12), extra in -30i64..30, now in -30i64..30) {
            let p = ThrottlePolicy::default();
            let before = p.decide(&mins.iter().copied().map(t).collect::<Vec<_>>(), t(now));
            mins.push(extra);
            let after = p.decide(&mins.iter().copied().map(t).collect::<Vec<_>>(), t(now));
            if let ThrottleDecision::LockedUntil(u) = before {
                prop_assert!(matches!(after, ThrottleDecision::LockedUntil(v) if v >= u));
            }
        }
    }
}
