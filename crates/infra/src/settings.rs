//! Layered, validated settings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A setting is missing or wrong. The message names it (as a config key and as its
/// environment variable) and says what would be right.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The sources could not be read or parsed.
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    /// A value is not acceptable.
    #[error("invalid setting `{key}` (env KEYS__{env}): {reason}")]
    Invalid {
        /// Dotted key, e.g. `server.bind`.
        key: &'static str,
        /// Its environment variable without the `KEYS__` prefix.
        env: String,
        /// What is wrong and what would be right.
        reason: String,
    },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        env: key.replace('.', "__").to_uppercase(),
        reason: reason.into(),
    }
}

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded defaults keep their files (SQLite database, local objects).
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Object storage.
    pub storage: StorageSettings,
    /// Ingestion.
    pub ingest: IngestSettings,
    /// Catalog snapshot.
    pub catalog: CatalogSettings,
    /// Logging.
    pub log: LogSettings,
    /// Accounts.
    pub auth: AuthSettings,
    /// Downloads.
    pub downloads: DownloadSettings,
    /// Payments.
    pub stripe: StripeSettings,
    /// The webhook worker.
    pub worker: WorkerSettings,
    /// Discovery.
    pub discovery: DiscoverySettings,
    /// Which payment provider.
    #[serde(default)]
    pub payments: PaymentsSettings,
    /// Who runs the shop: the name and contact the legal pages, footer and receipts show.
    pub site: SiteSettings,
    /// Outgoing mail.
    pub email: EmailSettings,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsSettings,
}

/// `[metrics]`: `GET /metrics` in the Prometheus text format, on a listener of its own so the
/// public port never exposes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address of the metrics listener (`127.0.0.1:9464`, port 0 for any); unset: no metrics.
    pub bind: Option<String>,
    /// A bearer token scrapers must send (`Authorization: Bearer …`); unset: none (keep the
    /// listener on a private address then).
    pub token: Option<SecretString>,
}

/// `[email]`: how mail leaves the shop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// SMTP server, `smtp://host:port` (plain, for a local relay), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:password@host` (TLS). Unset: each message is written as an
    /// `.eml` file under `<data_dir>/mail/` and its path logged.
    pub smtp_url: Option<SecretString>,
    /// The sender, `Name <address>`.
    pub from: String,
}

/// `[site]`: who runs the shop. The legal pages (`/terms`, `/privacy`, `/refunds`, `/license`)
/// are templates filled with these; the operator adapts them and sets these two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSettings {
    /// The seller's legal name, as buyers see it ("Acme Tools Ltd").
    pub company_name: String,
    /// Where buyers write for help, refunds and privacy requests.
    pub support_email: String,
}

/// How payments are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentsMode {
    /// The embedded test mode: a local checkout page, no money moves.
    Local,
    /// Stripe (needs `stripe.secret_key` and `stripe.webhook_secrets`).
    Stripe,
}

/// `[payments]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsSettings {
    /// `local` or `stripe`. Unset: `stripe` when a Stripe key is configured; otherwise `local`
    /// only when the server is bound to a loopback address (a development machine), and a
    /// refusal to start anywhere else — a missing key must never make everything free.
    pub mode: Option<PaymentsMode>,
}

/// Discovery.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoverySettings {
    /// Days signals (views, choices) are kept before they are deleted.
    pub retention_days: i64,
}

/// Payments: Stripe, or the local payment mode when no secret key is set.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeSettings {
    /// Secret API key (`sk_…` or a restricted `rk_…`). Unset: local payment mode (test mode,
    /// no network).
    pub secret_key: Option<SecretString>,
    /// API base URL (tests point the client at a local fake). Default Stripe's.
    pub api_base: Option<String>,
    /// Webhook signing secrets, comma-separated, so secrets can rotate. Required with Stripe;
    /// in local mode, unset means one shared secret generated in the database.
    pub webhook_secrets: SecretString,
    /// Days a past-due subscription keeps access.
    pub grace_days: i64,
    /// Deprecated alias of `server.public_url` (still read when that is unset).
    pub public_url: Option<String>,
    /// Comma-separated origins a form post may be redirected to: Stripe's hosted Checkout and
    /// billing portal (the pages' CSP `form-action` lists them).
    pub redirect_origins: String,
}

