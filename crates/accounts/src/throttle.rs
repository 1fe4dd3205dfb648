//! Throttling of guesses (sign-in, sign-up, password change): a pure rule over the times of
//! recent attempts that counted against a key.
//!
//! The rule **slows guesses down progressively** instead of locking an account: the first
//! `free` failures inside the window cost nothing; after that every further attempt must wait
//! `base_delay × 2^(failures − free)` after the latest failure, capped at `max_delay`. The
//! service checks several keys at once — the (account, address) pair, the account from any
//! address, the address for any account — with different policies, so someone guessing from
//! one address is slowed to a crawl while the real owner, signing in from their own address,
//! waits at most the per-account cap (seconds), never a lockout.
//!
//! Storage applies the decision atomically (`ThrottleRepository::begin_attempt` counts and
//! records in one transaction under a per-key lock), so concurrent guesses cannot slip through
//! between a check and its record.

use chrono::{DateTime, Duration, Utc};

/// How many failures are free within a window, and how the wait grows after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures inside `window` that cost nothing.
    pub free: u32,
    /// Sliding window: older failures are forgotten.
    pub window: Duration,
    /// The wait after the first failure past `free`; it doubles with each further one.
    pub base_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for ThrottlePolicy {
    /// Per (account, address) pair: 3 free failures in 15 minutes, then 2 s, 4 s, 8 s, … up to
    /// 15 minutes between guesses.
    fn default() -> Self {
        Self {
            free: 3,
            window: Duration::minutes(15),
            base_delay: Duration::seconds(2),
            max_delay: Duration::minutes(15),
        }
    }
}

/// Whether another attempt may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Go ahead.
    Allowed,
    /// Refuse until this instant.
    WaitUntil(DateTime<Utc>),
}

impl ThrottlePolicy {
    /// The wait after `failures` failures (zero while they are free).
    #[must_use]
    pub fn delay_after(&self, failures: usize) -> Duration {
        let free = self.free as usize;
        if failures < free || (failures == 0) {
            return Duration::zero();
        }
        let doublings = u32::try_from(failures - free).unwrap_or(u32::MAX).min(30);
        let factor = 1_i64 << doublings;
        self.base_delay
            .checked_mul(i32::try_from(factor).unwrap_or(i32::MAX))
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// The decision at `now` given the times of recent failures (any order; failures before
    /// the window are ignored). A failure stamped *after* `now` still counts: concurrent
    /// attempts read the clock a moment apart, and one recorded by a slightly later attempt
    /// must not be skipped by an earlier one deciding after it.
    ///
    /// ```
    /// use accounts::{ThrottleDecision, ThrottlePolicy};
    /// use chrono::{Duration, Utc};
    /// let p = ThrottlePolicy::default(); // 3 free, then 2 s, 4 s, …
    /// let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 0, 0, 0).unwrap();
    /// let three: Vec<_> = (0..3).map(|i| now - Duration::seconds(i)).collect();
    /// assert_eq!(p.decide(&three[..2], now), ThrottleDecision::Allowed);
    /// assert_eq!(p.decide(&three, now), ThrottleDecision::WaitUntil(now + Duration::seconds(2)));
    /// assert_eq!(p.decide(&three, now + Duration::seconds(2)), ThrottleDecision::Allowed);
    /// ```
    #[must_use]
    pub fn decide(&self, failures: &[DateTime<Utc>], now: DateTime<Utc>) -> ThrottleDecision {
        let recent = failures.iter().copied().filter(|t| *t > now - self.window);
        let (count, latest) = recent.fold((0usize, None), |(n, latest), t| {
            (n + 1, Some(latest.map_or(t, |l: DateTime<Utc>| l.max(t))))
        });
        let Some(latest) = latest else {
            return ThrottleDecision::Allowed;
        };
        let until = latest + self.delay_after(count);
        if until > now {
            ThrottleDecision::WaitUntil(until)
        } else {
            ThrottleDecision::Allowed
        }
    }
}

/// One key to check before an attempt, with its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleCheck {
    /// `pair:<email>|<address>`, `account:<email>`, `address:<ip>`, `signup:<ip>`, …
    pub key: String,
    /// The policy for that key.
    pub policy: ThrottlePolicy,
}

/// An attempt recorded in advance by `ThrottleRepository::begin_attempt`: it counts as a
/// failure unless the service reports success (`attempt_succeeded`) or abandons it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptTicket {
    /// Storage ids of the recorded attempt rows (one per checked key).
    pub ids: Vec<i64>,
}

/// What `ThrottleRepository::begin_attempt` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Recorded; go ahead.
    Allowed(AttemptTicket),
    /// Refused (nothing recorded): the earliest time every key allows another attempt.
    Throttled {
        /// When to try again.
        until: DateTime<Utc>,
    },
}

