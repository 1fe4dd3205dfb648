//! The recommendation context of one asker, gathered from the signal port: what ranking needs
//! to know of a buyer or visitor, read concurrently, with storage failures degraded to "no
//! history" (recommendations still follow the answers given) rather than an error.

use std::collections::{BTreeMap, BTreeSet};

use catalog::Slug;
use chrono::{DateTime, Duration, Utc};

use crate::ports::{Recall, SignalRepository, Subject};
use crate::rules::{Context, Profile};

/// The most recent views the recently-viewed rule looks at.
pub const RECENT_VIEWS: u64 = 1_000;

/// Who is asking and what is already known of them.
#[derive(Debug, Clone)]
pub struct Asking<'a> {
    /// The account or visitor whose signals count; `None` for a visitor without a cookie.
    pub subject: Option<&'a Subject>,
    /// KEYS the asker can access now (never recommended; their co-purchases are looked up).
    pub owned: BTreeSet<Slug>,
    /// Answers given with this request; each given answer overrides the saved one.
    pub asked: Option<Profile>,
    /// Bundles: title and members.
    pub bundles: Vec<(String, Vec<Slug>)>,
    /// How many days of views count.
    pub window_days: i64,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Reads the asker's saved profile, recent views and the co-purchases of what they own (both
/// reads at once) and builds the ranking [`Context`].
///
/// Never fails: when signals are unavailable the context holds no history (a warning is
/// logged) and the answers given still count.
pub async fn gather(signals: &dyn SignalRepository, asking: Asking<'_>) -> Context {
    let owned_list: Vec<Slug> = asking.owned.iter().cloned().collect();
    let since = asking.now - Duration::days(asking.window_days.max(0));
    let recall = async {
        match asking.subject {
            Some(s) => signals.recall(s, since, RECENT_VIEWS).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "signals unavailable; recommending from the answers only");
                Recall::default()
            }),
            None => Recall::default(),
        }
    };
    let co_purchases = async {
        if owned_list.is_empty() {
            BTreeMap::new()
        } else {
            signals.co_purchases(&owned_list).await.unwrap_or_default()
        }
    };
    let (recall, co_purchases) = futures::join!(recall, co_purchases);
    let mut profile = recall.profile.unwrap_or_default();
    if let Some(a) = asking.asked {
        if a.role.is_some() {
            profile.role = a.role;
        }
        if !a.intents.is_empty() {
            profile.intents = a.intents;
        }
        if !a.categories.is_empty() {
            profile.categories = a.categories;
        }
    }
    Context {
        profile,
        owned: asking.owned,
        signals: recall.views,
        co_purchases,
        bundles: asking.bundles,
        now: asking.now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockSignalRepository, SignalStoreError};
    use crate::{Signal, SignalKind};
    use catalog::{Intent, Role};

    fn slug(s: &str) -> Slug {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn answers_override_the_saved_profile_field_by_field_and_views_come_from_the_window() {
        let mut repo = MockSignalRepository::new();
        let user = Subject::User(7);
        let viewed = Signal {
            kind: SignalKind::View(slug("pg-failover")),
            at: now() - Duration::days(1),
        };
        let saved = Profile {
            role: Some(Role::Sre),
            intents: vec![Intent::HardenSecurity],
            categories: vec![],
        };
        let (saved2, viewed2) = (saved.clone(), viewed.clone());
        repo.expect_recall()
            .withf(|s, since, limit| {
                *s == Subject::User(7) && *since == now() - Duration::days(30) && *limit == RECENT_VIEWS
            })
            .times(1)
            .returning(move |_, _, _| {
                Ok(Recall {
                    profile: Some(saved2.clone()),
                    views: vec![viewed2.clone()].into(),
                })
            });
        repo.expect_co_purchases()
            .withf(|owned| owned == [slug("next-saas")])
            .times(1)
            .returning(|_| Ok(BTreeMap::from([(slug("pg-failover"), vec![(slug("next-saas"), 3)])])));
        let ctx = futures::executor::block_on(gather(
            &repo,
            Asking {
                subject: Some(&user),
                owned: BTreeSet::from([slug("next-saas")]),
                asked: Some(Profile {
                    role: Some(Role::MlEngineer),
                    intents: vec![],
                    categories: vec![],
                }),
                bundles: vec![],
                window_days: 30,
                now: now(),
            },
        ));
        assert_eq!(ctx.profile.role, Some(Role::MlEngineer), "a given answer wins");
        assert_eq!(
            ctx.profile.intents, saved.intents,
            "an unanswered question keeps the saved answer"
        );
        assert_eq!(ctx.signals.to_vec(), vec![viewed]);
        assert_eq!(ctx.co_purchases[&slug("pg-failover")], vec![(slug("next-saas"), 3)]);
        assert!(ctx.owned.contains(&slug("next-saas")));
    }

    #[test]
    fn storage_down_gives_no_history_and_nothing_owned_skips_the_co_purchase_read() {
        let mut repo = MockSignalRepository::new();
        let visitor = Subject::Visitor("d1".into());
        repo.expect_recall()
            .returning(|_, _, _| Err(SignalStoreError("down".into())));
        repo.expect_co_purchases().times(0);
        let ctx = futures::executor::block_on(gather(
            &repo,
            Asking {
                subject: Some(&visitor),
                owned: BTreeSet::new(),
                asked: None,
                bundles: vec![],
                window_days: 30,
                now: now(),
            },
        ));
        assert_eq!(ctx.profile, Profile::default());
        assert!(ctx.signals.is_empty() && ctx.co_purchases.is_empty());
    }
}
