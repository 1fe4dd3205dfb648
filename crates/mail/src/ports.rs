//! What the mail domain needs from the outside: the outbox (storage), the facts a message is
//! written from, and a transport.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::Notice;
use crate::compose::{Composed, Letter};

/// Storage failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail outbox storage failed: {0}")]
pub struct OutboxError(pub String);

/// A notice claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Outbox row id.
    pub id: i64,
    /// The notice.
    pub notice: Notice,
    /// Failed attempts so far.
    pub attempts: i32,
}

/// How many notices are in each state (for operators and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting to be sent (including retries).
    pub pending: u64,
    /// Sent.
    pub sent: u64,
    /// Given up after too many failures.
    pub dead: u64,
}

/// The durable queue of notices, shared by every worker.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues a notice outside any other transaction (facts that live elsewhere write their
    /// notices in their own transaction). Returns whether it was new (its dedupe key unseen).
    ///
    /// # Errors
    /// [`OutboxError`] when storage fails; nothing is queued then.
    async fn enqueue(&self, notice: &Notice, now: DateTime<Utc>) -> Result<bool, OutboxError>;

    /// Claims up to `max` due notices for `worker` until `now + lease`: no other worker gets
    /// them until the lease runs out.
    ///
    /// # Errors
    /// [`OutboxError`] when storage fails; nothing is claimed then.
    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Queued>, OutboxError>;

    /// Records notice `id` as sent with `subject` (its secret is erased). Only the worker
    /// holding the claim can.
    ///
    /// # Errors
    /// [`OutboxError`] when storage fails.
    async fn sent(&self, id: i64, worker: &str, subject: &str, now: DateTime<Utc>) -> Result<(), OutboxError>;

    /// Records a failed attempt: retried from `retry_at`, or parked `dead` (secret erased) when
    /// `retry_at` is `None`.
    ///
    /// # Errors
    /// [`OutboxError`] when storage fails.
    async fn failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), OutboxError>;

    /// How many notices are in each state.
    ///
    /// # Errors
    /// [`OutboxError`] when storage fails.
    async fn counts(&self) -> Result<OutboxCounts, OutboxError>;
}

/// Reading the facts behind a notice failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read what the message is about: {0}")]
pub struct FactsError(pub String);

/// Turns a notice into who to write to and what to say, from the current state of the shop.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Facts: Send + Sync {
    /// The recipient's address and the letter; `None` when there is nobody to write to any more
    /// (the account was deleted).
    ///
    /// # Errors
    /// [`FactsError`] when storage fails (the notice is retried).
    async fn letter(&self, notice: &Notice) -> Result<Option<(String, Letter)>, FactsError>;
}

/// Sending failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Worth trying again later (connection refused, a 4xx reply).
    #[error("mail could not be sent now: {0}")]
    Temporary(String),
    /// Will never work (a malformed address, a 5xx reply for this recipient).
    #[error("mail cannot be sent: {0}")]
    Permanent(String),
}

/// Hands a message to the world.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Transport: Send + Sync {
    /// Sends `message` to `to`.
    ///
    /// # Errors
    /// [`TransportError`]: temporary failures are retried, permanent ones park the notice.
    async fn send(&self, to: &str, message: &Composed) -> Result<(), TransportError>;
}
