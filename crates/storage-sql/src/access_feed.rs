//! The access-change feed (Postgres): `LISTEN keys_access` on a connection of its own, telling
//! an [`AccessChanges`] every account whose sessions, memberships or entitlements changed (the
//! triggers of migration 19 send them at commit, whoever wrote), and proving the feed is live
//! with heartbeats.
//!
//! Heartbeats: every [`HEARTBEAT`] this process sends `NOTIFY keys_access,
//! 'alive:<nonce>:<nanos>'` on a connection of its own (so a request pool exhausted under load
//! cannot delay them and turn every instance's cache off at once); [`AccessFeed::sync`] sends
//! one on demand through the ordinary pool. Postgres delivers notifications in commit
//! order, so when the listener receives its own heartbeat every change committed before the
//! heartbeat was sent has been received before it; the feed then calls
//! [`AccessChanges::alive`] with the send time. When nothing arrives for [`STALL`] (the
//! heartbeats stopped coming back) or the connection drops, the feed calls
//! [`AccessChanges::lost`] and reconnects. SQLite has no notifications: there is no feed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entitlements::UserId;
use entitlements::ports::{AccessChanges, AccessSync, EntitlementStoreError};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use sqlx::postgres::{PgListener, PgPoolOptions};

/// How often a heartbeat is sent.
pub const HEARTBEAT: Duration = Duration::from_millis(200);
/// Nothing received for this long (not even a heartbeat): the feed is treated as lost.
pub const STALL: Duration = Duration::from_millis(1_500);

/// What one notification says.
#[derive(Debug, PartialEq, Eq)]
enum Told {
    Changed(i64),
    Alive { nonce: String, nanos: u64 },
    Unknown,
}

fn parse(payload: &str) -> Told {
    if let Some(id) = payload.strip_prefix("a:") {
        return id.parse().map_or(Told::Unknown, Told::Changed);
    }
    if let Some(rest) = payload.strip_prefix("alive:")
        && let Some((nonce, nanos)) = rest.split_once(':')
        && let Ok(nanos) = nanos.parse()
    {
        return Told::Alive {
            nonce: nonce.to_owned(),
            nanos,
        };
    }
    Told::Unknown
}

/// Sends this process's heartbeats.
struct Heartbeats {
    db: DatabaseConnection,
    nonce: String,
    epoch: Instant,
}

impl Heartbeats {
    /// A heartbeat sent now: its send time and its payload.
    fn beat(&self) -> (Instant, String) {
        let sent = Instant::now();
        let nanos = sent.duration_since(self.epoch).as_nanos();
        (sent, format!("alive:{}:{nanos}", self.nonce))
    }
}

#[async_trait]
impl AccessSync for Heartbeats {
    async fn sync(&self) -> Result<Instant, EntitlementStoreError> {
        let (sent, payload) = self.beat();
        let sql = format!("SELECT pg_notify('{}', '{payload}')", migrations::ACCESS_CHANNEL);
        self.db
            .execute_unprepared(&sql)
            .await
            .map_err(|e| EntitlementStoreError(e.to_string()))?;
        Ok(sent)
    }
}

/// A running feed; stops when dropped.
pub struct AccessFeed {
    listener: tokio::task::JoinHandle<()>,
    heartbeat: tokio::task::JoinHandle<()>,
    beats: Arc<Heartbeats>,
}

impl std::fmt::Debug for AccessFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessFeed").finish_non_exhaustive()
    }
}

impl Drop for AccessFeed {
    fn drop(&mut self) {
        self.listener.abort();
        self.heartbeat.abort();
    }
}

impl AccessFeed {
    /// Heartbeats on demand: read-your-writes for the process that made a change.
    #[must_use]
    pub fn sync(&self) -> Arc<dyn AccessSync> {
        self.beats.clone()
    }

    /// Starts telling `sink` about access changes in `db`; `None` on SQLite (no
    /// notifications there: `sink` is never told it is alive, so it must not trust a cache).
    /// Must be called inside a tokio runtime.
    #[must_use]
    pub fn start(db: &DatabaseConnection, sink: Arc<dyn AccessChanges>) -> Option<Self> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool().clone();
        let epoch = Instant::now();
        let nonce = accounts::SecretToken::generate("").digest()[..16].to_owned();
        let channel = migrations::ACCESS_CHANNEL;
        let beats = Arc::new(Heartbeats {
            db: db.clone(),
            nonce: nonce.clone(),
            epoch,
        });
        let beating = Arc::clone(&beats);
        let own = PgPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(HEARTBEAT)
            .connect_lazy_with((*pool.connect_options()).clone());
        let heartbeat = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (_, payload) = beating.beat();
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel)
                    .bind(payload)
                    .execute(&own)
                    .await;
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "access feed heartbeat not sent");
                }
            }
        });
        let listener = tokio::spawn(async move {
            loop {
                // A connection of its own, outside the request pool, with the same options.
                let options = (*pool.connect_options()).clone();
                let connected = async {
                    let own = PgPoolOptions::new()
                        .max_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .connect_with(options)
                        .await?;
                    let mut l = PgListener::connect_with(&own).await?;
                    l.listen(channel).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                let mut listener = match connected.await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "access feed cannot listen; caches stay off until it can");
                        sink.lost();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                tracing::debug!("access feed listening");
                loop {
                    match tokio::time::timeout(STALL, listener.try_recv()).await {
                        Ok(Ok(Some(n))) => match parse(n.payload()) {
                            Told::Changed(id) => sink.changed(UserId(id)),
                            Told::Alive { nonce: from, nanos } if from == nonce => {
                                sink.alive(epoch + Duration::from_nanos(nanos));
                            }
                            Told::Alive { .. } | Told::Unknown => {}
                        },
                        Ok(Ok(None)) => {
                            tracing::warn!("access feed connection lost; reconnected, caches cleared");
                            sink.lost();
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "access feed failed; caches cleared, reconnecting");
                            sink.lost();
                            break;
                        }
                        Err(_) => {
                            tracing::warn!("access feed heard nothing for {STALL:?}; caches cleared, reconnecting");
                            sink.lost();
                            break;
                        }
                    }
                }
            }
        });
        Some(Self {
            listener,
            heartbeat,
            beats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_read_strictly() {
        assert_eq!(parse("a:42"), Told::Changed(42));
        assert_eq!(
            parse("alive:abc:17"),
            Told::Alive {
                nonce: "abc".into(),
                nanos: 17
            }
        );
        for bad in ["a:", "a:x", "alive:abc", "alive:abc:-1", "o:3", ""] {
            assert_eq!(parse(bad), Told::Unknown, "{bad}");
        }
    }
}
