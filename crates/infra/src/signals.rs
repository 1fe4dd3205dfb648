//! Discovery signals off the request path: [`BufferedSignals`] wraps the SQL repository, keeps
//! recorded signals in a small in-process buffer and writes them in one multi-row transaction
//! (on Postgres without waiting for the WAL flush) every [`FLUSH_EVERY`], or as soon as
//! [`FLUSH_AT`] are waiting (the request that fills the buffer wakes the writer; it never
//! writes, nor waits for a write, itself). A page view then costs no committed write and no
//! wait on the database.
//!
//! What a crash can lose: the signals still in the buffer — at most [`MAX_BUFFERED`] (when the
//! database cannot keep up, the oldest beyond it are dropped with a warning), in practice those
//! of the last [`FLUSH_EVERY`] — plus the batch being written, plus, on Postgres, the last batches committed
//! without waiting for the WAL flush (`synchronous_commit = off`: at most about three times
//! `wal_writer_delay`, 600 ms by default). Signals are hints for recommendations, never money or
//! access. A graceful shutdown writes the buffer ([`BufferedSignals::flush`]).
//!
//! Reads see this process's own writes: every read (`recall`, `merge`, `clear`, `purge`,
//! `co_purchases`) writes the buffer first. Another instance sees them within [`FLUSH_EVERY`].
//!
//! Recalls are remembered (issue 16): a subject's saved profile and recent views, once read,
//! are kept for [`RECALL_FRESH`] and answered from memory, with this process's own new views
//! added as they are recorded — so a buyer paging through KEYS does not make every page re-read
//! and decode their last 1 000 views. What another instance records (views, a saved profile, a
//! merge or a clear made there) shows here within [`RECALL_FRESH`] plus the one read that
//! refreshes the copy (one request per subject reads it again; the others are answered from
//! the older copy meanwhile); a saved profile, a clear, a merge or a purge made here forgets at
//! once. The memory keeps each KEY's latest view only (the rules count nothing else), newest
//! first, and hands the same shared copy to every request until it changes; a KEY viewed again
//! on the day of its latest view changes nothing (so paging back and forth costs no copy; that
//! KEY may leave the recently-viewed window up to a day early — views are hints). A view
//! recorded here while its subject's recall is being read from the database may count up to
//! [`RECALL_FRESH`] late. At most [`RECALL_VIEWS_KEPT`] views are kept in all (beyond, the
//! memory starts over).
//!
//! Co-purchase counts (statistics over every paid order, the same for every buyer who owns the
//! same KEYS) are remembered per owned set for [`CO_PURCHASES_FRESH`] (at most
//! [`CO_PURCHASE_SETS_KEPT`] sets), so a buyer who owns KEYS does not cost a database read per
//! page either.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use catalog::Slug;
use chrono::{DateTime, Utc};
use discovery::{Profile, Recall, Signal, SignalKind, SignalRepository, SignalStoreError, Subject};

/// How often the buffer is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How many waiting signals wake the writer at once.
pub const FLUSH_AT: usize = 512;
/// The most signals kept waiting; beyond, the oldest are dropped (with a warning).
pub const MAX_BUFFERED: usize = 4 * FLUSH_AT;
/// How long a remembered recall is answered from memory.
pub const RECALL_FRESH: Duration = Duration::from_secs(1);
/// The most views remembered, all subjects together.
pub const RECALL_VIEWS_KEPT: usize = 200_000;
/// How long co-purchase counts are answered from memory.
pub const CO_PURCHASES_FRESH: Duration = Duration::from_secs(30);
/// The most owned sets whose co-purchase counts are remembered.
pub const CO_PURCHASE_SETS_KEPT: usize = 10_000;

type CoPurchases = BTreeMap<Slug, Vec<(Slug, u32)>>;

/// One subject's remembered recall.
struct Remembered {
    profile: Option<Profile>,
    /// Each KEY's latest view, newest first, at most `limit` KEYS.
    views: VecDeque<Signal>,
    /// `views` as handed out (rebuilt after a change), so requests share one copy.
    shared: Option<Arc<[Signal]>>,
    /// The cut-off and the limit it was read with (it answers reads asking no further back
    /// and no more).
    since: DateTime<Utc>,
    limit: u64,
    read_at: Instant,
    /// A request is reading it again: the others keep answering from this copy meanwhile
    /// (one database read per subject at a time, not one per waiting request).
    refreshing: bool,
}

