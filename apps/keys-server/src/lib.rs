//! keys-server: wires [`infra::Settings`] to the adapters and the [`web`] routes.
//!
//! [`Application::build`] does all start-up work (database, migrations, optional ingestion of
//! `keys-assets/`, the first catalog snapshot, binding the port) so tests can start the real
//! server on port 0 exactly as `main` does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use infra::{Infra, Settings};
use ingest::{IngestOptions, NoProgress};
use poem::listener::{Acceptor, AcceptorExt, Listener, TcpListener};
use web::{AppState, CatalogCache, ResponseCache};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database or object store.
    #[error(transparent)]
    Infra(#[from] infra::InfraError),
    /// Start-up ingestion could not run.
    #[error("ingesting {path} on start failed: {source}; fix the assets directory or set KEYS__INGEST__ON_START=false")]
    Ingest {
        /// Assets directory.
        path: String,
        /// Cause.
        source: ingest::IngestError,
    },
    /// The catalog could not be read.
    #[error("cannot load the catalog: {0}")]
    Catalog(#[from] catalog::StorageError),
    /// The account service could not start.
    #[error("accounts could not start: {0}")]
    Accounts(String),
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}; is another process using it? pick another with --bind")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// A started (bound) server.
pub struct Application {
    addr: SocketAddr,
    acceptor: poem::listener::BoxAcceptor,
    state: AppState,
    refresher: tokio::task::JoinHandle<()>,
    worker: Option<tokio::task::JoinHandle<infra::worker::WorkerStats>>,
    stop_worker: tokio::sync::watch::Sender<bool>,
    purger: tokio::task::JoinHandle<()>,
    grace: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("addr", &self.addr).finish()
    }
}

impl Application {
    /// Connects, migrates, ingests (when `ingest.on_start`), loads the catalog and binds.
    ///
    /// # Errors
    /// [`StartError`] saying what failed and what to do.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let infra = Infra::connect(settings).await?;
        if settings.ingest.on_start {
            let assets = &settings.ingest.assets_dir;
            let options = IngestOptions {
                dry_run: false,
                limits: settings.ingest_limits(),
                concurrency: settings.ingest.concurrency,
            };
            let report = infra
                .ingestor()
                .run(assets, options, &NoProgress)
                .await
                .map_err(|source| StartError::Ingest {
                    path: assets.display().to_string(),
                    source,
                })?;
            tracing::info!(
                added = report.added,
                updated = report.updated,
                unchanged = report.unchanged,
                rejected = report.rejected,
                "ingested {}",
                assets.display()
            );
            for k in report.keys.iter().filter(|k| !k.errors.is_empty()) {
                for e in &k.errors {
                    tracing::warn!(slug = %k.slug, "rejected: {e}");
                }
            }
        }
        let catalog = Arc::new(CatalogCache::load(infra.catalog.clone()).await?);
        let refresher =
            Arc::clone(&catalog).spawn_refresher(Duration::from_millis(settings.catalog.refresh_interval_ms));
        let responses = Arc::new(ResponseCache::new(settings.catalog.response_cache_entries));
        let store = Arc::new(storage_sql::SqlAccountStore::new(infra.db.clone()));
        let tokens: Arc<dyn accounts::ports::TokenRepository> = store.clone();
        let orgs: Arc<dyn accounts::ports::OrgRepository> = store.clone();
        let accounts =
            accounts::AccountService::new(store.clone(), store.clone(), store, accounts::AccountPolicy::default())
                .map_err(|e| StartError::Accounts(e.to_string()))?;
        let fresh = accounts::SecretToken::generate("").expose().to_owned();
        let link_key = storage_sql::downloads::shared_secret(&infra.db, "download_link_key", &fresh)
            .await
            .map_err(|e| StartError::Accounts(format!("download signing key: {e}")))?;
        let bind = settings.bind_addr();
        let acceptor = TcpListener::bind(bind)
            .into_acceptor()
            .await
            .map_err(|source| StartError::Bind { addr: bind, source })?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(bind);

