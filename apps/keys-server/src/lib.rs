//! keys-server: wires [`infra::Settings`] to the adapters and the [`web`] routes.
//!
//! [`Application::build`] does all start-up work (database, migrations, optional ingestion of
//! `keys-assets/`, the first catalog snapshot, binding the port) so tests can start the real
//! server on port 0 exactly as `main` does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use infra::{Infra, Services, Settings};
use ingest::{IngestOptions, NoProgress};
use poem::listener::{Acceptor, AcceptorExt, Listener, TcpListener};
use web::{AccessPart, AppState, CatalogCache, CatalogPart, DiscoveryPart, IdentityPart, ResponseCache, ShopPart};

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
    /// The services could not be built.
    #[error(transparent)]
    Services(#[from] infra::ServicesError),
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}; is another process using it? pick another with --bind")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The metrics listener could not bind.
    #[error("cannot listen on {addr} for metrics: {source}; pick another with metrics.bind (KEYS__METRICS__BIND)")]
    MetricsBind {
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
    mailer: Option<tokio::task::JoinHandle<()>>,
    stop_worker: tokio::sync::watch::Sender<bool>,
    purger: tokio::task::JoinHandle<()>,
    metrics: Option<infra::metrics::MetricsServer>,
    signal_buffer: Arc<infra::signals::BufferedSignals>,
    /// Keeps this instance's access cache told of changes (Postgres); stops when dropped.
    access_feed: Option<infra::AccessFeed>,
    grace: Duration,
    drain: Duration,
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
        let public_url = settings.public_url(addr);
        let services = Services::build(&infra, settings, &public_url).await?;
        let trusted = settings
            .trusted_proxies()
            .map_err(|e| StartError::Services(infra::ServicesError::Setting(format!("server.trusted_proxies: {e}"))))?;

        // The local payment mode applies its own events unless told otherwise.
        let run_worker = settings.worker.in_server.unwrap_or(services.payments.local.is_some());
        let (stop_worker, worker_rx) = tokio::sync::watch::channel(false);
        // Mail leaves with the worker: the process that applies events also sends the notices
        // they queued (and those of password resets).
        let mailer = if run_worker {
            let delivery =
                infra::mailer::delivery(&infra, settings, &public_url, &infra::mailer::worker_name("server"))?;
            Some(tokio::spawn(infra::mailer::run_mailer(
                delivery,
                infra.clock.clone(),
                Duration::from_millis(settings.worker.poll_ms.max(1)),
                worker_rx.clone(),
            )))
        } else {
            None
        };
        let purger = services
            .housekeeping(settings)
            .spawn(infra.clock.clone(), Duration::from_secs(3_600));
        let inbox = services.inbox.clone();
        let signal_buffer = services.signal_buffer.clone();
        let access_cache = Arc::new(web::AccessCache::new(settings.auth.access_cache_entries));
        let access_feed = if settings.auth.access_cache_entries > 0 {
            infra.watch_access(access_cache.clone())
        } else {
            None
        };
        let http = web::HttpPolicy::new(
            &public_url,
            settings.secure_cookies(addr),
            trusted,
            &services.payments.redirect_origins,
        );
        let state = app_state(
            &infra,
            services,
            Arc::clone(&catalog),
            settings,
            http,
            access_cache,
            access_feed.as_ref().map(infra::AccessFeed::sync),
        );
        let http_metrics = Arc::clone(&state.http.metrics);
        let metrics = Arc::new(
            infra::metrics::Metrics::new(infra.db.clone(), |r| http_metrics.register(r))
                .with_catalog_revision(move || u64::try_from(catalog.snapshot().revision()).unwrap_or(0)),
        );
        let worker = run_worker.then(|| {
            tokio::spawn(infra::worker::run_worker(
                inbox,
                infra.clock.clone(),
                settings.worker.clone(),
                worker_rx.clone(),
                metrics.applied(),
            ))
        });
        let metrics = match settings.metrics_addr() {
            Some(at) => Some(
                infra::metrics::MetricsServer::start(
                    at,
                    metrics,
                    infra.clock.clone(),
                    settings.metrics.token.clone(),
                    worker_rx,
                )
                .await
                .map_err(|source| StartError::MetricsBind { addr: at, source })?,
            ),
            None => None,
        };
        Ok(Self {
            addr,
            acceptor: acceptor.boxed(),
            state,
            refresher,
            worker,
            mailer,
            stop_worker,
            purger,
            metrics,
            signal_buffer,
            access_feed,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            drain: Duration::from_millis(settings.server.shutdown_drain_ms),
        })
    }

    /// The bound address (the real port when 0 was asked).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's address, when `metrics.bind` is set.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(infra::metrics::MetricsServer::addr)
    }

    /// Serves until `shutdown` resolves; then, for `server.shutdown_drain_ms`, keeps serving
    /// while `/readyz` answers 503 (the proxy moves traffic away), closes the listener and lets
    /// the requests under way finish (up to `server.shutdown_grace_secs`).
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let draining = Arc::clone(&self.state.http.draining);
        let drain = self.drain;
        let shutdown = async move {
            shutdown.await;
            if !drain.is_zero() {
                tracing::info!(drain_ms = %drain.as_millis(), "shutting down: /readyz answers 503 while still serving");
                draining.store(true, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(drain).await;
            }
            tracing::info!("closing the listener; finishing requests under way");
        };
        let result = poem::Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(web::app(self.state), shutdown, Some(self.grace))
            .await;
        self.refresher.abort();
        self.purger.abort();
        drop(self.access_feed);
        if let Err(e) = self.signal_buffer.flush().await {
            tracing::warn!(error = %e, "discovery signals of the last moments not written");
        }
        let _ = self.stop_worker.send(true);
        if let Some(w) = self.worker {
            let _ = w.await;
        }
        if let Some(m) = self.mailer {
            let _ = m.await;
        }
        if let Some(m) = self.metrics {
            m.join().await;
        }
        result
    }
}

