//! The composition root: every port and application service the apps run on, built from
//! [`Settings`] over the adapters of [`Infra`]. The apps only choose what to run.

use std::sync::Arc;

use accounts::ports::TokenRepository;
use discovery::SignalRepository;
use entitlements::DownloadLinks;
use entitlements::ports::{DownloadLog, EntitlementRepository};
use payments::checkout::CheckoutService;
use payments::ports::{InboxRepository, PaymentGateway};
use payments_local::LocalGateway;
use upgrades::ports::OrderRepository;
use upgrades::service::Commerce;

use crate::housekeeping::Housekeeping;
use crate::{Infra, PaymentsMode, Settings};

/// Why the services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// The account service refused its settings.
    #[error("accounts could not start: {0}")]
    Accounts(#[from] accounts::HashError),
    /// A secret shared by every instance could not be read or created.
    #[error("the shared {what} could not be read or stored: {source}; check the database")]
    SharedSecret {
        /// Which secret.
        what: &'static str,
        /// Cause.
        source: sea_orm::DbErr,
    },
    /// The Stripe client could not be built.
    #[error("Stripe client: {0}; check stripe.secret_key and stripe.api_base")]
    Stripe(String),
    /// A setting is invalid.
    #[error("{0}")]
    Setting(String),
}

/// The payment provider chosen by the settings.
#[derive(Clone)]
pub struct PaymentParts {
    /// Stripe, or the local gateway.
    pub gateway: Arc<dyn PaymentGateway>,
    /// The local gateway (local payment mode only): its pages act on it.
    pub local: Option<Arc<LocalGateway>>,
    /// Origins forms may be redirected to (the provider's checkout and portal).
    pub redirect_origins: Vec<String>,
}

/// Accounts, sessions, tokens and organisations over the SQL store.
///
/// # Errors
/// [`accounts::HashError`] when the policy is refused.
pub fn identity(
    infra: &Infra,
    hasher: Arc<dyn accounts::PasswordHashing>,
    policy: accounts::AccountPolicy,
) -> Result<(accounts::AccountService, Arc<dyn TokenRepository>, accounts::OrgService), accounts::HashError> {
    let store = Arc::new(storage_sql::SqlAccountStore::new(infra.db.clone()));
    let tokens: Arc<dyn TokenRepository> = store.clone();
    let orgs = accounts::OrgService::new(store.clone());
    let accounts = accounts::AccountService::new(store.clone(), store.clone(), store, hasher, policy)?
        .with_password_resets(Arc::new(storage_sql::SqlPasswordResets::new(infra.db.clone())))
        .with_email_verification(Arc::new(storage_sql::SqlEmailVerifications::new(infra.db.clone())));
    Ok((accounts, tokens, orgs))
}

/// The webhook inbox (the worker's and the intake's), with the settings' grace and retries.
#[must_use]
pub fn inbox(infra: &Infra, settings: &Settings) -> Arc<dyn InboxRepository> {
    Arc::new(storage_sql::payments::SqlInbox::new(
        infra.db.clone(),
        payments::apply::Policy {
            grace: chrono::Duration::days(settings.stripe.grace_days),
        },
        settings.worker.max_attempts,
    ))
}

async fn shared_secret(infra: &Infra, what: &'static str, fresh: &str) -> Result<String, ServicesError> {
    storage_sql::downloads::shared_secret(&infra.db, what, fresh)
        .await
        .map_err(|source| ServicesError::SharedSecret { what, source })
}

/// Everything the server runs on.
#[derive(Clone)]
pub struct Services {
    /// Accounts and sessions.
    pub accounts: accounts::AccountService,
    /// API tokens.
    pub tokens: Arc<dyn TokenRepository>,
    /// Organisations.
    pub orgs: accounts::OrgService,
    /// Orders.
    pub orders: Arc<dyn OrderRepository>,
    /// Entitlements.
    pub entitlements: Arc<dyn EntitlementRepository>,
    /// Quotes, orders, refunds.
    pub commerce: Commerce,
    /// The checkout workflow.
    pub checkout: CheckoutService,
    /// The payment provider.
    pub payments: PaymentParts,
    /// The webhook inbox.
    pub inbox: Arc<dyn InboxRepository>,
    /// Webhook signing secrets (any verifies; the first signs local events).
    pub webhook_secrets: Arc<Vec<String>>,
    /// Discovery signals and profiles (recording buffered off the request path).
    pub signals: Arc<dyn SignalRepository>,
    /// The same, for writing the buffer at shutdown.
    pub signal_buffer: Arc<crate::signals::BufferedSignals>,
    /// The download record.
    pub downloads: Arc<dyn DownloadLog>,
    /// Download links (the key shared by every instance through the database).
    pub links: DownloadLinks,
}