impl StripeSettings {
    /// The configured webhook secrets.
    #[must_use]
    pub fn secrets(&self) -> Vec<String> {
        self.webhook_secrets
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The origins of [`StripeSettings::redirect_origins`].
    #[must_use]
    pub fn redirect_origins(&self) -> Vec<String> {
        self.redirect_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/'))
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Whether a Stripe key is configured.
    #[must_use]
    pub fn is_stripe(&self) -> bool {
        self.secret_key.as_ref().is_some_and(|k| !k.expose_secret().is_empty())
    }
}

/// The webhook worker.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// Run a worker inside keys-server (default: in local payment mode only).
    pub in_server: Option<bool>,
    /// Pause between polls when the inbox is empty, in milliseconds.
    pub poll_ms: u64,
    /// Failures before an event is parked as dead.
    pub max_attempts: i32,
    /// Seconds between grace-period sweeps.
    pub sweep_secs: u64,
    /// Events applied per transaction (each in its own savepoint).
    pub batch: usize,
}

/// `[downloads]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadSettings {
    /// Lifetime of a download link in seconds (1 to 300).
    pub link_ttl_secs: u64,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Removed: admins used to be whoever signed up first with a listed email. Admin is now a
    /// role stored in the database (`keys-server admin grant EMAIL`); a non-empty value stops
    /// the start with a message saying so.
    pub admin_emails: String,
    /// Sign-ups one client address may make per hour before it is slowed down.
    pub signups_per_hour: u32,
    /// Password hashes computed at once (default: one per core).
    pub hash_workers: Option<usize>,
    /// Password checks that may wait for a slot before sign-ins answer 503 (default: four per
    /// worker).
    pub hash_queue: Option<usize>,
    /// Sessions and holdings (each) a server keeps in memory while the database's access feed
    /// proves them current (Postgres only; 0 turns the cache off).
    pub access_cache_entries: usize,
}

impl AuthSettings {
    /// The account policy these settings give.
    #[must_use]
    pub fn policy(&self) -> accounts::AccountPolicy {
        let mut p = accounts::AccountPolicy::default();
        p.signups_per_address.free = self.signups_per_hour;
        p
    }

    /// The password hasher these settings give.
    #[must_use]
    pub fn hasher(&self) -> crate::BlockingHasher {
        let workers = self
            .hash_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get));
        crate::BlockingHasher::new(workers, self.hash_queue.unwrap_or(workers * 4))
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address, `127.0.0.1:8080` by default; port 0 picks a free port.
    pub bind: String,
    /// Seconds to finish in-flight requests on shutdown.
    pub shutdown_grace_secs: u64,
    /// On SIGTERM, how long to keep serving while `/readyz` answers 503 "shutting down" (and
    /// answers carry `Connection: close`), so the proxy's health check moves traffic away
    /// before the listener closes, in milliseconds. Set it above the proxy's check interval.
    pub shutdown_drain_ms: u64,
    /// Mark cookies `Secure` (and name them with the `__Host-` prefix); by default on exactly
    /// when `public_url` is `https://`.
    pub secure_cookies: Option<bool>,
    /// The URL buyers reach the shop at (`https://shop.example`): Stripe's success and cancel
    /// URLs, `Secure` cookies and HSTS when it is `https://`. Default `http://<bind>`.
    pub public_url: Option<String>,
    /// Comma-separated proxy addresses or networks (`10.0.0.0/8, 127.0.0.1`) whose
    /// `X-Forwarded-For` is believed; empty: the peer address is the client.
    pub trusted_proxies: String,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…`; empty means SQLite in the data dir.
    pub url: Option<SecretString>,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it fails (503), in
    /// milliseconds: while the database is unreachable, requests fail within this bound instead
    /// of hanging.
    pub acquire_timeout_ms: u64,
    /// On Postgres, how long one statement may run before the server cancels it, in
    /// milliseconds (0: no limit). Migrations at start-up are not limited.
    pub statement_timeout_ms: u64,
}

/// Which object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under `storage.local_dir` (default `<data_dir>/objects`).
    Local,
    /// An S3-compatible bucket (`[storage.s3]`).
    S3,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` or `s3`.
    pub backend: StorageBackend,
    /// Directory of the local store.
    pub local_dir: Option<PathBuf>,
    /// S3 settings, required when `backend = "s3"`.
    pub s3: Option<S3Settings>,
}

