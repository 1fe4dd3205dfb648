//! Outgoing mail: the lettre transport (SMTP when `email.smtp_url` is set, else `.eml` files
//! under `<data_dir>/mail/`), the facts a message is written from (accounts, orders, the
//! catalog), and the loop that sends what the outbox holds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use accounts::ports::{AccountId, AccountRepository};
use async_trait::async_trait;
use catalog::{CatalogRepository, Clock};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mail::compose::{Composed, Letter, ReceiptLine, Site};
use mail::deliver::Delivery;
use mail::ports::{Facts, FactsError, Transport, TransportError};
use mail::{Notice, NoticeKind};
use tokio::sync::watch;
use upgrades::ports::OrderRepository;
use upgrades::{PurchaseId, Sku};

use crate::{Infra, ServicesError, Settings};

enum Inner {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Sends messages with lettre.
pub struct LettreTransport {
    inner: Inner,
    from: Mailbox,
}

impl std::fmt::Debug for LettreTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match &self.inner {
            Inner::Smtp(_) => "smtp".to_owned(),
            Inner::Files(_, dir) => format!("files in {}", dir.display()),
        };
        f.debug_struct("LettreTransport").field("via", &how).finish()
    }
}

impl LettreTransport {
    /// The transport the settings ask for: SMTP at `email.smtp_url`, or `.eml` files under
    /// `<data_dir>/mail/`.
    ///
    /// # Errors
    /// [`ServicesError::Setting`] naming the bad setting.
    pub fn from_settings(settings: &Settings) -> Result<Self, ServicesError> {
        use secrecy::ExposeSecret as _;
        let from: Mailbox = settings.email.from.parse().map_err(|e| {
            ServicesError::Setting(format!(
                "invalid setting `email.from` (env KEYS__EMAIL__FROM): `{}` is not an address like `KEYS <no-reply@example.com>` ({e})",
                settings.email.from
            ))
        })?;
        let url = settings
            .email
            .smtp_url
            .as_ref()
            .map(|u| u.expose_secret().to_owned())
            .filter(|u| !u.is_empty());
        let inner = match url {
            Some(url) => Inner::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                    .map_err(|e| {
                        ServicesError::Setting(format!(
                            "invalid setting `email.smtp_url` (env KEYS__EMAIL__SMTP_URL): {e}; use smtp://host:port, or smtps://user:password@host for TLS"
                        ))
                    })?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => {
                let dir = settings.data_dir.join("mail");
                std::fs::create_dir_all(&dir).map_err(|e| {
                    ServicesError::Setting(format!(
                        "cannot create the mail folder {}: {e}; pass a writable --data-dir or set email.smtp_url",
                        dir.display()
                    ))
                })?;
                Inner::Files(AsyncFileTransport::<Tokio1Executor>::new(&dir), dir)
            }
        };
        Ok(Self { inner, from })
    }
}

#[async_trait]
impl Transport for LettreTransport {
    async fn send(&self, to: &str, message: &Composed) -> Result<(), TransportError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| TransportError::Permanent(format!("`{to}` is not an address: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| TransportError::Permanent(format!("message cannot be built: {e}")))?;
        match &self.inner {
            Inner::Smtp(smtp) => smtp.send(email).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    TransportError::Permanent(e.to_string())
                } else {
                    TransportError::Temporary(e.to_string())
                }
            }),
            Inner::Files(files, dir) => {
                let id = files
                    .send(email)
                    .await
                    .map_err(|e| TransportError::Temporary(e.to_string()))?;
                tracing::info!(path = %dir.join(format!("{id}.eml")).display(), subject = %message.subject, "mail written");
                Ok(())
            }
        }
    }
}

/// Reads what a notice is about from the shop's storage.
pub struct ShopFacts {
    accounts: Arc<dyn AccountRepository>,
    orders: Arc<dyn OrderRepository>,
    catalog: Arc<dyn CatalogRepository>,
    site: Site,
}