impl Services {
    /// Builds every service for a server reached at `public_url`.
    ///
    /// # Errors
    /// [`ServicesError`] saying what failed and what to check.
    pub async fn build(infra: &Infra, settings: &Settings, public_url: &str) -> Result<Self, ServicesError> {
        let (accounts, tokens, orgs) = identity(infra, Arc::new(settings.auth.hasher()), settings.auth.policy())?;
        let signal_buffer =
            crate::signals::BufferedSignals::start(Arc::new(storage_sql::SqlSignalRepository::new(infra.db.clone())));
        let fresh = accounts::SecretToken::generate("").expose().to_owned();
        let link_key = shared_secret(infra, "download_link_key", &fresh).await?;
        let links = DownloadLinks::new(
            link_key.into_bytes(),
            std::time::Duration::from_secs(settings.downloads.link_ttl_secs),
        );
        let orders: Arc<dyn OrderRepository> = Arc::new(storage_sql::SqlOrderRepository::new(infra.db.clone()));
        let entitlements: Arc<dyn EntitlementRepository> =
            Arc::new(storage_sql::SqlEntitlementRepository::new(infra.db.clone()));
        let inbox = inbox(infra, settings);
        let mut secrets = settings.stripe.secrets();
        if secrets.is_empty() {
            // Local mode without configured secrets: one generated secret shared by every
            // instance through the database.
            let fresh = format!("whsec_local_{}", accounts::SecretToken::generate("").digest());
            secrets.push(shared_secret(infra, "local_webhook_secret", &fresh).await?);
        }
        let webhook_secrets = Arc::new(secrets);
        let payments = match (settings.payments_mode(), settings.stripe.secret_key.as_ref()) {
            (PaymentsMode::Stripe, Some(key)) => {
                use secrecy::ExposeSecret as _;
                let g = stripe_gateway::StripeGateway::new(key.expose_secret(), settings.stripe.api_base.as_deref())
                    .map_err(|e| ServicesError::Stripe(e.to_string()))?;
                PaymentParts {
                    gateway: Arc::new(g),
                    local: None,
                    redirect_origins: settings.stripe.redirect_origins(),
                }
            }
            _ => {
                let g = Arc::new(LocalGateway::new(
                    inbox.clone(),
                    orders.clone(),
                    webhook_secrets.clone(),
                    infra.clock.clone(),
                ));
                tracing::warn!("payments run in LOCAL TEST MODE: no real money moves");
                PaymentParts {
                    gateway: g.clone(),
                    local: Some(g),
                    redirect_origins: Vec::new(),
                }
            }
        };
        let commerce = Commerce::new(orders.clone(), entitlements.clone());
        let checkout = CheckoutService::new(commerce.clone(), orders.clone(), payments.gateway.clone(), public_url);
        Ok(Self {
            accounts,
            tokens,
            orgs,
            orders,
            entitlements,
            commerce,
            checkout,
            payments,
            inbox,
            webhook_secrets,
            signals: signal_buffer.clone(),
            signal_buffer,
            downloads: Arc::new(storage_sql::downloads::SqlDownloadLog::new(infra.db.clone())),
            links,
        })
    }

    /// The hourly housekeeping over these services.
    #[must_use]
    pub fn housekeeping(&self, settings: &Settings) -> Housekeeping {
        Housekeeping {
            accounts: self.accounts.clone(),
            signals: self.signals.clone(),
            orders: self.orders.clone(),
            retention_days: settings.discovery.retention_days,
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    // The handlers are registered now, not when the future is first polled: a SIGTERM that
    // arrives between start-up and the server's first poll of this future must not kill the
    // process with the default action.
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {},
                () = wait(int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing what is in flight");
    }
}