/// The web layer's state, grouped by bounded context, from the services.
fn app_state(
    infra: &Infra,
    services: Services,
    catalog: Arc<CatalogCache>,
    settings: &Settings,
    http: web::HttpPolicy,
    access_cache: Arc<web::AccessCache>,
    access_sync: Option<Arc<dyn infra::AccessSync>>,
) -> AppState {
    AppState {
        catalog: CatalogPart {
            repo: infra.catalog.clone(),
            cache: catalog,
            responses: Arc::new(ResponseCache::new(settings.catalog.response_cache_entries)),
        },
        identity: IdentityPart {
            accounts: services.accounts,
            tokens: services.tokens,
            orgs: services.orgs,
        },
        access: AccessPart {
            entitlements: services.entitlements,
            archives: infra.archives.clone(),
            downloads: services.downloads,
            links: services.links,
            cache: access_cache,
            sync: access_sync,
        },
        shop: ShopPart {
            commerce: services.commerce,
            checkout: services.checkout,
            local: services.payments.local,
            inbox: services.inbox,
            webhook_secrets: services.webhook_secrets,
        },
        discovery: DiscoveryPart {
            signals: services.signals,
            retention_days: settings.discovery.retention_days,
        },
        clock: infra.clock.clone(),
        http,
        site: web::SiteInfo::new(
            &settings.site.company_name,
            &settings.site.support_email,
            settings.stripe.grace_days,
        ),
    }
}

pub use infra::shutdown_signal;

/// The operator's admin-role commands (`keys-server admin grant|revoke|list`).
pub mod admin {
    use std::sync::Arc;

    use accounts::ports::AdminChange;
    use infra::{Infra, Settings};

    /// What to do.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum AdminCommand {
        /// Give an existing account the admin role.
        Grant(String),
        /// Take it away.
        Revoke(String),
        /// List the admins.
        List,
        /// Confirm an account's email without the mailed link.
        Verify(String),
    }

    /// Why an admin command failed.
    #[derive(Debug, thiserror::Error)]
    pub enum AdminError {
        /// The database could not be opened.
        #[error(transparent)]
        Infra(#[from] infra::InfraError),
        /// The account service could not start.
        #[error("accounts could not start: {0}")]
        Accounts(#[from] accounts::HashError),
        /// Bad email or no such account.
        #[error(transparent)]
        Role(#[from] accounts::AdminRoleError),
        /// Storage failed.
        #[error(transparent)]
        Store(#[from] accounts::ports::AccountStoreError),
    }

    /// Who runs the command: `$SUDO_USER`, else `$USER`, else `operator`.
    #[must_use]
    pub fn operator() -> String {
        ["SUDO_USER", "USER"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| "operator".to_owned())
    }

    /// Runs an admin command against the configured database (migrating it first); returns
    /// the lines to print. Every change writes an operator audit line in the database, and the
    /// returned text (and the log) says it too.
    ///
    /// # Errors
    /// [`AdminError`] saying what failed.
    pub async fn run(settings: &Settings, command: &AdminCommand, actor: &str) -> Result<Vec<String>, AdminError> {
        let infra = Infra::connect(settings).await?;
        let (accounts, _, _) = infra::services::identity(
            &infra,
            Arc::new(accounts::InlineHasher),
            accounts::AccountPolicy::default(),
        )?;
        let now = infra.clock.now();
        let change = |grant: bool, email: &str| {
            let accounts = accounts.clone();
            let email = email.to_owned();
            async move { accounts.set_admin(&email, grant, actor, now).await }
        };
        let lines = match command {
            AdminCommand::Grant(email) | AdminCommand::Revoke(email) => {
                let grant = matches!(command, AdminCommand::Grant(_));
                let action = if grant { "admin_grant" } else { "admin_revoke" };
                match change(grant, email).await? {
                    AdminChange::Changed(a) => {
                        tracing::info!(action, account = a.id.0, email = %a.email, actor, "operator audit");
                        vec![format!(
                            "audit: {action} {} (account {}) by {actor} at {}",
                            a.email,
                            a.id.0,
                            now.to_rfc3339()
                        )]
                    }
                    AdminChange::Unchanged(a) => vec![format!(
                        "unchanged: {} (account {}) {} an admin",
                        a.email,
                        a.id.0,
                        if a.admin { "is already" } else { "is not" }
                    )],
                    AdminChange::NoSuchAccount => Vec::new(),
                }
            }
            AdminCommand::Verify(email) => {
                let (a, changed) = accounts.confirm_email_by_operator(email, now).await?;
                if changed {
                    tracing::info!(action = "email_verify", account = a.id.0, email = %a.email, actor, "operator audit");
                    vec![format!(
                        "audit: email_verify {} (account {}) by {actor} at {}",
                        a.email,
                        a.id.0,
                        now.to_rfc3339()
                    )]
                } else {
                    vec![format!(
                        "unchanged: {} (account {}) is already confirmed",
                        a.email, a.id.0
                    )]
                }
            }
            AdminCommand::List => {
                let admins = accounts.admins().await?;
                if admins.is_empty() {
                    vec!["no admins: grant one with `keys-server admin grant EMAIL`".to_owned()]
                } else {
                    admins
                        .iter()
                        .map(|a| format!("{}\taccount {}", a.email, a.id.0))
                        .collect()
                }
            }
        };
        Ok(lines)
    }
}