#[derive(Default)]
struct Recalls {
    by_subject: HashMap<Subject, Remembered>,
    views: usize,
}

/// A [`SignalRepository`] that buffers `record` (see the module documentation).
pub struct BufferedSignals {
    inner: Arc<dyn SignalRepository>,
    buffer: Mutex<Vec<(Subject, Signal)>>,
    /// Serialises writers so batches land in the order they were taken.
    writing: tokio::sync::Mutex<()>,
    recalls: Mutex<Recalls>,
    co_purchases: Mutex<HashMap<Vec<Slug>, (Arc<CoPurchases>, Instant)>>,
    /// Wakes the writer before its next tick (a full buffer).
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for BufferedSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedSignals").finish_non_exhaustive()
    }
}

impl BufferedSignals {
    /// Wraps `inner` and starts the task that writes the buffer every [`FLUSH_EVERY`], or when
    /// [`FLUSH_AT`] wait (it ends with the runtime).
    #[must_use]
    pub fn start(inner: Arc<dyn SignalRepository>) -> Arc<Self> {
        let me = Arc::new(Self::new(inner));
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                {
                    let Some(me) = weak.upgrade() else { break };
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = me.wake.notified() => {}
                    }
                }
                let Some(me) = weak.upgrade() else { break };
                if let Err(e) = me.flush().await {
                    tracing::warn!(error = %e, "discovery signals not written; retrying");
                }
            }
        });
        me
    }

    /// Wraps `inner` without the timer (tests flush by hand).
    #[must_use]
    pub fn new(inner: Arc<dyn SignalRepository>) -> Self {
        Self {
            inner,
            buffer: Mutex::new(Vec::new()),
            writing: tokio::sync::Mutex::new(()),
            recalls: Mutex::new(Recalls::default()),
            co_purchases: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// How many signals wait.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.buffer.lock().map_or(0, |b| b.len())
    }

    /// Writes what waits in one transaction; on failure the batch goes back to the buffer
    /// (bounded: beyond `4 × FLUSH_AT` the oldest are dropped, with a warning).
    ///
    /// # Errors
    /// [`SignalStoreError`] from the store.
    pub async fn flush(&self) -> Result<(), SignalStoreError> {
        let _one_writer = self.writing.lock().await;
        let Some(batch) = self.buffer.lock().ok().map(|mut b| std::mem::take(&mut *b)) else {
            return Err(SignalStoreError("signal buffer poisoned".into()));
        };
        if batch.is_empty() {
            return Ok(());
        }
        match self.inner.record_many(&batch).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.put_back(batch);
                Err(e)
            }
        }
    }
}

impl BufferedSignals {
    fn recalls(&self) -> std::sync::MutexGuard<'_, Recalls> {
        self.recalls.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The remembered recall of `subject`, when fresh and read at least as far back and as
    /// many as asked.
    ///
    /// When it is older than [`RECALL_FRESH`], the first caller gets `None` and reads it again
    /// (calling [`BufferedSignals::remember`] or [`BufferedSignals::refresh_failed`]); callers
    /// meanwhile are answered from the older copy.
    fn remembered(&self, subject: &Subject, since: DateTime<Utc>, limit: u64) -> Option<Recall> {
        let mut recalls = self.recalls();
        let r = recalls.by_subject.get_mut(subject)?;
        if r.since > since || r.limit < limit {
            return None;
        }
        if r.read_at.elapsed() >= RECALL_FRESH && !r.refreshing {
            r.refreshing = true;
            return None;
        }
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        let shared = r.shared.get_or_insert_with(|| r.views.iter().cloned().collect());
        let views = if shared.len() <= take && shared.last().is_none_or(|v| v.at >= since) {
            Arc::clone(shared)
        } else {
            shared.iter().filter(|v| v.at >= since).take(take).cloned().collect()
        };
        Some(Recall {
            profile: r.profile.clone(),
            views,
        })
    }

