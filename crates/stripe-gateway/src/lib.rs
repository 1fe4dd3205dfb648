//! # stripe-gateway — the payment-gateway port on Stripe
//!
//! [`StripeGateway`] implements [`payments::PaymentGateway`] with the async-stripe 1.0 split
//! crates. Every request that creates something carries an idempotency key derived from our own
//! ids, so a retried call never creates a second customer, coupon, session, product or price:
//!
//! | call | Stripe request | idempotency key |
//! |---|---|---|
//! | `create_customer` | `POST /v1/customers` | `keys-customer-<holder>` |
//! | `create_checkout` | `GET /v1/prices` (lookup key = SKU), `POST /v1/coupons` (credit), `POST /v1/checkout/sessions` | `keys-coupon-<order>`, `keys-checkout-<order>` |
//! | `expire_checkout` | `POST /v1/checkout/sessions/<id>/expire` (and a `GET` when Stripe refuses) | — |
//! | `retrieve_session` | `GET /v1/checkout/sessions/<id>` | — |
//! | `refund` | `POST /v1/refunds` | the caller's key |
//! | `billing_portal` | `POST /v1/billing_portal/sessions` | — |
//! | `sync_catalog` | `GET/POST /v1/products`, `GET/POST /v1/prices`, `POST /v1/prices/<old>` | `keys-product-<sku>`, `keys-price-<sku>-<amount>-<interval>` |
//!
//! Amounts stay [`pricing::Money`] up to this crate; the conversion to Stripe's wire format
//! (integer `unit_amount`, lowercase currency, `month`/`year` intervals, product ids made from
//! SKUs) happens only in the private `wire` module.
//!
//! Errors: a Stripe error answer (or an answer that cannot be read) is
//! [`GatewayError::Refused`] with Stripe's message; a connection failure, a timeout or a client
//! configuration that cannot work is [`GatewayError::Unreachable`]; at checkout, a Price that is
//! missing or differs from ours (amount, currency, one-time vs recurring for the session's mode)
//! is [`GatewayError::CatalogOutOfSync`].

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use payments::{
    CatalogItem, CheckoutMode, CheckoutRequest, CheckoutSession, GatewayError, PaymentGateway, SessionState,
    SyncReport, ports::PlanChange,
};
use pricing::Money;
use stripe::{ApiErrorsCode, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::{
    DiscountsDataParam, RetrieveSubscription, UpdateSubscription, UpdateSubscriptionBillingCycleAnchor,
    UpdateSubscriptionBillingCycleAnchorType, UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior,
    UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionDiscounts, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionSubscriptionData, ExpireCheckoutSession, RetrieveCheckoutSession,
};
use stripe_checkout::{CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus};
use stripe_core::customer::CreateCustomer;
use stripe_core::refund::CreateRefund;
use stripe_product::coupon::{CreateCoupon, RetrieveCoupon};
use stripe_product::price::{CreatePrice, CreatePriceRecurring, ListPrice, UpdatePrice};
use stripe_product::product::{CreateProduct, RetrieveProduct};
use stripe_product::{CouponDuration, Price};

mod wire;

/// Stripe's API, used when no other base URL is given.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// How long one request to Stripe may take before it counts as unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The payment gateway on Stripe (live or test keys alike: Stripe's test mode is still Stripe,
/// so [`PaymentGateway::is_test_mode`] is `false`; only the local payment mode says `true`).
#[derive(Clone)]
pub struct StripeGateway {
    client: Client,
}

impl fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the client: its configuration holds the secret key.
        f.debug_struct("StripeGateway").finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// A gateway using `secret_key` (`sk_live_…`, `sk_test_…` or a restricted `rk_…` key).
    /// `api_base` replaces [`DEFAULT_API_BASE`] (tests point it at a local fake, e.g.
    /// `http://127.0.0.1:PORT/`; a missing trailing `/` is added). Each request times out after
    /// [`REQUEST_TIMEOUT`].
    ///
    /// Installs rustls' aws-lc-rs crypto provider as the process default unless one is already
    /// installed, so the TLS client never has to guess between providers at runtime.
    ///
    /// # Errors
    /// [`GatewayError::Unreachable`] when the key is empty or not a valid header value, or the
    /// base URL is not a valid URL: no request could ever reach Stripe.
    pub fn new(secret_key: &str, api_base: Option<&str>) -> Result<Self, GatewayError> {
        if secret_key.trim().is_empty() {
            return Err(GatewayError::Unreachable("the Stripe secret key is empty".into()));
        }
        // Err means a provider is already installed, which is just as good.
        let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut base = api_base.unwrap_or(DEFAULT_API_BASE).trim().to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = ClientBuilder::new(secret_key)
            .url(base)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(gateway_error)?;
        Ok(Self { client })
    }

    /// The active Price whose lookup key is `sku`, if any.
    async fn active_price(&self, sku: &str) -> Result<Option<Price>, GatewayError> {
        let list = ListPrice::new()
            .lookup_keys(vec![sku.to_owned()])
            .active(true)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(list
            .data
            .into_iter()
            .find(|price| price.active && price.lookup_key.as_deref() == Some(sku)))
    }

    /// The one-off coupon worth `credit` for an order. A coupon with the same id already exists
    /// when the order is checked out again after Stripe forgot the idempotency key (24 h); it is
    /// reused if it is the same credit and still redeemable.
    async fn credit_coupon(&self, order_id: i64, credit: Money) -> Result<String, GatewayError> {
        let id = wire::coupon_id(order_id);
        let created = CreateCoupon::new()
            .id(id.clone())
            .amount_off(credit.minor())
            .currency(wire::currency(credit.currency()))
            .duration(CouponDuration::Once)
            .max_redemptions(1)
            .name(format!("Credit for order {order_id}"))
            .customize()
            .request_strategy(idempotent(&format!("keys-coupon-{order_id}"))?)
            .send(&self.client)
            .await;
        match created {
            Ok(coupon) => Ok(coupon.id.as_str().to_owned()),
            Err(err) if already_exists(&err) => {
                let coupon = RetrieveCoupon::new(id.as_str())
                    .send(&self.client)
                    .await
                    .map_err(gateway_error)?;
                let same = coupon.valid
                    && coupon.amount_off == Some(credit.minor())
                    && coupon.currency.as_ref() == Some(&wire::currency(credit.currency()));
                if same {
                    Ok(coupon.id.as_str().to_owned())
                } else {
                    Err(GatewayError::Refused(format!(
                        "coupon `{id}` already exists with another amount or is used up"
                    )))
                }
            }
            Err(err) => Err(gateway_error(err)),
        }
    }

    /// Makes sure the Product for `item` exists; `true` when this call created it.
    async fn ensure_product(&self, product_id: &str, item: &CatalogItem) -> Result<bool, GatewayError> {
        match RetrieveProduct::new(product_id).send(&self.client).await {
            Ok(_) => return Ok(false),
            Err(StripeError::Stripe(_, 404)) => {}
            Err(err) => return Err(gateway_error(err)),
        }
        let created = CreateProduct::new(item.name.as_str())
            .id(product_id)
            .metadata(HashMap::from([("sku".to_owned(), item.sku.clone())]))
            .customize()
            .request_strategy(idempotent(&format!("keys-product-{}", item.sku))?)
            .send(&self.client)
            .await;
        match created {
            Ok(_) => Ok(true),
            // Created by a concurrent sync in between.
            Err(err) if already_exists(&err) => Ok(false),
            Err(err) => Err(gateway_error(err)),
        }
    }

    /// Creates the Price for `item` and moves the SKU's lookup key to it.
    async fn create_price(&self, product_id: &str, item: &CatalogItem) -> Result<Price, GatewayError> {
        let mut create = CreatePrice::new(wire::currency(item.amount.currency()))
            .product(product_id)
            .unit_amount(item.amount.minor())
            .lookup_key(item.sku.as_str())
            .transfer_lookup_key(true)
            .metadata(HashMap::from([("sku".to_owned(), item.sku.clone())]));
        if let Some(interval) = item.interval {
            create = create.recurring(CreatePriceRecurring::new(wire::price_interval(interval)));
        }
        let key = format!(
            "keys-price-{}-{}-{}",
            item.sku,
            item.amount.minor(),
            wire::interval_text(item.interval)
        );
        let price = create
            .customize()
            .request_strategy(idempotent(&key)?)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        // Stripe replays the saved answer when the key was used in the last 24 h (a price changed
        // and changed back): that Price may have been archived, and lost the lookup key, since.
        // The answer is a snapshot and cannot tell, so ask which Price the SKU resolves to now.
        if self
            .active_price(&item.sku)
            .await?
            .is_some_and(|current| current.id == price.id)
        {
            return Ok(price);
        }
        UpdatePrice::new(price.id.as_str())
            .active(true)
            .lookup_key(item.sku.as_str())
            .transfer_lookup_key(true)
            .send(&self.client)
            .await
            .map_err(gateway_error)
    }

    /// Archives a Price that no longer matches.
    async fn archive_price(&self, price: &Price) -> Result<(), GatewayError> {
        UpdatePrice::new(price.id.as_str())
            .active(false)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(())
    }
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn is_test_mode(&self) -> bool {
        false
    }

    async fn create_customer(&self, holder: &str, email: &str) -> Result<String, GatewayError> {
        let customer = CreateCustomer::new()
            .email(email)
            .metadata(HashMap::from([("holder".to_owned(), holder.to_owned())]))
            .customize()
            .request_strategy(idempotent(&format!("keys-customer-{holder}"))?)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(customer.id.as_str().to_owned())
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> Result<CheckoutSession, GatewayError> {
        let out_of_sync = || GatewayError::CatalogOutOfSync {
            sku: request.sku.clone(),
        };
        let price = self.active_price(&request.sku).await?.ok_or_else(out_of_sync)?;
        let recurring_wanted = request.mode == CheckoutMode::Subscription;
        if !wire::same_amount(&price, request.unit_amount) || price.recurring.is_some() != recurring_wanted {
            return Err(out_of_sync());
        }

        let coupon = match request.credit {
            Some(credit) if credit.minor() > 0 => Some(self.credit_coupon(request.order_id, credit).await?),
            _ => None,
        };

        let order_id = request.order_id.to_string();
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(price.id.as_str().to_owned());
        line.quantity = Some(1);
        let mut create = CreateCheckoutSession::new()
            .mode(match request.mode {
                CheckoutMode::Payment => CheckoutSessionMode::Payment,
                CheckoutMode::Subscription => CheckoutSessionMode::Subscription,
            })
            .customer(request.customer.as_str())
            .client_reference_id(order_id.as_str())
            .line_items(vec![line])
            .metadata(HashMap::from([
                ("order_id".to_owned(), order_id.clone()),
                ("sku".to_owned(), request.sku.clone()),
                ("holder".to_owned(), request.holder.clone()),
                ("quote_id".to_owned(), request.quote_id.clone()),
            ]))
            .success_url(request.success_url.as_str())
            .cancel_url(request.cancel_url.as_str());
        if let Some(coupon) = coupon {
            let mut discount = CreateCheckoutSessionDiscounts::new();
            discount.coupon = Some(coupon);
            create = create.discounts(vec![discount]);
        }
        if request.mode == CheckoutMode::Subscription {
            // So the subscription's own events (renewals, invoices) name the order and holder.
            let mut data = CreateCheckoutSessionSubscriptionData::new();
            data.metadata = Some(HashMap::from([
                ("order_id".to_owned(), order_id.clone()),
                ("sku".to_owned(), request.sku.clone()),
                ("holder".to_owned(), request.holder.clone()),
            ]));
            create = create.subscription_data(data);
        }
        let session = create
            .customize()
            .request_strategy(idempotent(&format!("keys-checkout-{order_id}"))?)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        let url = session
            .url
            .ok_or_else(|| GatewayError::Refused(format!("Checkout Session `{}` has no URL", session.id.as_str())))?;
        Ok(CheckoutSession {
            id: session.id.as_str().to_owned(),
            url,
        })
    }

    async fn change_subscription(&self, change: &PlanChange) -> Result<Option<CheckoutSession>, GatewayError> {
        let out_of_sync = || GatewayError::CatalogOutOfSync {
            sku: change.sku.clone(),
        };
        let price = self.active_price(&change.sku).await?.ok_or_else(out_of_sync)?;
        if !wire::same_amount(&price, change.unit_amount) || price.recurring.is_none() {
            return Err(out_of_sync());
        }
        let subscription = RetrieveSubscription::new(change.subscription.as_str())
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        let item = subscription.items.data.first().ok_or_else(|| {
            GatewayError::Refused(format!("subscription `{}` has no item to change", change.subscription))
        })?;
        let coupon = match change.credit {
            Some(credit) if credit.minor() > 0 => Some(self.credit_coupon(change.order_id, credit).await?),
            _ => None,
        };
        let order_id = change.order_id.to_string();
        let mut line = UpdateSubscriptionItems::new();
        line.id = Some(item.id.as_str().to_owned());
        line.price = Some(price.id.as_str().to_owned());
        // The new price from today, the period restarting today, no proration of Stripe's own
        // (the coupon carries the quote's credit), and the payment taken now or the whole
        // update refused — so the charge is exactly the quote, or nothing changes.
        let mut update = UpdateSubscription::new(change.subscription.as_str())
            .items(vec![line])
            .proration_behavior(UpdateSubscriptionProrationBehavior::None)
            .billing_cycle_anchor(UpdateSubscriptionBillingCycleAnchor::new(
                UpdateSubscriptionBillingCycleAnchorType::Now,
            ))
            .payment_behavior(UpdateSubscriptionPaymentBehavior::ErrorIfIncomplete)
            .metadata(HashMap::from([
                ("order_id".to_owned(), order_id.clone()),
                ("sku".to_owned(), change.sku.clone()),
                ("holder".to_owned(), change.holder.clone()),
                ("quote_id".to_owned(), change.quote_id.clone()),
            ]));
        if let Some(coupon) = coupon {
            let mut discount = DiscountsDataParam::new();
            discount.coupon = Some(coupon);
            update = update.discounts(vec![discount]);
        }
        update
            .customize()
            .request_strategy(idempotent(&format!("keys-plan-change-{order_id}"))?)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(None)
    }

    async fn schedule_plan_change(
        &self,
        subscription: &str,
        sku: &str,
        unit_amount: Money,
        current_sku: &str,
        key: &str,
    ) -> Result<(), GatewayError> {
        let out_of_sync = || GatewayError::CatalogOutOfSync { sku: sku.to_owned() };
        let price = self.active_price(sku).await?.ok_or_else(out_of_sync)?;
        if !wire::same_amount(&price, unit_amount) || price.recurring.is_none() {
            return Err(out_of_sync());
        }
        let current = RetrieveSubscription::new(subscription)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        let item = current
            .items
            .data
            .first()
            .ok_or_else(|| GatewayError::Refused(format!("subscription `{subscription}` has no item to change")))?;
        let mut line = UpdateSubscriptionItems::new();
        line.id = Some(item.id.as_str().to_owned());
        line.price = Some(price.id.as_str().to_owned());
        // The new price from the next invoice on: no proration, the billing cycle unchanged, so
        // nothing is charged now and the paid period runs out on the current plan (metadata
        // `sku` keeps naming it until the renewal switches the plan).
        UpdateSubscription::new(subscription)
            .items(vec![line])
            .proration_behavior(UpdateSubscriptionProrationBehavior::None)
            .billing_cycle_anchor(UpdateSubscriptionBillingCycleAnchor::new(
                UpdateSubscriptionBillingCycleAnchorType::Unchanged,
            ))
            .metadata(HashMap::from([
                ("sku".to_owned(), current_sku.to_owned()),
                ("scheduled_sku".to_owned(), sku.to_owned()),
            ]))
            .customize()
            .request_strategy(idempotent(key)?)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(())
    }

    async fn set_cancel_at_period_end(&self, subscription: &str, cancel: bool, key: &str) -> Result<(), GatewayError> {
        UpdateSubscription::new(subscription)
            .cancel_at_period_end(cancel)
            .customize()
            .request_strategy(idempotent(key)?)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(())
    }

    async fn expire_checkout(&self, id: &str) -> Result<bool, GatewayError> {
        if !wire::is_path_safe(id) {
            return Err(GatewayError::Refused(format!("`{id}` is not a Checkout Session id")));
        }
        match ExpireCheckoutSession::new(id).send(&self.client).await {
            Ok(session) => Ok(matches!(session.status, Some(CheckoutSessionStatus::Expired))),
            // Only an `open` session can be expired: ask what it is instead.
            Err(StripeError::Stripe(_, 400)) => {
                let session = RetrieveCheckoutSession::new(id)
                    .send(&self.client)
                    .await
                    .map_err(gateway_error)?;
                match session.status {
                    Some(CheckoutSessionStatus::Expired) => Ok(true),
                    Some(CheckoutSessionStatus::Complete) => Ok(false),
                    other => Err(GatewayError::Refused(format!(
                        "Checkout Session `{id}` could not be expired (status {})",
                        other.as_ref().map_or("unknown", CheckoutSessionStatus::as_str)
                    ))),
                }
            }
            Err(err) => Err(gateway_error(err)),
        }
    }

    async fn retrieve_session(&self, id: &str) -> Result<SessionState, GatewayError> {
        // The id comes back from the buyer's browser: it must stay one path segment.
        if !wire::is_path_safe(id) {
            return Err(GatewayError::Refused(format!("`{id}` is not a Checkout Session id")));
        }
        let session = RetrieveCheckoutSession::new(id)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(SessionState {
            id: session.id.as_str().to_owned(),
            order_id: session.client_reference_id.as_deref().and_then(|r| r.parse().ok()),
            paid: matches!(
                session.payment_status,
                CheckoutSessionPaymentStatus::Paid | CheckoutSessionPaymentStatus::NoPaymentRequired
            ),
            payment_intent: session.payment_intent.as_ref().map(|p| p.id().as_str().to_owned()),
            subscription: session.subscription.as_ref().map(|s| s.id().as_str().to_owned()),
            customer: session.customer.as_ref().map(|c| c.id().as_str().to_owned()),
            amount_total: session.amount_total,
            currency: session.currency.as_ref().map(ToString::to_string),
            open_url: session
                .url
                .filter(|_| matches!(session.status, Some(CheckoutSessionStatus::Open))),
        })
    }

    async fn refund(&self, payment_intent: &str, amount: Option<Money>, key: &str) -> Result<(), GatewayError> {
        let mut create = CreateRefund::new().payment_intent(payment_intent);
        if let Some(amount) = amount {
            create = create.amount(amount.minor());
        }
        create
            .customize()
            .request_strategy(idempotent(key)?)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(())
    }

    async fn billing_portal(&self, customer: &str, return_url: &str) -> Result<String, GatewayError> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(gateway_error)?;
        Ok(session.url)
    }

    async fn sync_catalog(&self, items: &[CatalogItem]) -> Result<SyncReport, GatewayError> {
        let mut report = SyncReport::default();
        for item in items {
            let product_id = wire::product_id(&item.sku);
            if !wire::is_path_safe(&product_id) {
                return Err(GatewayError::Refused(format!(
                    "SKU `{}` cannot name a Stripe product",
                    item.sku
                )));
            }
            if self.ensure_product(&product_id, item).await? {
                report.products_created += 1;
            }
            let current = self.active_price(&item.sku).await?;
            if let Some(price) = &current
                && wire::same_amount(price, item.amount)
                && wire::same_interval(price, item.interval)
            {
                report.unchanged += 1;
                continue;
            }
            let created = self.create_price(&product_id, item).await?;
            report.prices_created += 1;
            if let Some(old) = current
                && old.id != created.id
            {
                self.archive_price(&old).await?;
                report.prices_archived += 1;
            }
        }
        Ok(report)
    }
}

/// The request strategy sending `key` as the `Idempotency-Key` header.
fn idempotent(key: &str) -> Result<RequestStrategy, GatewayError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|err| GatewayError::Refused(format!("idempotency key `{key}`: {err}")))
}

/// Stripe said the object (coupon, product) already exists.
fn already_exists(err: &StripeError) -> bool {
    matches!(err, StripeError::Stripe(api, _) if api.code == Some(ApiErrorsCode::ResourceAlreadyExists))
}

/// Stripe's error answers are refusals; failing to talk to Stripe at all is unreachability.
fn gateway_error(err: StripeError) -> GatewayError {
    match err {
        StripeError::Stripe(api, status) => GatewayError::Refused(match api.message {
            Some(message) => message,
            None => format!("{} (HTTP {status})", api.type_),
        }),
        StripeError::JSONDeserialize(message) => {
            GatewayError::Refused(format!("Stripe's answer could not be read: {message}"))
        }
        StripeError::ClientError(message) | StripeError::ConfigError(message) => GatewayError::Unreachable(message),
        StripeError::Timeout => GatewayError::Unreachable(format!("no answer within {REQUEST_TIMEOUT:?}")),
    }
}