/// `[storage.s3]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Bucket.
    pub bucket: String,
    /// Region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint of an S3-compatible service.
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretString,
    /// Allow plain HTTP (loopback test servers only).
    #[serde(default)]
    pub allow_http: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// `[ingest]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// The `keys-assets/` directory.
    pub assets_dir: PathBuf,
    /// keys-server ingests the assets when it starts.
    pub on_start: bool,
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Largest version.
    pub max_version_bytes: u64,
    /// KEYS processed at once.
    pub concurrency: usize,
}

/// `[catalog]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    /// How often a server checks the catalog revision (milliseconds).
    pub refresh_interval_ms: u64,
    /// How many rendered anonymous catalog responses a server keeps (per revision).
    pub response_cache_entries: usize,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// tracing filter, e.g. `info,sqlx=warn`.
    pub filter: String,
}

const DEFAULTS: &str = r#"
data_dir = "data"

[server]
bind = "127.0.0.1:8080"
shutdown_grace_secs = 10
shutdown_drain_ms = 1000
trusted_proxies = ""

[database]
max_connections = 16
acquire_timeout_ms = 1500
statement_timeout_ms = 10000

[storage]
backend = "local"

[ingest]
assets_dir = "keys-assets"
on_start = true
max_file_bytes = 10485760
max_version_bytes = 104857600
concurrency = 4

[catalog]
refresh_interval_ms = 1000
response_cache_entries = 2048

[auth]
admin_emails = ""
signups_per_hour = 10
access_cache_entries = 100000

[downloads]
link_ttl_secs = 300

[stripe]
webhook_secrets = ""
grace_days = 7
redirect_origins = "https://checkout.stripe.com,https://billing.stripe.com"

[discovery]
retention_days = 180

[email]
from = "KEYS <no-reply@keys.localhost>"

[site]
company_name = "The KEYS marketplace operator"
support_email = "support@keys.localhost"

[worker]
poll_ms = 250
max_attempts = 8
sweep_secs = 60
batch = 32

[log]
format = "text"
filter = "info,sqlx=warn,sea_orm=warn"
"#;

