//! [`BlockingHasher`]: argon2id off the request threads, a bounded number at a time.
//!
//! One argon2id hash or check costs tens of milliseconds of CPU. Run on the async runtime, a
//! burst of sign-ins would stall every other request (24 concurrent sign-ins once took
//! `/healthz` from 2 ms to 690 ms). Here each runs on tokio's blocking pool; at most `workers`
//! run at once, at most `queue` more wait for a slot, and anything beyond is refused at once
//! with [`HashError::Busy`] (the server answers 503 with `Retry-After`) instead of piling up.

use std::sync::Arc;

use accounts::{HashError, NewPassword, PasswordHashing, hash_password, verify_password};
use async_trait::async_trait;
use tokio::sync::Semaphore;

/// Runs [`PasswordHashing`] on the blocking pool behind two semaphores.
#[derive(Debug, Clone)]
pub struct BlockingHasher {
    /// Admission: running + waiting.
    admitted: Arc<Semaphore>,
    /// Running.
    running: Arc<Semaphore>,
}

impl BlockingHasher {
    /// At most `workers` hashes at once (at least 1) and `queue` waiting.
    #[must_use]
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| HashError::Busy)?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Busy)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Failed(e.to_string()))
    }
}

#[async_trait]
impl PasswordHashing for BlockingHasher {
    async fn hash(&self, password: NewPassword) -> Result<String, HashError> {
        self.run(move || hash_password(&password)).await?
    }

    async fn verify(&self, hash: String, candidate: String) -> Result<bool, HashError> {
        self.run(move || verify_password(&hash, &candidate)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_at_once_and_queued_work_still_gets_done() {
        let hasher = BlockingHasher::new(1, 1);
        let pw: NewPassword = "correct horse battery".parse().unwrap();
        let hash = hasher.hash(pw).await.unwrap();
        assert!(
            hasher
                .verify(hash.clone(), "correct horse battery".into())
                .await
                .unwrap()
        );
        assert!(!hasher.verify(hash.clone(), "wrong horse battery".into()).await.unwrap());

        // A hash is running (its two permits held here)…
        let admitted = hasher.admitted.clone().try_acquire_owned().unwrap();
        let running = hasher.running.clone().try_acquire_owned().unwrap();
        // …one more is admitted and waits for the slot…
        let queued = {
            let h = hasher.clone();
            let hash = hash.clone();
            tokio::spawn(async move { h.verify(hash, "correct horse battery".into()).await })
        };
        while hasher.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // …and the next is refused at once.
        assert_eq!(
            hasher.verify(hash.clone(), "correct horse battery".into()).await,
            Err(HashError::Busy)
        );
        drop((admitted, running));
        assert_eq!(
            queued.await.unwrap(),
            Ok(true),
            "the queued check ran once a slot freed"
        );
    }
}