/// The combined decision over several keys: allowed only when every key allows it; otherwise
/// the latest of their waits.
#[must_use]
pub fn decide_all<'a>(
    checks: impl IntoIterator<Item = (&'a ThrottleCheck, &'a [DateTime<Utc>])>,
    now: DateTime<Utc>,
) -> ThrottleDecision {
    let mut until: Option<DateTime<Utc>> = None;
    for (check, failures) in checks {
        if let ThrottleDecision::WaitUntil(t) = check.policy.decide(failures, now) {
            until = Some(until.map_or(t, |u| u.max(t)));
        }
    }
    until.map_or(ThrottleDecision::Allowed, ThrottleDecision::WaitUntil)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(sec: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + Duration::seconds(sec)
    }

    #[test]
    fn table() {
        let p = ThrottlePolicy::default();
        let cases: Vec<(&str, Vec<i64>, i64, ThrottleDecision)> = vec![
            ("no failures", vec![], 0, ThrottleDecision::Allowed),
            ("free failures", vec![0, 1], 2, ThrottleDecision::Allowed),
            (
                "third failure: wait 2 s",
                vec![0, 1, 2],
                2,
                ThrottleDecision::WaitUntil(t(4)),
            ),
            ("the wait ends", vec![0, 1, 2], 4, ThrottleDecision::Allowed),
            ("fourth: 4 s", vec![0, 1, 2, 5], 6, ThrottleDecision::WaitUntil(t(9))),
            (
                "fifth: 8 s",
                vec![0, 1, 2, 5, 10],
                10,
                ThrottleDecision::WaitUntil(t(18)),
            ),
            (
                "old failures forgotten",
                vec![-2000, -1990, -1980, 1],
                2,
                ThrottleDecision::Allowed,
            ),
            (
                "failures stamped a moment later still count",
                vec![10, 11, 12],
                5,
                ThrottleDecision::WaitUntil(t(14)),
            ),
        ];
        for (name, failures, now, want) in cases {
            let f: Vec<_> = failures.into_iter().map(t).collect();
            assert_eq!(p.decide(&f, t(now)), want, "{name}");
        }
    }

    #[test]
    fn the_wait_is_capped_so_the_owner_is_never_locked_out() {
        let p = ThrottlePolicy {
            free: 10,
            window: Duration::minutes(15),
            base_delay: Duration::seconds(1),
            max_delay: Duration::seconds(30),
        };
        let many: Vec<_> = (0..500).map(t).collect();
        assert_eq!(p.delay_after(500), Duration::seconds(30));
        assert_eq!(p.decide(&many, t(499)), ThrottleDecision::WaitUntil(t(529)));
        assert_eq!(p.decide(&many, t(529)), ThrottleDecision::Allowed);
        assert_eq!(p.delay_after(9), Duration::zero());
        assert_eq!(p.delay_after(10), Duration::seconds(1));
        assert_eq!(p.delay_after(11), Duration::seconds(2));
    }

    #[test]
    fn several_keys_wait_for_the_slowest() {
        let strict = ThrottleCheck {
            key: "pair".into(),
            policy: ThrottlePolicy::default(),
        };
        let loose = ThrottleCheck {
            key: "account".into(),
            policy: ThrottlePolicy {
                free: 10,
                ..ThrottlePolicy::default()
            },
        };
        let three = [t(0), t(1), t(2)];
        assert_eq!(
            decide_all([(&strict, &three[..]), (&loose, &three[..])], t(2)),
            ThrottleDecision::WaitUntil(t(4))
        );
        assert_eq!(
            decide_all([(&strict, &three[..1]), (&loose, &three[..])], t(2)),
            ThrottleDecision::Allowed
        );
    }

    proptest! {
        /// More failures never shorten the wait.
        #[test]
        fn more_failures_never_shorten_the_wait(mut secs in proptest::collection::vec(-900i64..900, 0..20), extra in -900i64..900, now in -900i64..900) {
            let p = ThrottlePolicy::default();
            let before = p.decide(&secs.iter().copied().map(t).collect::<Vec<_>>(), t(now));
            secs.push(extra);
            let after = p.decide(&secs.iter().copied().map(t).collect::<Vec<_>>(), t(now));
            if let ThrottleDecision::WaitUntil(u) = before {
                prop_assert!(matches!(after, ThrottleDecision::WaitUntil(v) if v >= u));
            }
        }

        /// The wait never exceeds the cap.
        #[test]
        fn the_wait_never_exceeds_the_cap(n in 0usize..10_000) {
            let p = ThrottlePolicy::default();
            prop_assert!(p.delay_after(n) <= p.max_delay);
        }
    }
}
