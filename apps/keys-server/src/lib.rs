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
        let orgs = accounts::OrgService::new(store.clone());
        let accounts = accounts::AccountService::new(
            store.clone(),
            store.clone(),
            store,
            Arc::new(settings.auth.hasher()),
            settings.auth.policy(),
        )
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

        // Payments: Stripe, or the local payment mode (an explicit choice off loopback; the
        // settings refuse to start otherwise).
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
        let (gateway, local, redirect_origins): (
            Arc<dyn payments::ports::PaymentGateway>,
            Option<Arc<web::checkout::LocalGateway>>,
            Vec<String>,
        ) = match (settings.payments_mode(), settings.stripe.secret_key.as_ref()) {
            (infra::PaymentsMode::Stripe, Some(key)) => {
                use secrecy::ExposeSecret as _;
                let g = stripe_gateway::StripeGateway::new(key.expose_secret(), settings.stripe.api_base.as_deref())
                    .map_err(|e| StartError::Accounts(format!("Stripe client: {e}")))?;
                (Arc::new(g), None, settings.stripe.redirect_origins())
            }
            _ => {
                let g = Arc::new(web::checkout::LocalGateway::new(
                    inbox.clone(),
                    orders.clone(),
                    secrets.clone(),
                    infra.clock.clone(),
                ));
                tracing::warn!("payments run in LOCAL TEST MODE: no real money moves");
                (g.clone(), Some(g), Vec::new())
            }
        };
        let public_url = settings.public_url(addr);
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

        let signals: Arc<dyn discovery::SignalRepository> =
            Arc::new(storage_sql::SqlSignalRepository::new(infra.db.clone()));
        let purger = infra::housekeeping::Housekeeping {
            accounts: accounts.clone(),
            signals: signals.clone(),
            orders: orders.clone(),
            retention_days: settings.discovery.retention_days,
        }
        .spawn(infra.clock.clone(), Duration::from_secs(3_600));

        let entitlements: Arc<dyn entitlements::ports::EntitlementRepository> =
            Arc::new(storage_sql::SqlEntitlementRepository::new(infra.db.clone()));
        let commerce = upgrades::service::Commerce::new(orders.clone(), entitlements.clone());
        let trusted = settings
            .trusted_proxies()
            .map_err(|e| StartError::Accounts(format!("server.trusted_proxies: {e}")))?;
        let state = AppState {
            repo: infra.catalog.clone(),
            catalog,
            responses,
            accounts,
            tokens,
            orgs,
            clock: infra.clock.clone(),
            http: web::HttpPolicy::new(&public_url, settings.secure_cookies(addr), trusted, &redirect_origins),
            entitlements,
            archives: infra.archives.clone(),
            downloads: Arc::new(storage_sql::downloads::SqlDownloadLog::new(infra.db.clone())),
            link_key: Arc::new(link_key.into_bytes()),
            link_ttl: Duration::from_secs(settings.downloads.link_ttl_secs),
            checkout: payments::checkout::CheckoutService::new(commerce.clone(), orders, gateway, &public_url),
            commerce,
            local,
            inbox,
            webhook_secrets: secrets,
            signals,
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
        let store = Arc::new(storage_sql::SqlAccountStore::new(infra.db.clone()));
        let accounts = accounts::AccountService::new(
            store.clone(),
            store.clone(),
            store,
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