impl ShopFacts {
    async fn product(&self, sku: &Sku) -> Result<String, FactsError> {
        Ok(match sku {
            Sku::Key(slug) => self
                .catalog
                .find_key(slug)
                .await
                .map_err(|e| FactsError(e.to_string()))?
                .map_or_else(|| catalog::title(slug.as_str()), |k| k.meta.name),
            Sku::Bundle(slug) => format!("{} bundle", catalog::title(slug.as_str())),
            Sku::Plan { tier, interval } => format!(
                "{} plan, billed {}",
                catalog::title(tier.as_str()),
                upgrades::interval_as_str(*interval)
            ),
        })
    }
}

/// A date as people write it: `10 December 2026`.
fn long_date(date: chrono::NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

#[async_trait]
impl Facts for ShopFacts {
    async fn letter(&self, notice: &Notice) -> Result<Option<(String, Letter)>, FactsError> {
        let store = |e: &dyn std::fmt::Display| FactsError(e.to_string());
        let to = match (&notice.to, notice.account) {
            (Some(to), _) => Some(to.clone()),
            (None, Some(a)) => self
                .accounts
                .find_by_id(AccountId(a))
                .await
                .map_err(|e| store(&e))?
                .map(|acc| acc.email.as_str().to_owned()),
            (None, None) => None,
        };
        let Some(to) = to else { return Ok(None) };
        let order = match notice.order {
            Some(id) => self.orders.find(PurchaseId(id)).await.map_err(|e| store(&e))?,
            None => None,
        };
        let letter = match notice.kind {
            NoticeKind::PasswordReset => match &notice.secret {
                Some(token) => Letter::PasswordReset {
                    link: self.site.link(&format!("/reset/{token}")),
                    minutes: accounts::RESET_LINK_MINUTES,
                },
                None => return Ok(None),
            },
            NoticeKind::Receipt => {
                let Some(o) = order else { return Ok(None) };
                let product = self.product(&o.sku).await?;
                let renewal = notice.detail.strip_prefix("renewal ").and_then(|rest| {
                    let (end, amount) = rest.split_once(' ')?;
                    Some((end.parse::<chrono::NaiveDate>().ok()?, amount.parse::<i64>().ok()?))
                });
                let (lines, total, period) = match renewal {
                    Some((end, amount)) => {
                        let paid = pricing::Money::from_minor(amount, o.cash_paid.currency());
                        (
                            vec![ReceiptLine {
                                label: "Renewal".into(),
                                amount: paid.to_string(),
                            }],
                            paid.to_string(),
                            Some(format!("the period until {}", long_date(end))),
                        )
                    }
                    None => {
                        let mut lines = vec![ReceiptLine {
                            label: "Price".into(),
                            amount: o.list_price.to_string(),
                        }];
                        if o.credit_applied.minor() > 0 {
                            lines.push(ReceiptLine {
                                label: "Credit for what you already paid".into(),
                                amount: format!("−{}", o.credit_applied),
                            });
                        }
                        let waived = o.amount_due.minor() - o.cash_paid.minor();
                        if waived > 0 {
                            lines.push(ReceiptLine {
                                label: "Waived (below the card minimum)".into(),
                                amount: format!("−{}", pricing::Money::from_minor(waived, o.cash_paid.currency())),
                            });
                        }
                        let period = o
                            .period
                            .map(|(_, end)| format!("the period until {}", long_date(end.date_naive())));
                        (lines, o.cash_paid.to_string(), period)
                    }
                };
                let download = match &o.sku {
                    Sku::Key(slug) => self.site.link(&format!("/marketplace/{slug}#access")),
                    _ => self.site.link("/account/keys"),
                };
                Letter::Receipt {
                    order: o.id.0,
                    product,
                    lines,
                    total,
                    period,
                    download,
                    order_link: self.site.link(&format!("/checkout/return?order={}", o.id.0)),
                }
            }
            NoticeKind::PaymentFailed => {
                let Some(o) = order else { return Ok(None) };
                let access_until = notice
                    .detail
                    .parse::<chrono::NaiveDate>()
                    .map_or_else(|_| notice.detail.clone(), long_date);
                Letter::PaymentFailed {
                    product: self.product(&o.sku).await?,
                    access_until,
                    fix: self.site.link("/account/billing"),
                }
            }
            NoticeKind::AccessEnded => {
                let Some(o) = order else { return Ok(None) };
                let reason = match notice.detail.as_str() {
                    "refund" => "the payment was refunded",
                    "dispute_lost" => "the card payment was disputed and the dispute was decided for the card holder",
                    "subscription_ended" => "the subscription ended",
                    _ => "it was ended by the shop",
                };
                Letter::AccessEnded {
                    product: self.product(&o.sku).await?,
                    reason: reason.to_owned(),
                    browse: self.site.link("/marketplace"),
                }
            }
            NoticeKind::VerifyEmail => match &notice.secret {
                Some(token) => Letter::VerifyEmail {
                    link: self.site.link(&format!("/verify/{token}")),
                },
                None => return Ok(None),
            },
            NoticeKind::Invitation => {
                let Some(token) = &notice.secret else { return Ok(None) };
                let inviter = match notice.account {
                    Some(a) => self
                        .accounts
                        .find_by_id(AccountId(a))
                        .await
                        .map_err(|e| store(&e))?
                        .map_or_else(|| "A member".to_owned(), |acc| acc.email.as_str().to_owned()),
                    None => "A member".to_owned(),
                };
                Letter::Invitation {
                    organisation: if notice.detail.is_empty() {
                        "an organisation".to_owned()
                    } else {
                        notice.detail.clone()
                    },
                    inviter,
                    link: self.site.link(&format!("/join/{token}")),
                }
            }
        };
        Ok(Some((to, letter)))
    }
}

/// The mail delivery service for a shop reached at `public_url`, named `worker`.
///
/// # Errors
/// [`ServicesError::Setting`] when the mail settings are invalid.
pub fn delivery(infra: &Infra, settings: &Settings, public_url: &str, worker: &str) -> Result<Delivery, ServicesError> {
    let store = Arc::new(storage_sql::SqlAccountStore::new(infra.db.clone()));
    let site = Site::new(&settings.site.company_name, &settings.site.support_email, public_url);
    let facts = ShopFacts {
        accounts: store,
        orders: Arc::new(storage_sql::SqlOrderRepository::new(infra.db.clone())),
        catalog: infra.catalog.clone(),
        site: site.clone(),
    };
    Ok(Delivery::new(
        Arc::new(storage_sql::SqlOutbox::new(infra.db.clone())),
        Arc::new(facts),
        Arc::new(LettreTransport::from_settings(settings)?),
        site,
        worker,
    ))
}

/// A name for this process's claims: host and process id.
#[must_use]
pub fn worker_name(role: &str) -> String {
    format!(
        "{role}-{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
        std::process::id()
    )
}

/// Sends what the outbox holds every `poll` until `stop` turns true; a round in progress
/// finishes first.
pub async fn run_mailer(delivery: Delivery, clock: Arc<dyn Clock>, poll: Duration, mut stop: watch::Receiver<bool>) {
    tracing::info!("mail delivery started");
    loop {
        if *stop.borrow() {
            break;
        }
        let busy = match delivery.run_once(clock.now(), 32).await {
            Ok(r) => {
                if r.sent + r.retried + r.dead + r.skipped > 0 {
                    tracing::info!(
                        sent = r.sent,
                        retried = r.retried,
                        dead = r.dead,
                        skipped = r.skipped,
                        "mail round"
                    );
                }
                if r.dead > 0 {
                    tracing::error!(
                        dead = r.dead,
                        "mail given up after repeated failures; check email.smtp_url"
                    );
                }
                r.sent + r.skipped > 0
            }
            Err(e) => {
                tracing::warn!(error = %e, "mail outbox unavailable; retrying");
                false
            }
        };
        if !busy {
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                r = stop.changed() => if r.is_err() { break },
            }
        }
    }
    tracing::info!("mail delivery stopped");
}