impl Settings {
    /// Loads settings: defaults → `file` (when given; it must exist) → `KEYS__…` environment
    /// variables → `overrides` (`("server.bind", "127.0.0.1:0")`, from command-line flags).
    ///
    /// # Errors
    /// [`SettingsError`] naming the bad setting.
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Self, SettingsError> {
        let mut b = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(f) = file {
            b = b.add_source(File::from(f).format(FileFormat::Toml).required(true));
        }
        b = b.add_source(
            Environment::with_prefix("KEYS")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        for (k, v) in overrides {
            b = b.set_override(*k, v.clone())?;
        }
        let settings: Settings = b.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values serde cannot.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] for the first bad value.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.server.bind.parse::<SocketAddr>().map_err(|e| {
            invalid(
                "server.bind",
                format!("`{}` is not an address like 127.0.0.1:8080 ({e})", self.server.bind),
            )
        })?;
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            if !(url.is_empty()
                || url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(invalid(
                    "database.url",
                    "must start with postgres:// or sqlite: (or be empty for the embedded SQLite)",
                ));
            }
        }
        if !self.auth.admin_emails.trim().is_empty() {
            return Err(invalid(
                "auth.admin_emails",
                "is no longer supported: anyone could sign up with a listed address and become admin. \
                 Admin is now a role in the database: unset this setting, then run \
                 `keys-server admin grant EMAIL` (and `admin list` / `admin revoke EMAIL`) for an existing account",
            ));
        }
        for (key, url) in [
            ("server.public_url", self.server.public_url.as_deref()),
            ("stripe.public_url", self.stripe.public_url.as_deref()),
        ] {
            if let Some(url) = url.filter(|u| !u.is_empty())
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(key, format!("`{url}` must be an http:// or https:// URL")));
            }
        }
        for origin in self.stripe.redirect_origins() {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin[origin.find("//").unwrap_or(0) + 2..].contains('/')
                && origin
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != ';' && c != '\'' && c != '"');
            if !ok {
                return Err(invalid(
                    "stripe.redirect_origins",
                    format!("`{origin}` is not an origin like https://checkout.stripe.com"),
                ));
            }
        }
        if self.site.company_name.trim().is_empty() || self.site.company_name.chars().count() > 120 {
            return Err(invalid(
                "site.company_name",
                "must be the seller's name buyers see on the legal pages (1 to 120 characters)",
            ));
        }
        let email = self.site.support_email.trim();
        let plausible = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            })
            && email.chars().all(|c| c.is_ascii_graphic());
        if !plausible {
            return Err(invalid(
                "site.support_email",
                format!("`{email}` is not an email address buyers can write to, like support@example.com"),
            ));
        }
        if let Some(url) = &self.email.smtp_url {
            let url = url.expose_secret();
            if !(url.is_empty() || url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(invalid(
                    "email.smtp_url",
                    "must start with smtp:// or smtps:// (or be unset: mail is written to <data_dir>/mail/)",
                ));
            }
        }
        if !self.email.from.contains('@') {
            return Err(invalid(
                "email.from",
                format!(
                    "`{}` is not a sender like `KEYS <no-reply@example.com>`",
                    self.email.from
                ),
            ));
        }
        if self.auth.signups_per_hour == 0 {
            return Err(invalid("auth.signups_per_hour", "must be at least 1"));
        }
        if self.auth.hash_workers == Some(0) {
            return Err(invalid(
                "auth.hash_workers",
                "must be at least 1 (or unset: one per core)",
            ));
        }
        if let Err(e) = self.trusted_proxies() {
            return Err(invalid("server.trusted_proxies", e));
        }
        match (self.payments.mode, self.stripe.is_stripe()) {
            (Some(PaymentsMode::Local), true) => {
                return Err(invalid(
                    "payments.mode",
                    "is `local` but stripe.secret_key is set: choose one (unset KEYS__STRIPE__SECRET_KEY for the test mode, or set payments.mode = \"stripe\")",
                ));
            }
            (Some(PaymentsMode::Stripe), false) => {
                return Err(invalid(
                    "payments.mode",
                    "is `stripe` but stripe.secret_key (KEYS__STRIPE__SECRET_KEY) is not set",
                ));
            }
            (None, false) if !self.bind_addr().ip().is_loopback() => {
                return Err(invalid(
                    "payments.mode",
                    format!(
                        "no payment provider for a server bound to {}: set stripe.secret_key (KEYS__STRIPE__SECRET_KEY) \
                         and stripe.webhook_secrets (KEYS__STRIPE__WEBHOOK_SECRETS) to take payments, or choose the \
                         test mode where nothing is charged explicitly with payments.mode = \"local\" (KEYS__PAYMENTS__MODE=local)",
                        self.server.bind
                    ),
                ));
            }
            _ => {}
        }
        if self.stripe.is_stripe() {
            let key = self
                .stripe
                .secret_key
                .as_ref()
                .map(|k| k.expose_secret().to_owned())
                .unwrap_or_default();
            if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                return Err(invalid(
                    "stripe.secret_key",
                    "must be a Stripe secret key (sk_…) or restricted key (rk_…)",
                ));
            }
            if self.stripe.secrets().is_empty() {
                return Err(invalid(
                    "stripe.webhook_secrets",
                    "is required with a Stripe key: the endpoint's signing secret(s) (whsec_…), comma-separated",
                ));
            }
        }
        if let Some(base) = self.stripe.api_base.as_deref().filter(|b| !b.is_empty())
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            return Err(invalid(
                "stripe.api_base",
                format!("`{base}` must be an http:// or https:// URL"),
            ));
        }
        if !(0..=60).contains(&self.stripe.grace_days) {
            return Err(invalid("stripe.grace_days", "must be between 0 and 60"));
        }
        if !(1..=3650).contains(&self.discovery.retention_days) {
            return Err(invalid("discovery.retention_days", "must be between 1 and 3650"));
        }
        if self.worker.max_attempts < 1 {
            return Err(invalid("worker.max_attempts", "must be at least 1"));
        }
        if self.database.statement_timeout_ms != 0 && !(100..=3_600_000).contains(&self.database.statement_timeout_ms) {
            return Err(invalid(
                "database.statement_timeout_ms",
                "must be 0 (no limit) or between 100 and 3600000 milliseconds (10000 by default)",
            ));
        }
        if let Some(bind) = &self.metrics.bind
            && bind.parse::<SocketAddr>().is_err()
        {
            return Err(invalid(
                "metrics.bind",
                "must be an address with a port, like 127.0.0.1:9464",
            ));
        }
        if self
            .metrics
            .token
            .as_ref()
            .is_some_and(|t| t.expose_secret().trim().len() < 16)
        {
            return Err(invalid("metrics.token", "must be at least 16 characters"));
        }
        if !(100..=60_000).contains(&self.database.acquire_timeout_ms) {
            return Err(invalid(
                "database.acquire_timeout_ms",
                "must be between 100 and 60000 milliseconds (1500 by default)",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if self.storage.backend == StorageBackend::S3 {
            let Some(s3) = &self.storage.s3 else {
                return Err(invalid(
                    "storage.s3",
                    "storage.backend is s3 but [storage.s3] (bucket, access_key_id, secret_access_key) is missing",
                ));
            };
            if s3.bucket.is_empty() {
                return Err(invalid("storage.s3.bucket", "must not be empty"));
            }
            if let Some(ep) = &s3.endpoint
                && !(ep.starts_with("http://") || ep.starts_with("https://"))
            {
                return Err(invalid(
                    "storage.s3.endpoint",
                    format!("`{ep}` must be an http:// or https:// URL"),
                ));
            }
        }
        if self.ingest.max_file_bytes == 0 || self.ingest.max_version_bytes < self.ingest.max_file_bytes {
            return Err(invalid(
                "ingest.max_version_bytes",
                "must be at least ingest.max_file_bytes, and both above 0",
            ));
        }
        if self.ingest.concurrency == 0 {
            return Err(invalid("ingest.concurrency", "must be at least 1"));
        }
        if self.server.shutdown_grace_secs > 600 {
            return Err(invalid("server.shutdown_grace_secs", "must be at most 600"));
        }
        if self.server.shutdown_drain_ms > 60_000 {
            return Err(invalid(
                "server.shutdown_drain_ms",
                "must be at most 60000 milliseconds (1000 by default)",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            return Err(invalid(
                "log.filter",
                format!("`{}` is not a tracing filter: {e}", self.log.filter),
            ));
        }
        if !(1..=300).contains(&self.downloads.link_ttl_secs) {
            return Err(invalid(
                "downloads.link_ttl_secs",
                "must be 1 to 300 (download links live at most 5 minutes)",
            ));
        }
        if self.catalog.response_cache_entries == 0 {
            return Err(invalid("catalog.response_cache_entries", "must be at least 1"));
        }
        if self.catalog.refresh_interval_ms < 50 {
            return Err(invalid("catalog.refresh_interval_ms", "must be at least 50"));
        }
        Ok(())
    }

    /// The metrics listener's address (`metrics.bind`, validated at load); `None`: off.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.bind.as_deref().and_then(|b| b.parse().ok())
    }

    /// The address of the HTTP server (validated at load).
    #[must_use]
    pub fn bind_addr(&self) -> SocketAddr {
        self.server
            .bind
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// How payments are taken (validated: see [`PaymentsSettings::mode`]).
    #[must_use]
    pub fn payments_mode(&self) -> PaymentsMode {
        match self.payments.mode {
            Some(m) => m,
            None if self.stripe.is_stripe() => PaymentsMode::Stripe,
            None => PaymentsMode::Local,
        }
    }

    /// The URL buyers reach the shop at: `server.public_url`, else the deprecated
    /// `stripe.public_url`, else `http://<addr>` (the bound address).
    #[must_use]
    pub fn public_url(&self, addr: SocketAddr) -> String {
        self.server
            .public_url
            .as_deref()
            .or(self.stripe.public_url.as_deref())
            .filter(|u| !u.is_empty())
            .map_or_else(|| format!("http://{addr}"), |u| u.trim_end_matches('/').to_owned())
    }

    /// Whether cookies are `Secure` (and `__Host-` prefixed): `server.secure_cookies` when
    /// set, else whether the public URL is `https://`.
    #[must_use]
    pub fn secure_cookies(&self, addr: SocketAddr) -> bool {
        self.server
            .secure_cookies
            .unwrap_or_else(|| self.public_url(addr).starts_with("https://"))
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    ///
    /// # Errors
    /// A message naming the entry that is neither an address nor a network.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.server
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("`{s}` is neither an IP address nor a network like 10.0.0.0/8"))
            })
            .collect()
    }

    /// The database URL: the configured one, or SQLite in the data dir.
    #[must_use]
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) if !url.expose_secret().is_empty() => url.expose_secret().to_owned(),
            _ => format!("sqlite://{}?mode=rwc", self.data_dir.join("keys.sqlite").display()),
        }
    }

    /// Where the local object store keeps files.
    #[must_use]
    pub fn local_objects_dir(&self) -> PathBuf {
        self.storage
            .local_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("objects"))
    }

    /// Ingestion limits.
    #[must_use]
    pub fn ingest_limits(&self) -> ingest::Limits {
        ingest::Limits {
            max_file_bytes: self.ingest.max_file_bytes,
            max_version_bytes: self.ingest.max_version_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Environment variables are process-wide; these tests only use overrides and files.

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load(None, &[]).unwrap();
        assert_eq!(s.bind_addr().port(), 8080);
        assert!(s.database_url().starts_with("sqlite://data/keys.sqlite"));
        assert_eq!(s.local_objects_dir(), PathBuf::from("data/objects"));
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("keys.toml");
        std::fs::write(
            &f,
            "[server]\nbind = \"127.0.0.1:9999\"\n[database]\nurl = \"postgres://u:p@h/db\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&f), &[("data_dir", "/srv/keys".into())]).unwrap();
        assert_eq!(s.bind_addr().port(), 9999);
        assert_eq!(s.database_url(), "postgres://u:p@h/db");
        assert_eq!(s.data_dir, PathBuf::from("/srv/keys"));
        let s = Settings::load(Some(&f), &[("server.bind", "127.0.0.1:0".into())]).unwrap();
        assert_eq!(s.bind_addr().port(), 0);
    }

    #[test]
    fn local_payments_are_an_explicit_choice_off_loopback() {
        // The embedded default (loopback) runs the test mode.
        let s = Settings::load(None, &[]).unwrap();
        assert_eq!(s.payments_mode(), PaymentsMode::Local);
        // Anywhere else, a missing key refuses to start and names what to set.
        let err = Settings::load(None, &[("server.bind", "0.0.0.0:8080".into())])
            .unwrap_err()
            .to_string();
        for needle in [
            "KEYS__PAYMENTS__MODE",
            "KEYS__STRIPE__SECRET_KEY",
            "KEYS__STRIPE__WEBHOOK_SECRETS",
        ] {
            assert!(err.contains(needle), "{err}");
        }
        let s = Settings::load(
            None,
            &[
                ("server.bind", "0.0.0.0:8080".into()),
                ("payments.mode", "local".into()),
            ],
        )
        .unwrap();
        assert_eq!(s.payments_mode(), PaymentsMode::Local);
        let s = Settings::load(
            None,
            &[
                ("server.bind", "0.0.0.0:8080".into()),
                ("stripe.secret_key", "sk_test_x".into()),
                ("stripe.webhook_secrets", "whsec_x".into()),
            ],
        )
        .unwrap();
        assert_eq!(s.payments_mode(), PaymentsMode::Stripe);
        let err = Settings::load(None, &[("payments.mode", "stripe".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYS__STRIPE__SECRET_KEY"), "{err}");
    }

    #[test]
    fn secure_cookies_follow_the_public_url() {
        let addr: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let base: Vec<(&str, String)> = vec![
            ("payments.mode", "local".into()),
            ("server.bind", "0.0.0.0:8080".into()),
        ];
        let s = Settings::load(None, &base).unwrap();
        assert!(
            !s.secure_cookies(addr),
            "plain http: not Secure, whatever the bind address"
        );
        assert_eq!(s.public_url(addr), "http://0.0.0.0:8080");
        let mut https = base.clone();
        https.push(("server.public_url", "https://shop.example/".into()));
        let s = Settings::load(None, &https).unwrap();
        assert!(s.secure_cookies(addr));
        assert_eq!(s.public_url(addr), "https://shop.example");
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let s = Settings::load(None, &[("server.public_url", "https://shop.example".into())]).unwrap();
        assert!(
            s.secure_cookies(loopback),
            "a loopback bind behind an https proxy is still https"
        );
        let s = Settings::load(None, &[("stripe.public_url", "https://old.example".into())]).unwrap();
        assert_eq!(
            s.public_url(loopback),
            "https://old.example",
            "the old setting is still read"
        );
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases: &[(&str, &str, &str)] = &[
            ("server.bind", "localhost", "KEYS__SERVER__BIND"),
            ("database.url", "mysql://x", "KEYS__DATABASE__URL"),
            ("database.max_connections", "0", "KEYS__DATABASE__MAX_CONNECTIONS"),
            ("database.acquire_timeout_ms", "5", "KEYS__DATABASE__ACQUIRE_TIMEOUT_MS"),
            ("storage.backend", "s3", "KEYS__STORAGE__S3"),
            ("ingest.concurrency", "0", "KEYS__INGEST__CONCURRENCY"),
            (
                "server.shutdown_grace_secs",
                "100000",
                "KEYS__SERVER__SHUTDOWN_GRACE_SECS",
            ),
            ("log.filter", "info,[bad", "KEYS__LOG__FILTER"),
            ("site.company_name", " ", "KEYS__SITE__COMPANY_NAME"),
            ("email.smtp_url", "http://mail", "KEYS__EMAIL__SMTP_URL"),
            ("email.from", "nobody", "KEYS__EMAIL__FROM"),
            ("site.support_email", "not-an-address", "KEYS__SITE__SUPPORT_EMAIL"),
            ("site.support_email", "help@localhost", "KEYS__SITE__SUPPORT_EMAIL"),
            (
                "catalog.response_cache_entries",
                "0",
                "KEYS__CATALOG__RESPONSE_CACHE_ENTRIES",
            ),
        ];
        for (key, value, env) in cases {
            let err = Settings::load(None, &[(key, (*value).to_string())])
                .unwrap_err()
                .to_string();
            assert!(err.contains(env), "{key}={value}: {err}");
        }
        let err = Settings::load(None, &[("auth.admin_emails", "admin@example.com".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys-server admin grant"), "{err}");
        let err = Settings::load(None, &[("server.trusted_proxies", "10.0.0.0/8, nonsense".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("KEYS__SERVER__TRUSTED_PROXIES") && err.contains("nonsense"),
            "{err}"
        );
        let err = Settings::load(None, &[("storage.backend", "tape".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("tape") && err.contains("storage.backend"), "{err}");
        let err = Settings::load(Some(Path::new("/nonexistent/keys.toml")), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/keys.toml"), "{err}");
    }
}
