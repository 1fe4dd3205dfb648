//! `GET /metrics` in the Prometheus text format, on a listener of its own (`metrics.bind`),
//! optionally behind a bearer token (`metrics.token`). keys-server and keys-webhook-worker
//! serve the same families; each process counts what it does itself (requests, events
//! applied), and every scrape reads the shared state from the database (inbox and outbox by
//! state, the oldest pending event) and the pool, so any number of instances can be scraped.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::http::{StatusCode, header};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, handler};
use prometheus_client::encoding::text::encode;
pub use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::registry::Registry;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

/// One label: `state="pending"`.
type StateLabel = Vec<(String, String)>;

fn state(s: &str) -> StateLabel {
    vec![("state".to_owned(), s.to_owned())]
}

/// Inbox states that are always reported (0 when none).
const INBOX_STATES: [&str; 4] = ["pending", "done", "dead", "ignored"];
/// Outbox states that are always reported.
const OUTBOX_STATES: [&str; 3] = ["pending", "sent", "dead"];

/// The registry and the families this process reports.
pub struct Metrics {
    registry: Registry,
    db: DatabaseConnection,
    revision: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    up: Gauge,
    scrape_failures: Counter,
    pool: Family<StateLabel, Gauge>,
    pool_max: Gauge,
    inbox: Family<StateLabel, Gauge>,
    oldest_pending: Gauge,
    outbox: Family<StateLabel, Gauge>,
    catalog_revision: Gauge,
    applied: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The shared families, reading the database `db`; `extra` registers the process's own
    /// (the server's HTTP families).
    pub fn new(db: DatabaseConnection, extra: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::default();
        let m = Self {
            registry: Registry::default(),
            db,
            revision: None,
            up: Gauge::default(),
            scrape_failures: Counter::default(),
            pool: Family::default(),
            pool_max: Gauge::default(),
            inbox: Family::default(),
            oldest_pending: Gauge::default(),
            outbox: Family::default(),
            catalog_revision: Gauge::default(),
            applied: Counter::default(),
        };
        registry.register("keys_up", "1 while this process runs", m.up.clone());
        registry.register(
            "keys_metrics_scrape_failures",
            "Scrapes whose database reads failed (the database gauges then keep their last values)",
            m.scrape_failures.clone(),
        );
        registry.register(
            "keys_db_pool_connections",
            "Database connections of this process's pool by state (in_use, idle)",
            m.pool.clone(),
        );
        registry.register(
            "keys_db_pool_max_connections",
            "The pool's limit (database.max_connections)",
            m.pool_max.clone(),
        );
        registry.register(
            "keys_inbox_events",
            "Webhook inbox events by state (shared by every instance)",
            m.inbox.clone(),
        );
        registry.register(
            "keys_inbox_oldest_pending_age_seconds",
            "Age in whole seconds of the oldest event waiting to be applied (0 when none)",
            m.oldest_pending.clone(),
        );
        registry.register(
            "keys_inbox_applied",
            "Events applied by this process (rate() gives events applied per second)",
            m.applied.clone(),
        );
        registry.register(
            "keys_mail_outbox",
            "Outgoing mail by state (shared by every instance)",
            m.outbox.clone(),
        );
        registry.register(
            "keys_catalog_revision",
            "Catalog revision this process serves (keys-server)",
            m.catalog_revision.clone(),
        );
        extra(&mut registry);
        m.up.set(1);
        Self { registry, ..m }
    }

    /// Reports the catalog revision `f` gives at each scrape.
    #[must_use]
    pub fn with_catalog_revision(mut self, f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.revision = Some(Arc::new(f));
        self
    }

    /// The counter of events applied by this process (for the worker loop).
    #[must_use]
    pub fn applied(&self) -> Counter {
        self.applied.clone()
    }

    /// Reads the shared state and encodes every family.
    pub async fn render(&self, now: DateTime<Utc>) -> String {
        let pool = storage_sql::ops::pool_stats(&self.db);
        self.pool
            .get_or_create(&state("in_use"))
            .set(i64::from(pool.open.saturating_sub(pool.idle)));
        self.pool.get_or_create(&state("idle")).set(i64::from(pool.idle));
        self.pool_max.set(i64::from(pool.max));
        if let Some(f) = &self.revision {
            self.catalog_revision.set(i64::try_from(f()).unwrap_or(i64::MAX));
        }
        match storage_sql::ops::snapshot(&self.db).await {
            Ok(snap) => {
                for s in INBOX_STATES {
                    self.inbox.get_or_create(&state(s)).set(0);
                }
                for (s, n) in &snap.inbox {
                    self.inbox.get_or_create(&state(s)).set(*n);
                }
                for s in OUTBOX_STATES {
                    self.outbox.get_or_create(&state(s)).set(0);
                }
                for (s, n) in &snap.outbox {
                    self.outbox.get_or_create(&state(s)).set(*n);
                }
                let age = snap.oldest_pending.map_or(0, |t| (now - t).num_seconds().max(0));
                self.oldest_pending.set(age);
            }
            Err(e) => {
                self.scrape_failures.inc();
                tracing::warn!(error = %e, "metrics: database counts unavailable");
            }
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics: encoding failed");
        }
        out
    }
}

/// The metrics endpoint: `GET /metrics`, with `Authorization: Bearer <token>` when a token is
/// set (401 otherwise).
fn endpoint(metrics: Arc<Metrics>, clock: Arc<dyn catalog::Clock>, token: Option<SecretString>) -> impl Endpoint {
    #[derive(Clone)]
    struct Scrape {
        metrics: Arc<Metrics>,
        clock: Arc<dyn catalog::Clock>,
        token: Option<SecretString>,
    }
    #[handler]
    async fn scrape(req: &Request) -> Response {
        let Some(Scrape { metrics, clock, token }) = req.data::<Scrape>() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if let Some(token) = token {
            let sent = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let ok = sent.is_some_and(|s| constant_time_eq(s.as_bytes(), token.expose_secret().as_bytes()));
            if !ok {
                return Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header(header::WWW_AUTHENTICATE, "Bearer")
                    .body("metrics need `Authorization: Bearer <metrics.token>`\n");
            }
        }
        let body = metrics.render(clock.now()).await;
        Response::builder()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(body)
    }
    Route::new()
        .at("/metrics", poem::get(scrape))
        .data(Scrape { metrics, clock, token })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A bound metrics listener.
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` and serves `GET /metrics` until `stop` turns true.
    ///
    /// # Errors
    /// The listener could not bind (the address is in use or not local).
    pub async fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        clock: Arc<dyn catalog::Clock>,
        token: Option<SecretString>,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(addr).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(addr);
        let app = endpoint(metrics, clock, token);
        let task = tokio::spawn(async move {
            let stopped = async move {
                while !*stop.borrow() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                }
            };
            if let Err(e) = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, stopped, Some(std::time::Duration::from_secs(1)))
                .await
            {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
        Ok(Self { addr, task })
    }

    /// The bound address (the real port when 0 was asked).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the listener to stop (after `stop`).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}