    fn remember(&self, subject: &Subject, recall: &Recall, since: DateTime<Utc>, limit: u64, read_at: Instant) {
        let mut recalls = self.recalls();
        if recalls.views + recall.views.len() > RECALL_VIEWS_KEPT {
            recalls.by_subject.clear();
            recalls.views = 0;
        }
        let mut seen = std::collections::HashSet::new();
        let views: VecDeque<Signal> = recall
            .views
            .iter()
            .filter(|v| match &v.kind {
                SignalKind::View(slug) => seen.insert(slug.clone()),
                _ => true,
            })
            .cloned()
            .collect();
        recalls.views += views.len();
        let old = recalls.by_subject.insert(
            subject.clone(),
            Remembered {
                profile: recall.profile.clone(),
                views,
                shared: None,
                since,
                limit,
                read_at,
                refreshing: false,
            },
        );
        if let Some(old) = old {
            recalls.views = recalls.views.saturating_sub(old.views.len());
        }
    }

    /// A refresh did not happen: the next caller tries again.
    fn refresh_failed(&self, subject: &Subject) {
        if let Some(r) = self.recalls().by_subject.get_mut(subject) {
            r.refreshing = false;
        }
    }

    fn forget(&self, subject: &Subject) {
        let mut recalls = self.recalls();
        if let Some(old) = recalls.by_subject.remove(subject) {
            recalls.views = recalls.views.saturating_sub(old.views.len());
        }
    }

    /// Adds this process's own new view to `subject`'s remembered recall: it becomes the
    /// KEY's latest view, first. The KEY viewed last, viewed again the same day, changes
    /// nothing.
    fn remember_view(&self, subject: &Subject, signal: &Signal) {
        let SignalKind::View(slug) = &signal.kind else {
            return;
        };
        let mut recalls = self.recalls();
        let Some(r) = recalls.by_subject.get_mut(subject) else {
            return;
        };
        if let Some(front) = r.views.front()
            && matches!(&front.kind, SignalKind::View(s) if s == slug)
            && front.at.date_naive() == signal.at.date_naive()
        {
            return;
        }
        let before = r.views.len();
        r.views.retain(|v| !matches!(&v.kind, SignalKind::View(s) if s == slug));
        r.views.push_front(signal.clone());
        r.views.truncate(usize::try_from(r.limit).unwrap_or(usize::MAX));
        r.shared = None;
        let after = r.views.len();
        recalls.views = (recalls.views + after).saturating_sub(before);
    }

    /// A batch that could not be written goes back before what arrived since; beyond
    /// [`MAX_BUFFERED`] the oldest are dropped, with a warning.
    fn put_back(&self, batch: Vec<(Subject, Signal)>) {
        if let Ok(mut b) = self.buffer.lock() {
            let newer = std::mem::replace(&mut *b, batch);
            b.extend(newer);
            Self::bound(&mut b);
        }
    }

    fn bound(b: &mut Vec<(Subject, Signal)>) {
        let over = b.len().saturating_sub(MAX_BUFFERED);
        if over > 0 {
            b.drain(..over);
            tracing::warn!(dropped = over, "discovery signal buffer full: oldest dropped");
        }
    }
}

#[async_trait]
impl SignalRepository for BufferedSignals {
    async fn record(&self, subject: &Subject, signal: &Signal) -> Result<(), SignalStoreError> {
        self.remember_view(subject, signal);
        let waiting = self.buffer.lock().ok().map(|mut b| {
            b.push((subject.clone(), signal.clone()));
            Self::bound(&mut b);
            b.len()
        });
        let Some(waiting) = waiting else {
            return self.inner.record(subject, signal).await;
        };
        if waiting >= FLUSH_AT {
            self.wake.notify_one();
        }
        Ok(())
    }

    async fn record_many(&self, batch: &[(Subject, Signal)]) -> Result<(), SignalStoreError> {
        for (subject, signal) in batch {
            self.remember_view(subject, signal);
        }
        self.flush().await?;
        self.inner.record_many(batch).await
    }