        // Payments: Stripe when a key is configured, else the local payment mode.
        let orders: Arc<dyn upgrades::ports::OrderRepository> =
            Arc::new(storage_sql::SqlOrderRepository::new(infra.db.clone()));
        let policy = payments::apply::Policy {
            grace: chrono::Duration::days(settings.stripe.grace_days),
        };
        let inbox: Arc<dyn payments::ports::InboxRepository> = Arc::new(storage_sql::payments::SqlInbox::new(
            infra.db.clone(),
            policy,
            settings.worker.max_attempts,
        ));
        let mut secrets = settings.stripe.secrets();
        if secrets.is_empty() {
            // Local mode without configured secrets: one generated secret shared by every
            // instance through the database.
            let fresh = format!("whsec_local_{}", accounts::SecretToken::generate("").digest());
            let shared = storage_sql::downloads::shared_secret(&infra.db, "local_webhook_secret", &fresh)
                .await
                .map_err(|e| StartError::Accounts(format!("local webhook secret: {e}")))?;
            secrets.push(shared);
        }
        let secrets = Arc::new(secrets);
        let (gateway, local): (
            Arc<dyn payments::ports::PaymentGateway>,
            Option<Arc<web::checkout::LocalGateway>>,
        ) = if let Some(key) = settings
            .stripe
            .secret_key
            .as_ref()
            .filter(|_| settings.stripe.is_stripe())
        {
            use secrecy::ExposeSecret as _;
            let g = stripe_gateway::StripeGateway::new(key.expose_secret(), settings.stripe.api_base.as_deref())
                .map_err(|e| StartError::Accounts(format!("Stripe client: {e}")))?;
            (Arc::new(g), None)
        } else {
            let g = Arc::new(web::checkout::LocalGateway::new(
                inbox.clone(),
                orders.clone(),
                secrets.clone(),
                infra.clock.clone(),
            ));
            tracing::warn!("payments run in LOCAL TEST MODE (no Stripe key): no real money moves");
            (g.clone(), Some(g))
        };
        let public_url = settings
            .stripe
            .public_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("http://{addr}"));
        let run_worker = settings.worker.in_server.unwrap_or(local.is_some());
        let (stop_worker, worker_rx) = tokio::sync::watch::channel(false);
        let worker = run_worker.then(|| {
            tokio::spawn(infra::worker::run_worker(
                inbox.clone(),
                infra.clock.clone(),
                settings.worker.clone(),
                worker_rx,
            ))
        });

        // Hourly housekeeping, idempotent so every instance can run it: discovery signals past
        // their retention are deleted, and local-mode checkouts left unfinished for a day are
        // cancelled, releasing the credit they reserved (Stripe expires its own
        // Checkout Sessions after 24 hours and tells us with `checkout.session.expired`).
        let signals: Arc<dyn discovery::SignalRepository> =
            Arc::new(storage_sql::SqlSignalRepository::new(infra.db.clone()));
        let retention = chrono::Duration::days(settings.discovery.retention_days);
        let purger = {
            let signals = signals.clone();
            let clock = infra.clock.clone();
            // Local checkouts expire in Stripe mode too: after a switch to Stripe they can no
            // longer be paid, and they must not keep their credit reserved.
            let orders = orders.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(3_600));
                loop {
                    tick.tick().await;
                    match signals.purge(clock.now() - retention).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "old discovery signals deleted"),
                        Err(e) => tracing::warn!(error = %e, "signal retention purge failed"),
                    }
                    let cutoff = clock.now() - web::checkout::LOCAL_CHECKOUT_LIFETIME;
                    match orders.expire_pending(upgrades::ports::Channel::Local, cutoff).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(cancelled = n, "unfinished local checkouts expired"),
                        Err(e) => tracing::warn!(error = %e, "expiring unfinished local checkouts failed"),
                    }
                }
            })
        };

        let state = AppState {
            repo: infra.catalog.clone(),
            catalog,
            responses,
            accounts,
            tokens,
            orgs,
            clock: infra.clock.clone(),
            secure_cookies: settings.server.secure_cookies.unwrap_or(!bind.ip().is_loopback()),
            entitlements: Arc::new(storage_sql::SqlEntitlementRepository::new(infra.db.clone())),
            admin_emails: Arc::new(settings.auth.admins()),
            archives: infra.archives.clone(),
            downloads: Arc::new(storage_sql::downloads::SqlDownloadLog::new(infra.db.clone())),
            link_key: Arc::new(link_key.into_bytes()),
            link_ttl: Duration::from_secs(settings.downloads.link_ttl_secs),
            commerce: upgrades::service::Commerce::new(
                orders,
                Arc::new(storage_sql::SqlEntitlementRepository::new(infra.db.clone())),
            ),
            gateway,
            local,
            inbox,
            webhook_secrets: secrets,
            public_url: Arc::new(public_url),
            signals: signals.clone(),
            signal_retention_days: settings.discovery.retention_days,
        };
        Ok(Self {
            addr,
            acceptor: acceptor.boxed(),
            state,
            refresher,
            worker,
            stop_worker,
            purger,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
        })
    }

    /// The bound address (the real port when 0 was asked).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to the grace
    /// period).
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let result = poem::Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(web::app(self.state), shutdown, Some(self.grace))
            .await;
        self.refresher.abort();
        self.purger.abort();
        let _ = self.stop_worker.send(true);
        if let Some(w) = self.worker {
            let _ = w.await;
        }
        result
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
