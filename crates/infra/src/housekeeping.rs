//! Hourly housekeeping, idempotent so every instance may run it:
//!
//! * discovery signals older than `discovery.retention_days` are deleted;
//! * sessions that expired or were revoked, and throttling records older than every policy's
//!   window, are deleted;
//! * local-mode checkouts left unfinished for a day, with no payment started, are cancelled,
//!   releasing the credit they reserved (Stripe expires its own Checkout Sessions after 24
//!   hours and tells us with `checkout.session.expired`). This runs in Stripe mode too: after a
//!   switch to Stripe those checkouts can no longer be paid and must not keep credit reserved.

use std::sync::Arc;
use std::time::Duration;

use catalog::Clock;
use chrono::{DateTime, Utc};
use upgrades::ports::{Channel, OrderRepository};

/// How long a local-mode checkout may stay unfinished before the housekeeping cancels it: the
/// payments crate's checkout-expiry policy.
pub const LOCAL_CHECKOUT_LIFETIME: chrono::TimeDelta = payments::checkout::CHECKOUT_LIFETIME;

/// What the housekeeping works on.
#[derive(Clone)]
pub struct Housekeeping {
    /// Sessions and throttling records.
    pub accounts: accounts::AccountService,
    /// Discovery signals.
    pub signals: Arc<dyn discovery::SignalRepository>,
    /// Orders (unfinished local checkouts).
    pub orders: Arc<dyn OrderRepository>,
    /// Days signals are kept.
    pub retention_days: i64,
}

/// What one round deleted or cancelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Discovery signals deleted.
    pub signals: u64,
    /// Sessions deleted.
    pub sessions: u64,
    /// Throttling records deleted.
    pub attempts: u64,
    /// Unfinished local checkouts cancelled.
    pub checkouts: u64,
}

impl Housekeeping {
    /// One round at `now`; a failing step is logged and the others still run.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Swept {
        let mut out = Swept::default();
        match self
            .signals
            .purge(now - chrono::Duration::days(self.retention_days))
            .await
        {
            Ok(n) => out.signals = n,
            Err(e) => tracing::warn!(error = %e, "signal retention purge failed"),
        }
        match self.accounts.purge(now).await {
            Ok((s, a)) => (out.sessions, out.attempts) = (s, a),
            Err(e) => tracing::warn!(error = %e, "session purge failed"),
        }
        match self
            .orders
            .expire_pending(Channel::Local, now - LOCAL_CHECKOUT_LIFETIME)
            .await
        {
            Ok(n) => out.checkouts = n,
            Err(e) => tracing::warn!(error = %e, "expiring unfinished local checkouts failed"),
        }
        if out != Swept::default() {
            tracing::info!(
                signals = out.signals,
                sessions = out.sessions,
                attempts = out.attempts,
                checkouts = out.checkouts,
                "housekeeping"
            );
        }
        out
    }

    /// Runs a round now and then every `every` until the task is aborted.
    #[must_use]
    pub fn spawn(self, clock: Arc<dyn Clock>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                self.run_once(clock.now()).await;
            }
        })
    }
}
