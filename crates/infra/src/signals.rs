//! Discovery signals off the request path: [`BufferedSignals`] wraps the SQL repository, keeps
//! recorded signals in a small in-process buffer and writes them in one multi-row transaction
//! (on Postgres without waiting for the WAL flush) every [`FLUSH_EVERY`] or as soon as
//! [`FLUSH_AT`] are waiting. A page view then costs no committed write.
//!
//! What a crash can lose: the signals still in the buffer — at most [`FLUSH_AT`], and in
//! practice those of the last [`FLUSH_EVERY`] — plus, on Postgres, the last batches committed
//! without waiting for the WAL flush (`synchronous_commit = off`: at most about three times
//! `wal_writer_delay`, 600 ms by default). Signals are hints for recommendations, never money or
//! access. A graceful shutdown writes the buffer ([`BufferedSignals::flush`]).
//!
//! Reads see this process's own writes: every read (`recall`, `merge`, `clear`, `purge`,
//! `co_purchases`) writes the buffer first. Another instance sees them within [`FLUSH_EVERY`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use catalog::Slug;
use chrono::{DateTime, Utc};
use discovery::{Profile, Recall, Signal, SignalRepository, SignalStoreError, Subject};

/// How often the buffer is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How many waiting signals make the recording request write them at once.
pub const FLUSH_AT: usize = 512;

/// A [`SignalRepository`] that buffers `record` (see the module documentation).
pub struct BufferedSignals {
    inner: Arc<dyn SignalRepository>,
    buffer: Mutex<Vec<(Subject, Signal)>>,
    /// Serialises writers so batches land in the order they were taken.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for BufferedSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedSignals").finish_non_exhaustive()
    }
}

impl BufferedSignals {
    /// Wraps `inner` and starts the task that writes the buffer every [`FLUSH_EVERY`] (it ends
    /// with the runtime).
    #[must_use]
    pub fn start(inner: Arc<dyn SignalRepository>) -> Arc<Self> {
        let me = Arc::new(Self::new(inner));
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
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
    /// A batch that could not be written goes back before what arrived since; beyond
    /// `4 × FLUSH_AT` the oldest are dropped, with a warning.
    fn put_back(&self, batch: Vec<(Subject, Signal)>) {
        if let Ok(mut b) = self.buffer.lock() {
            let newer = std::mem::replace(&mut *b, batch);
            b.extend(newer);
            let over = b.len().saturating_sub(4 * FLUSH_AT);
            if over > 0 {
                b.drain(..over);
                tracing::warn!(dropped = over, "discovery signal buffer full: oldest dropped");
            }
        }
    }
}

#[async_trait]
impl SignalRepository for BufferedSignals {
    async fn record(&self, subject: &Subject, signal: &Signal) -> Result<(), SignalStoreError> {
        let waiting = self.buffer.lock().ok().map(|mut b| {
            b.push((subject.clone(), signal.clone()));
            b.len()
        });
        let Some(waiting) = waiting else {
            return self.inner.record(subject, signal).await;
        };
        if waiting >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    async fn record_many(&self, batch: &[(Subject, Signal)]) -> Result<(), SignalStoreError> {
        self.flush().await?;
        self.inner.record_many(batch).await
    }

    async fn recall(
        &self,
        subject: &Subject,
        views_since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Recall, SignalStoreError> {
        self.flush().await?;
        self.inner.recall(subject, views_since, limit).await
    }

    async fn save_profile(
        &self,
        subject: &Subject,
        profile: &Profile,
        at: DateTime<Utc>,
    ) -> Result<(), SignalStoreError> {
        self.inner.save_profile(subject, profile, at).await
    }

    async fn merge(&self, from: &Subject, into: &Subject) -> Result<(), SignalStoreError> {
        self.flush().await?;
        self.inner.merge(from, into).await
    }

    async fn clear(&self, subject: &Subject) -> Result<(), SignalStoreError> {
        self.flush().await?;
        self.inner.clear(subject).await
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, SignalStoreError> {
        self.flush().await?;
        self.inner.purge(before).await
    }

    async fn co_purchases(&self, owned: &[Slug]) -> Result<BTreeMap<Slug, Vec<(Slug, u32)>>, SignalStoreError> {
        self.flush().await?;
        self.inner.co_purchases(owned).await
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
    fn a_full_buffer_is_written_by_the_request_that_fills_it_and_a_failed_batch_is_kept() {
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
            for i in 0..FLUSH_AT - 1 {
                let (s, sig) = view(i);
                buffered.record(&s, &sig).await.unwrap();
            }
            let (s, sig) = view(FLUSH_AT);
            assert!(buffered.record(&s, &sig).await.is_err(), "the store is down");
            assert_eq!(buffered.pending(), FLUSH_AT, "kept for the next write");
            buffered.flush().await.unwrap();
            assert_eq!(buffered.pending(), 0);
        });
    }
}