    async fn recall(
        &self,
        subject: &Subject,
        views_since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Recall, SignalStoreError> {
        if let Some(r) = self.remembered(subject, views_since, limit) {
            return Ok(r);
        }
        let read_at = Instant::now();
        let read = async {
            self.flush().await?;
            self.inner.recall(subject, views_since, limit).await
        };
        match read.await {
            Ok(recall) => {
                self.remember(subject, &recall, views_since, limit, read_at);
                // As remembered (each KEY's latest view once), so a miss and a hit agree.
                Ok(self.remembered(subject, views_since, limit).unwrap_or(recall))
            }
            Err(e) => {
                self.refresh_failed(subject);
                Err(e)
            }
        }
    }

    async fn save_profile(
        &self,
        subject: &Subject,
        profile: &Profile,
        at: DateTime<Utc>,
    ) -> Result<(), SignalStoreError> {
        self.forget(subject);
        let saved = self.inner.save_profile(subject, profile, at).await;
        self.forget(subject);
        saved
    }

    async fn merge(&self, from: &Subject, into: &Subject) -> Result<(), SignalStoreError> {
        self.flush().await?;
        let merged = self.inner.merge(from, into).await;
        self.forget(from);
        self.forget(into);
        merged
    }

    async fn clear(&self, subject: &Subject) -> Result<(), SignalStoreError> {
        self.flush().await?;
        let cleared = self.inner.clear(subject).await;
        self.forget(subject);
        cleared
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, SignalStoreError> {
        self.flush().await?;
        let purged = self.inner.purge(before).await;
        *self.recalls() = Recalls::default();
        purged
    }

    async fn co_purchases(&self, owned: &[Slug]) -> Result<BTreeMap<Slug, Vec<(Slug, u32)>>, SignalStoreError> {
        let known = |m: &HashMap<Vec<Slug>, (Arc<CoPurchases>, Instant)>| {
            m.get(owned)
                .filter(|(_, at)| at.elapsed() < CO_PURCHASES_FRESH)
                .map(|(c, _)| Arc::clone(c))
        };
        if let Some(c) = known(
            &self
                .co_purchases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ) {
            return Ok((*c).clone());
        }
        let read_at = Instant::now();
        self.flush().await?;
        let counts = self.inner.co_purchases(owned).await?;
        let mut kept = self
            .co_purchases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= CO_PURCHASE_SETS_KEPT {
            kept.clear();
        }
        kept.insert(owned.to_vec(), (Arc::new(counts.clone()), read_at));
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use discovery::SignalKind;
    use discovery::ports::MockSignalRepository;

    fn view(i: usize) -> (Subject, Signal) {
        (
            Subject::User(1),
            Signal {
                kind: SignalKind::View(format!("key-{i}").parse().unwrap()),
                at: DateTime::<Utc>::from_timestamp(1_764_720_000, 0).unwrap(),
            },
        )
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn records_wait_in_the_buffer_and_are_written_in_one_batch_before_any_read() {
        let mut inner = MockSignalRepository::new();
        inner.expect_record().never();
        inner
            .expect_record_many()
            .withf(|b| b.len() == 3)
            .times(1)
            .returning(|_| Ok(()));
        inner
            .expect_recall()
            .times(1)
            .returning(|_, _, _| Ok(Recall::default()));
        let buffered = BufferedSignals::new(Arc::new(inner));
        run(async {
            for i in 0..3 {
                let (s, sig) = view(i);
                buffered.record(&s, &sig).await.unwrap();
            }
            assert_eq!(buffered.pending(), 3, "nothing written on the request path");
            buffered.recall(&Subject::User(1), Utc::now(), 10).await.unwrap();
            assert_eq!(buffered.pending(), 0);
        });
    }

    #[test]
    fn a_full_buffer_wakes_the_writer_without_waiting_and_a_failed_batch_is_kept() {
        let mut inner = MockSignalRepository::new();
        let mut calls = 0;
        inner.expect_record_many().times(2).returning(move |b| {
            calls += 1;
            assert_eq!(b.len(), FLUSH_AT);
            if calls == 1 {
                Err(SignalStoreError("down".into()))
            } else {
                Ok(())
            }
        });
        let buffered = BufferedSignals::new(Arc::new(inner));
        run(async {
            for i in 0..FLUSH_AT {
                let (s, sig) = view(i);
                buffered.record(&s, &sig).await.unwrap();
            }
            assert_eq!(buffered.pending(), FLUSH_AT, "the request never writes itself");
            // The writer was woken (a permit is stored for it).
            tokio::time::timeout(Duration::from_millis(100), buffered.wake.notified())
                .await
                .expect("the writer was woken");
            assert!(buffered.flush().await.is_err(), "the store is down");
            assert_eq!(buffered.pending(), FLUSH_AT, "kept for the next write");
            buffered.flush().await.unwrap();
            assert_eq!(buffered.pending(), 0);
            for i in 0..MAX_BUFFERED + 10 {
                let (s, sig) = view(i);
                buffered.record(&s, &sig).await.unwrap();
            }
            assert_eq!(buffered.pending(), MAX_BUFFERED, "bounded: the oldest are dropped");
        });
    }

    #[test]
    fn a_recall_is_remembered_with_this_processs_new_views_and_forgotten_when_cleared() {
        let mut inner = MockSignalRepository::new();
        inner.expect_record_many().returning(|_| Ok(()));
        inner.expect_clear().times(1).returning(|_| Ok(()));
        let (_, seen) = view(1);
        let stored = seen.clone();
        inner.expect_recall().times(3).returning(move |_, _, _| {
            Ok(Recall {
                profile: None,
                views: vec![stored.clone()].into(),
            })
        });
        let buffered = BufferedSignals::new(Arc::new(inner));
        let user = Subject::User(1);
        let since = seen.at - chrono::Duration::days(30);
        run(async {
            assert_eq!(
                &*buffered.recall(&user, since, 3).await.unwrap().views,
                std::slice::from_ref(&seen)
            );
            let (_, newer) = view(2);
            buffered.record(&user, &newer).await.unwrap();
            let (_, other) = view(3);
            buffered.record(&Subject::User(2), &other).await.unwrap();
            assert_eq!(
                buffered.recall(&user, since, 3).await.unwrap().views.to_vec(),
                [newer.clone(), seen.clone()],
                "from memory, with the view just recorded here, newest first"
            );
            assert_eq!(
                &*buffered.recall(&user, since, 1).await.unwrap().views,
                std::slice::from_ref(&newer),
                "fewer asked: answered from memory"
            );
            buffered
                .recall(&user, since - chrono::Duration::days(1), 3)
                .await
                .unwrap();
            buffered.clear(&user).await.unwrap();
            buffered.recall(&user, since, 3).await.unwrap();
        });
    }

    #[test]
    fn co_purchase_counts_are_remembered_per_owned_set() {
        let mut inner = MockSignalRepository::new();
        let a: Slug = "key-a".parse().unwrap();
        let b: Slug = "key-b".parse().unwrap();
        let counts = BTreeMap::from([(b.clone(), vec![(a.clone(), 3)])]);
        let answer = counts.clone();
        inner
            .expect_co_purchases()
            .times(2)
            .returning(move |_| Ok(answer.clone()));
        let buffered = BufferedSignals::new(Arc::new(inner));
        run(async {
            assert_eq!(buffered.co_purchases(std::slice::from_ref(&a)).await.unwrap(), counts);
            assert_eq!(
                buffered.co_purchases(std::slice::from_ref(&a)).await.unwrap(),
                counts,
                "from memory"
            );
            buffered.co_purchases(&[a.clone(), b.clone()]).await.unwrap();
        });
    }

    #[test]
    fn the_memory_keeps_each_keys_latest_view_and_shares_one_copy_until_it_changes() {
        let mut inner = MockSignalRepository::new();
        inner.expect_record_many().returning(|_| Ok(()));
        let (_, a1) = view(1);
        let (_, b) = view(2);
        let stored = vec![a1.clone(), b.clone(), a1.clone()];
        inner.expect_recall().times(1).returning(move |_, _, _| {
            Ok(Recall {
                profile: None,
                views: stored.clone().into(),
            })
        });
        let buffered = BufferedSignals::new(Arc::new(inner));
        let user = Subject::User(1);
        let since = a1.at - chrono::Duration::days(30);
        run(async {
            let first = buffered.recall(&user, since, 10).await.unwrap().views;
            assert_eq!(first.to_vec(), [a1.clone(), b.clone()], "each KEY's latest view once");
            let again = buffered.recall(&user, since, 10).await.unwrap().views;
            assert!(Arc::ptr_eq(&first, &again), "one shared copy");
            buffered.record(&user, &a1).await.unwrap();
            let same_day = buffered.recall(&user, since, 10).await.unwrap().views;
            assert!(
                Arc::ptr_eq(&first, &same_day),
                "the last KEY seen again the same day: no change"
            );
            let later = Signal {
                kind: b.kind.clone(),
                at: b.at + chrono::Duration::days(1),
            };
            buffered.record(&user, &later).await.unwrap();
            assert_eq!(
                buffered.recall(&user, since, 10).await.unwrap().views.to_vec(),
                [later, a1.clone()],
                "moved to the front, once"
            );
        });
    }
}
