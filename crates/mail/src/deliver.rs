//! The delivery service: claim due notices, write each from the current facts, send it, record
//! the outcome (sent, retry later, or dead).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::compose::{Site, compose};
use crate::ports::{Facts, Outbox, OutboxError, Transport, TransportError};

/// A notice is given up (parked `dead`) after this many failed attempts.
pub const MAX_ATTEMPTS: i32 = 8;

/// How long a claim keeps other workers off a notice: longer than any SMTP exchange.
pub const LEASE_SECS: i64 = 120;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Sent.
    pub sent: usize,
    /// Failed, to be retried.
    pub retried: usize,
    /// Given up.
    pub dead: usize,
    /// Nobody to write to any more: recorded as sent without a message.
    pub skipped: usize,
}

/// Sends what the outbox holds.
#[derive(Clone)]
pub struct Delivery {
    outbox: Arc<dyn Outbox>,
    facts: Arc<dyn Facts>,
    transport: Arc<dyn Transport>,
    site: Site,
    worker: String,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// A delivery service named `worker` (unique per process: claims are per worker).
    #[must_use]
    pub fn new(
        outbox: Arc<dyn Outbox>,
        facts: Arc<dyn Facts>,
        transport: Arc<dyn Transport>,
        site: Site,
        worker: impl Into<String>,
    ) -> Self {
        Self {
            outbox,
            facts,
            transport,
            site,
            worker: worker.into(),
        }
    }

    /// The outbox (for counts).
    #[must_use]
    pub fn outbox(&self) -> &Arc<dyn Outbox> {
        &self.outbox
    }

    /// One round: claims up to `max` due notices and sends each.
    ///
    /// # Errors
    /// [`OutboxError`] when the outbox cannot be read or written; what was already recorded
    /// stays recorded, and unrecorded claims are taken again when their lease runs out.
    pub async fn run_once(&self, now: DateTime<Utc>, max: usize) -> Result<DeliveryReport, OutboxError> {
        let mut report = DeliveryReport::default();
        let claimed = self
            .outbox
            .claim(&self.worker, now, Duration::seconds(LEASE_SECS), max)
            .await?;
        for q in claimed {
            let outcome = match self.facts.letter(&q.notice).await {
                Ok(None) => {
                    self.outbox.sent(q.id, &self.worker, "(no recipient)", now).await?;
                    report.skipped += 1;
                    continue;
                }
                Ok(Some((to, letter))) => {
                    let message = compose(&letter, &self.site);
                    match self.transport.send(&to, &message).await {
                        Ok(()) => {
                            self.outbox.sent(q.id, &self.worker, &message.subject, now).await?;
                            report.sent += 1;
                            continue;
                        }
                        Err(e) => e,
                    }
                }
                Err(e) => TransportError::Temporary(e.to_string()),
            };
            let attempts = q.attempts + 1;
            let retry_at = match &outcome {
                TransportError::Temporary(_) if attempts < MAX_ATTEMPTS => Some(now + crate::backoff(attempts)),
                _ => None,
            };
            self.outbox
                .failed(q.id, &self.worker, &outcome.to_string(), retry_at, now)
                .await?;
            if retry_at.is_some() {
                report.retried += 1;
            } else {
                report.dead += 1;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::Letter;
    use crate::ports::{MockFacts, MockOutbox, MockTransport, Queued};
    use crate::{Notice, NoticeKind};
    use chrono::TimeZone;
    use futures::executor::block_on;
    use mockall::predicate::eq;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap()
    }

    fn queued(id: i64, attempts: i32) -> Queued {
        Queued {
            id,
            notice: Notice::about_order(NoticeKind::Receipt, 3, id, "", format!("receipt:order:{id}")),
            attempts,
        }
    }

    fn delivery(outbox: MockOutbox, facts: MockFacts, transport: MockTransport) -> Delivery {
        Delivery::new(
            Arc::new(outbox),
            Arc::new(facts),
            Arc::new(transport),
            Site::new("Acme", "help@acme.example", "https://shop.example"),
            "w1",
        )
    }

    fn letter() -> Letter {
        Letter::AccessEnded {
            product: "Scale plan".into(),
            reason: "the payment was refunded".into(),
            browse: "https://shop.example/marketplace".into(),
        }
    }

    #[test]
    fn sends_retries_with_backoff_gives_up_and_skips() {
        let mut outbox = MockOutbox::new();
        outbox
            .expect_claim()
            .withf(|w, _, lease, max| w == "w1" && *lease == Duration::seconds(LEASE_SECS) && *max == 10)
            .returning(|_, _, _, _| {
                Ok(vec![
                    queued(1, 0),
                    queued(2, 2),
                    queued(3, MAX_ATTEMPTS - 1),
                    queued(4, 0),
                    queued(5, 0),
                ])
            });
        outbox
            .expect_sent()
            .with(eq(1), eq("w1"), eq("Your access to Scale plan has ended"), eq(now()))
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        outbox
            .expect_sent()
            .with(eq(4), eq("w1"), eq("(no recipient)"), eq(now()))
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        // 2: third failure → retried after 2 minutes; 3: the last attempt → dead; 5: permanent → dead.
        outbox
            .expect_failed()
            .withf(|id, _, _, retry, _| *id == 2 && *retry == Some(now() + Duration::seconds(120)))
            .times(1)
            .returning(|_, _, _, _, _| Ok(()));
        outbox
            .expect_failed()
            .withf(|id, _, _, retry, _| (*id == 3 || *id == 5) && retry.is_none())
            .times(2)
            .returning(|_, _, _, _, _| Ok(()));
        let mut facts = MockFacts::new();
        facts.expect_letter().returning(|n| {
            Ok(match n.order {
                Some(4) => None,
                _ => Some((format!("buyer{}@example.com", n.order.unwrap_or(0)), letter())),
            })
        });
        let mut transport = MockTransport::new();
        transport.expect_send().returning(|to, _| match to {
            "buyer1@example.com" => Ok(()),
            "buyer5@example.com" => Err(TransportError::Permanent("550 no such user".into())),
            _ => Err(TransportError::Temporary("connection refused".into())),
        });
        let report = block_on(delivery(outbox, facts, transport).run_once(now(), 10)).unwrap();
        assert_eq!(
            report,
            DeliveryReport {
                sent: 1,
                retried: 1,
                dead: 2,
                skipped: 1
            }
        );
    }

    #[test]
    fn unreadable_facts_are_retried_not_lost() {
        let mut outbox = MockOutbox::new();
        outbox.expect_claim().returning(|_, _, _, _| Ok(vec![queued(7, 0)]));
        outbox
            .expect_failed()
            .withf(|id, _, err, retry, _| *id == 7 && err.contains("database down") && retry.is_some())
            .times(1)
            .returning(|_, _, _, _, _| Ok(()));
        let mut facts = MockFacts::new();
        facts
            .expect_letter()
            .returning(|_| Err(crate::ports::FactsError("database down".into())));
        let report = block_on(delivery(outbox, facts, MockTransport::new()).run_once(now(), 10)).unwrap();
        assert_eq!(report.retried, 1);
    }
}
