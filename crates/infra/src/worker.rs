//! The webhook worker loop: applies inbox events one by one (each in its own transaction, see
//! `storage_sql::payments`) and sweeps expired grace periods. Runs in `keys-webhook-worker` and,
//! in local payment mode, inside keys-server. Any number may run against one database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use catalog::Clock;
use payments::ports::InboxRepository;
use tokio::sync::watch;

use crate::WorkerSettings;

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Events applied (or acknowledged as no-ops).
    pub applied: u64,
    /// Attempts that failed (to be retried, or parked as dead).
    pub failed: u64,
    /// Entitlements revoked by the grace sweep.
    pub swept: u64,
}

/// Runs until `stop` turns true (or its sender is dropped), counting applied events in
/// `applied` (the metrics' `keys_inbox_applied_total`). A batch under way when `stop` turns
/// true is finished (committed) first; a killed worker's batch rolls back and stays pending.
pub async fn run_worker(
    inbox: Arc<dyn InboxRepository>,
    clock: Arc<dyn Clock>,
    settings: WorkerSettings,
    mut stop: watch::Receiver<bool>,
    applied: crate::metrics::Counter,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let poll = Duration::from_millis(settings.poll_ms.max(1));
    let sweep_every = Duration::from_secs(settings.sweep_secs.max(1));
    let mut last_sweep = Instant::now().checked_sub(sweep_every).unwrap_or_else(Instant::now);
    tracing::info!("webhook worker started");
    loop {
        if *stop.borrow() {
            break;
        }
        if last_sweep.elapsed() >= sweep_every {
            last_sweep = Instant::now();
            match inbox.sweep(clock.now()).await {
                Ok(0) => {}
                Ok(n) => {
                    stats.swept += n as u64;
                    tracing::info!(revoked = n, "grace periods ran out");
                }
                Err(e) => tracing::warn!(error = %e, "grace sweep failed"),
            }
        }
        let idle = match inbox.process_batch(clock.now(), settings.batch.max(1)).await {
            Ok(done) if done.is_empty() => true,
            Ok(done) => {
                for p in done {
                    match &p.outcome {
                        Ok(summary) => {
                            stats.applied += 1;
                            applied.inc();
                            tracing::info!(event = %p.event_id, kind = %p.event_type, "{summary}");
                        }
                        Err(reason) if p.dead => {
                            stats.failed += 1;
                            tracing::error!(
                                event = %p.event_id,
                                kind = %p.event_type,
                                "parked as dead (see `keys-webhook-worker list --state dead`): {reason}"
                            );
                        }
                        Err(reason) => {
                            stats.failed += 1;
                            tracing::warn!(event = %p.event_id, kind = %p.event_type, "will retry: {reason}");
                        }
                    }
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "inbox unavailable; retrying");
                true
            }
        };
        if idle {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                r = stop.changed() => if r.is_err() { break },
            }
        }
    }
    tracing::info!(applied = stats.applied, failed = stats.failed, "webhook worker stopped");
    stats
}
