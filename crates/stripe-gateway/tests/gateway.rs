//! `StripeGateway` against a local fake of the Stripe API: the exact requests it sends (paths,
//! form fields, idempotency keys, headers) and what it makes of the answers.

#[allow(dead_code)]
mod fake_stripe;

use std::collections::BTreeMap;

use fake_stripe::{FakeStripe, Recorded, error_body, fixture, price_object};
use payments::{
    CatalogItem, CheckoutMode, CheckoutRequest, CheckoutSession, GatewayError, PaymentGateway, SessionState, SyncReport,
};
use pricing::{Currency, Interval, Money};
use serde_json::json;
use stripe_gateway::StripeGateway;

const SECRET: &str = "sk_test_keys_fake_secret";
/// The API version async-stripe 1.0.0-rc.10 is generated for (sent on every request).
const STRIPE_VERSION: &str = "2026-09-30.endive";

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}

fn gateway(fake: &FakeStripe) -> StripeGateway {
    StripeGateway::new(SECRET, Some(&fake.base)).expect("gateway")
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// A request as the gateway must send it (headers common to all requests are checked by
/// `assert_requests`).
fn request(method: &str, path: &str, query: &[(&str, &str)], form: &[(&str, &str)], key: Option<&str>) -> Recorded {
    Recorded {
        method: method.to_owned(),
        path: path.to_owned(),
        query: fields(query),
        form: fields(form),
        idempotency_key: key.map(str::to_owned),
        stripe_version: Some(STRIPE_VERSION.to_owned()),
        authorization: Some(format!("Bearer {SECRET}")),
    }
}

fn price_lookup(sku: &str) -> Recorded {
    request(
        "GET",
        "/v1/prices",
        &[("lookup_keys[0]", sku), ("active", "true")],
        &[],
        None,
    )
}

/// The requests the fake received since the last call, compared one by one for readable failures.
fn assert_requests(fake: &FakeStripe, expected: &[Recorded]) {
    let got = fake.take_requests();
    for (i, (got, want)) in got.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "request #{i}");
    }
    assert_eq!(got.len(), expected.len(), "number of requests: {got:#?}");
}

fn checkout_request(sku: &str, mode: CheckoutMode, amount: Money, credit: Option<Money>) -> CheckoutRequest {
    CheckoutRequest {
        order_id: 42,
        sku: sku.to_owned(),
        mode,
        unit_amount: amount,
        credit,
        customer: "cus_buyer".to_owned(),
        holder: "user:7".to_owned(),
        quote_id: "q-2026-0042".to_owned(),
        success_url: "https://keys.example/checkout/done?session_id={CHECKOUT_SESSION_ID}".to_owned(),
        cancel_url: "https://keys.example/upgrade/bundle:ops-pack".to_owned(),
    }
}

#[tokio::test]
async fn is_not_test_mode() {
    let fake = FakeStripe::start().await;
    assert!(!gateway(&fake).is_test_mode());
}

#[tokio::test]
async fn create_customer_sends_email_and_holder_with_a_holder_key() {
    let fake = FakeStripe::start().await;
    // A base URL without the trailing slash works too.
    let gateway = StripeGateway::new(SECRET, Some(fake.base.trim_end_matches('/'))).expect("gateway");

    let id = gateway
        .create_customer("user:7", "ada@example.com")
        .await
        .expect("customer");
    assert!(id.starts_with("cus_"), "{id}");
    assert_requests(
        &fake,
        &[request(
            "POST",
            "/v1/customers",
            &[],
            &[("email", "ada@example.com"), ("metadata[holder]", "user:7")],
            Some("keys-customer-user:7"),
        )],
    );

    // A retry is the same request with the same key: Stripe answers with the same customer.
    let again = gateway
        .create_customer("user:7", "ada@example.com")
        .await
        .expect("retry");
    assert_eq!(again, id);
}

#[tokio::test]
async fn checkout_with_credit_creates_a_one_off_coupon_and_a_payment_session() {
    let fake = FakeStripe::start().await;
    fake.seed_product("keys-bundle-ops-pack", "bundle:ops-pack", "Ops pack");
    fake.seed_price(price_object(
        "price_ops",
        "keys-bundle-ops-pack",
        12_900,
        "usd",
        None,
        Some("bundle:ops-pack"),
    ));
    let gateway = gateway(&fake);

    let req = checkout_request("bundle:ops-pack", CheckoutMode::Payment, usd(12_900), Some(usd(3_000)));
    let CheckoutSession { id, url } = gateway.create_checkout(&req).await.expect("checkout");
    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(url, format!("{}c/pay/{id}", fake.base));

    assert_requests(
        &fake,
        &[
            price_lookup("bundle:ops-pack"),
            request(
                "POST",
                "/v1/coupons",
                &[],
                &[
                    ("id", "keys-credit-42"),
                    ("amount_off", "3000"),
                    ("currency", "usd"),
                    ("duration", "once"),
                    ("max_redemptions", "1"),
                    ("name", "Credit for order 42"),
                ],
                Some("keys-coupon-42"),
            ),
            request(
                "POST",
                "/v1/checkout/sessions",
                &[],
                &[
                    ("mode", "payment"),
                    ("customer", "cus_buyer"),
                    ("client_reference_id", "42"),
                    ("line_items[0][price]", "price_ops"),
                    ("line_items[0][quantity]", "1"),
                    ("discounts[0][coupon]", "keys-credit-42"),
                    ("metadata[order_id]", "42"),
                    ("metadata[sku]", "bundle:ops-pack"),
                    ("metadata[holder]", "user:7"),
                    ("metadata[quote_id]", "q-2026-0042"),
                    (
                        "success_url",
                        "https://keys.example/checkout/done?session_id={CHECKOUT_SESSION_ID}",
                    ),
                    ("cancel_url", "https://keys.example/upgrade/bundle:ops-pack"),
                ],
                Some("keys-checkout-42"),
            ),
        ],
    );

    // The buyer pays the quote's amount due: price minus credit.
    let state = gateway.retrieve_session(&id).await.expect("session");
    assert_eq!(state.amount_total, Some(9_900));
    assert_eq!(state.order_id, Some(42));
}

#[tokio::test]
async fn subscription_checkout_puts_the_order_on_the_subscription_and_skips_a_zero_credit() {
    let fake = FakeStripe::start().await;
    fake.seed_product("keys-plan-pro-monthly", "plan:pro:monthly", "Pro monthly");
    fake.seed_price(price_object(
        "price_pro_m",
        "keys-plan-pro-monthly",
        1_900,
        "usd",
        Some("month"),
        Some("plan:pro:monthly"),
    ));
    let gateway = gateway(&fake);

    let req = checkout_request("plan:pro:monthly", CheckoutMode::Subscription, usd(1_900), Some(usd(0)));
    gateway.create_checkout(&req).await.expect("checkout");

    assert_requests(
        &fake,
        &[
            price_lookup("plan:pro:monthly"),
            request(
                "POST",
                "/v1/checkout/sessions",
                &[],
                &[
                    ("mode", "subscription"),
                    ("customer", "cus_buyer"),
                    ("client_reference_id", "42"),
                    ("line_items[0][price]", "price_pro_m"),
                    ("line_items[0][quantity]", "1"),
                    ("metadata[order_id]", "42"),
                    ("metadata[sku]", "plan:pro:monthly"),
                    ("metadata[holder]", "user:7"),
                    ("metadata[quote_id]", "q-2026-0042"),
                    ("subscription_data[metadata][order_id]", "42"),
                    ("subscription_data[metadata][sku]", "plan:pro:monthly"),
                    ("subscription_data[metadata][holder]", "user:7"),
                    (
                        "success_url",
                        "https://keys.example/checkout/done?session_id={CHECKOUT_SESSION_ID}",
                    ),
                    ("cancel_url", "https://keys.example/upgrade/bundle:ops-pack"),
                ],
                Some("keys-checkout-42"),
            ),
        ],
    );
}

#[tokio::test]
async fn checkout_refuses_when_the_stripe_price_is_missing_or_differs() {
    let fake = FakeStripe::start().await;
    fake.seed_product("keys-key-node-starter", "key:node-starter", "Node starter");
    fake.seed_price(price_object(
        "price_node",
        "keys-key-node-starter",
        4_900,
        "usd",
        None,
        Some("key:node-starter"),
    ));
    fake.seed_product("keys-plan-pro-annual", "plan:pro:annual", "Pro annual");
    fake.seed_price(price_object(
        "price_pro_y",
        "keys-plan-pro-annual",
        19_000,
        "usd",
        Some("year"),
        Some("plan:pro:annual"),
    ));
    let gateway = gateway(&fake);
    let out_of_sync = |sku: &str| GatewayError::CatalogOutOfSync { sku: sku.to_owned() };

    let cases = [
        // Our price changed, Stripe's did not.
        ("key:node-starter", CheckoutMode::Payment, usd(5_900)),
        // Same minor units, other currency.
        (
            "key:node-starter",
            CheckoutMode::Payment,
            Money::from_minor(4_900, Currency::Eur),
        ),
        // A one-time price cannot be a subscription, a recurring one cannot be a payment.
        ("key:node-starter", CheckoutMode::Subscription, usd(4_900)),
        ("plan:pro:annual", CheckoutMode::Payment, usd(19_000)),
        // Never synced.
        ("bundle:new-pack", CheckoutMode::Payment, usd(9_900)),
    ];
    for (sku, mode, amount) in cases {
        let req = checkout_request(sku, mode, amount, Some(usd(1_000)));
        assert_eq!(
            gateway.create_checkout(&req).await,
            Err(out_of_sync(sku)),
            "{sku} {mode:?} {amount}"
        );
        // Only the lookup: no coupon, no session.
        assert_requests(&fake, &[price_lookup(sku)]);
    }
}

#[tokio::test]
async fn checkout_after_the_idempotency_window_reuses_the_orders_coupon() {
    let fake = FakeStripe::start().await;
    fake.seed_product("keys-bundle-ops-pack", "bundle:ops-pack", "Ops pack");
    fake.seed_price(price_object(
        "price_ops",
        "keys-bundle-ops-pack",
        12_900,
        "usd",
        None,
        Some("bundle:ops-pack"),
    ));
    // Created by a checkout of order 42 more than 24 h ago: Stripe no longer knows the key.
    fake.seed_coupon(json!({
        "id": "keys-credit-42", "amount_off": 3000, "currency": "usd", "duration": "once",
        "duration_in_months": null, "percent_off": null, "max_redemptions": 1,
        "name": "Credit for order 42", "redeem_by": null, "valid": true
    }));
    let gateway = gateway(&fake);

    let req = checkout_request("bundle:ops-pack", CheckoutMode::Payment, usd(12_900), Some(usd(3_000)));
    gateway.create_checkout(&req).await.expect("checkout");
    let sent = fake.take_requests();
    let paths: Vec<_> = sent.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "GET /v1/prices",
            "POST /v1/coupons",
            "GET /v1/coupons/keys-credit-42",
            "POST /v1/checkout/sessions"
        ]
    );
    assert_eq!(sent[3].form["discounts[0][coupon]"], "keys-credit-42");

    // A different credit for the same order is not silently replaced.
    let mut other = req.clone();
    other.credit = Some(usd(2_000));
    let err = gateway.create_checkout(&other).await.expect_err("coupon differs");
    assert!(
        matches!(&err, GatewayError::Refused(m) if m.contains("keys-credit-42")),
        "{err:?}"
    );
}

#[tokio::test]
async fn retrieve_session_reads_payment_state_ids_and_order() {
    let fake = FakeStripe::start().await;
    let mut customer = fixture("customer");
    customer["id"] = json!("cus_expanded");
    fake.seed_session(json!({
        "id": "cs_test_paid", "client_reference_id": "42", "payment_status": "paid", "status": "complete",
        "payment_intent": "pi_123", "subscription": null, "customer": customer, "amount_total": 9900, "currency": "eur"
    }));
    fake.seed_session(json!({
        "id": "cs_test_free", "client_reference_id": "not-a-number", "payment_status": "no_payment_required",
        "status": "complete", "mode": "subscription", "payment_intent": null, "subscription": "sub_9",
        "customer": "cus_plain", "amount_total": 0, "currency": "usd"
    }));
    fake.seed_session(json!({
        "id": "cs_test_open", "client_reference_id": null, "payment_status": "unpaid", "payment_intent": null,
        "customer": null, "amount_total": null, "currency": null
    }));
    let gateway = gateway(&fake);

    assert_eq!(
        gateway.retrieve_session("cs_test_paid").await.expect("paid"),
        SessionState {
            id: "cs_test_paid".into(),
            order_id: Some(42),
            paid: true,
            payment_intent: Some("pi_123".into()),
            subscription: None,
            customer: Some("cus_expanded".into()),
            amount_total: Some(9_900),
            currency: Some("eur".into()),
            // Complete: Stripe's page no longer takes a payment, whatever `url` says.
            open_url: None,
        }
    );
    assert_eq!(
        gateway.retrieve_session("cs_test_free").await.expect("free"),
        SessionState {
            id: "cs_test_free".into(),
            order_id: None,
            paid: true,
            payment_intent: None,
            subscription: Some("sub_9".into()),
            customer: Some("cus_plain".into()),
            amount_total: Some(0),
            currency: Some("usd".into()),
            open_url: None,
        }
    );
    assert_eq!(
        gateway.retrieve_session("cs_test_open").await.expect("open"),
        SessionState {
            id: "cs_test_open".into(),
            open_url: Some(fixture("checkout.session")["url"].as_str().unwrap().to_owned()),
            ..SessionState::default()
        }
    );
    assert_requests(
        &fake,
        &[
            request("GET", "/v1/checkout/sessions/cs_test_paid", &[], &[], None),
            request("GET", "/v1/checkout/sessions/cs_test_free", &[], &[], None),
            request("GET", "/v1/checkout/sessions/cs_test_open", &[], &[], None),
        ],
    );

    // Ids come from the buyer's browser: anything that is not one path segment never leaves.
    for bad in ["../../customers/cus_1", "cs_1?expand[]=customer", ""] {
        assert!(
            matches!(gateway.retrieve_session(bad).await, Err(GatewayError::Refused(_))),
            "{bad}"
        );
    }
    assert_eq!(
        gateway.retrieve_session("cs_test_unknown").await,
        Err(GatewayError::Refused(
            "No such checkout.session: 'cs_test_unknown'".into()
        ))
    );
    assert_requests(
        &fake,
        &[request("GET", "/v1/checkout/sessions/cs_test_unknown", &[], &[], None)],
    );
}

#[tokio::test]
async fn refund_sends_payment_intent_amount_and_the_callers_key() {
    let fake = FakeStripe::start().await;
    let gateway = gateway(&fake);

    gateway
        .refund("pi_123", Some(usd(2_500)), "refund-order-42-1")
        .await
        .expect("partial");
    gateway.refund("pi_456", None, "refund-order-43").await.expect("full");
    assert_requests(
        &fake,
        &[
            request(
                "POST",
                "/v1/refunds",
                &[],
                &[("payment_intent", "pi_123"), ("amount", "2500")],
                Some("refund-order-42-1"),
            ),
            request(
                "POST",
                "/v1/refunds",
                &[],
                &[("payment_intent", "pi_456")],
                Some("refund-order-43"),
            ),
        ],
    );

    // An empty key is refused before anything is sent.
    assert!(matches!(
        gateway.refund("pi_123", None, "").await,
        Err(GatewayError::Refused(_))
    ));
    assert_requests(&fake, &[]);
}

#[tokio::test]
async fn billing_portal_returns_the_session_url() {
    let fake = FakeStripe::start().await;
    let gateway = gateway(&fake);

    let url = gateway
        .billing_portal("cus_buyer", "https://keys.example/account/billing")
        .await
        .expect("portal");
    assert!(url.starts_with("https://billing.stripe.com/p/session/bps_"), "{url}");
    assert_requests(
        &fake,
        &[request(
            "POST",
            "/v1/billing_portal/sessions",
            &[],
            &[
                ("customer", "cus_buyer"),
                ("return_url", "https://keys.example/account/billing"),
            ],
            None,
        )],
    );
}

fn catalog() -> Vec<CatalogItem> {
    vec![
        CatalogItem {
            sku: "key:node-starter".into(),
            name: "Node starter".into(),
            amount: usd(4_900),
            interval: None,
        },
        CatalogItem {
            sku: "plan:pro:monthly".into(),
            name: "Pro (monthly)".into(),
            amount: usd(1_900),
            interval: Some(Interval::Monthly),
        },
        CatalogItem {
            sku: "plan:pro:annual".into(),
            name: "Pro (annual)".into(),
            amount: usd(19_000),
            interval: Some(Interval::Annual),
        },
    ]
}

#[tokio::test]
async fn sync_creates_products_and_prices_and_a_rerun_changes_nothing() {
    let fake = FakeStripe::start().await;
    let gateway = gateway(&fake);

    let report = gateway.sync_catalog(&catalog()).await.expect("first sync");
    assert_eq!(
        report,
        SyncReport {
            products_created: 3,
            prices_created: 3,
            prices_archived: 0,
            unchanged: 0,
        }
    );
    let product_created = |id: &str, sku: &str, name: &str| {
        request(
            "POST",
            "/v1/products",
            &[],
            &[("id", id), ("name", name), ("metadata[sku]", sku)],
            Some(&format!("keys-product-{sku}")),
        )
    };
    assert_requests(
        &fake,
        &[
            request("GET", "/v1/products/keys-key-node-starter", &[], &[], None),
            product_created("keys-key-node-starter", "key:node-starter", "Node starter"),
            price_lookup("key:node-starter"),
            request(
                "POST",
                "/v1/prices",
                &[],
                &[
                    ("product", "keys-key-node-starter"),
                    ("unit_amount", "4900"),
                    ("currency", "usd"),
                    ("lookup_key", "key:node-starter"),
                    ("transfer_lookup_key", "true"),
                    ("metadata[sku]", "key:node-starter"),
                ],
                Some("keys-price-key:node-starter-4900-once"),
            ),
            // Which Price the SKU resolves to now (see the revival test).
            price_lookup("key:node-starter"),
            request("GET", "/v1/products/keys-plan-pro-monthly", &[], &[], None),
            product_created("keys-plan-pro-monthly", "plan:pro:monthly", "Pro (monthly)"),
            price_lookup("plan:pro:monthly"),
            request(
                "POST",
                "/v1/prices",
                &[],
                &[
                    ("product", "keys-plan-pro-monthly"),
                    ("unit_amount", "1900"),
                    ("currency", "usd"),
                    ("lookup_key", "plan:pro:monthly"),
                    ("transfer_lookup_key", "true"),
                    ("recurring[interval]", "month"),
                    ("metadata[sku]", "plan:pro:monthly"),
                ],
                Some("keys-price-plan:pro:monthly-1900-month"),
            ),
            price_lookup("plan:pro:monthly"),
            request("GET", "/v1/products/keys-plan-pro-annual", &[], &[], None),
            product_created("keys-plan-pro-annual", "plan:pro:annual", "Pro (annual)"),
            price_lookup("plan:pro:annual"),
            request(
                "POST",
                "/v1/prices",
                &[],
                &[
                    ("product", "keys-plan-pro-annual"),
                    ("unit_amount", "19000"),
                    ("currency", "usd"),
                    ("lookup_key", "plan:pro:annual"),
                    ("transfer_lookup_key", "true"),
                    ("recurring[interval]", "year"),
                    ("metadata[sku]", "plan:pro:annual"),
                ],
                Some("keys-price-plan:pro:annual-19000-year"),
            ),
            price_lookup("plan:pro:annual"),
        ],
    );
    assert_eq!(
        fake.product_ids(),
        ["keys-key-node-starter", "keys-plan-pro-annual", "keys-plan-pro-monthly"]
    );

    let again = gateway.sync_catalog(&catalog()).await.expect("second sync");
    assert_eq!(
        again,
        SyncReport {
            unchanged: 3,
            ..SyncReport::default()
        }
    );
    // Reads only.
    assert_requests(
        &fake,
        &[
            request("GET", "/v1/products/keys-key-node-starter", &[], &[], None),
            price_lookup("key:node-starter"),
            request("GET", "/v1/products/keys-plan-pro-monthly", &[], &[], None),
            price_lookup("plan:pro:monthly"),
            request("GET", "/v1/products/keys-plan-pro-annual", &[], &[], None),
            price_lookup("plan:pro:annual"),
        ],
    );
    // The checkout finds what the sync made.
    let req = checkout_request("plan:pro:annual", CheckoutMode::Subscription, usd(19_000), None);
    gateway.create_checkout(&req).await.expect("checkout after sync");
}

#[tokio::test]
async fn a_changed_price_creates_a_new_price_and_archives_the_old_one() {
    let fake = FakeStripe::start().await;
    fake.seed_product("keys-key-node-starter", "key:node-starter", "Node starter");
    fake.seed_price(price_object(
        "price_old",
        "keys-key-node-starter",
        4_900,
        "usd",
        None,
        Some("key:node-starter"),
    ));
    fake.seed_product("keys-plan-pro-monthly", "plan:pro:monthly", "Pro (monthly)");
    // Same amount, wrong interval: also a change.
    fake.seed_price(price_object(
        "price_weekly",
        "keys-plan-pro-monthly",
        1_900,
        "usd",
        Some("week"),
        Some("plan:pro:monthly"),
    ));
    let gateway = gateway(&fake);
    let mut items = catalog();
    items.truncate(2);
    items[0].amount = usd(5_900);

    let report = gateway.sync_catalog(&items).await.expect("sync");
    assert_eq!(
        report,
        SyncReport {
            products_created: 0,
            prices_created: 2,
            prices_archived: 2,
            unchanged: 0,
        }
    );
    let sent = fake.take_requests();
    assert_eq!(sent.len(), 10, "{sent:#?}");
    assert_eq!(
        sent[0],
        request("GET", "/v1/products/keys-key-node-starter", &[], &[], None)
    );
    assert_eq!(sent[1], price_lookup("key:node-starter"));
    assert_eq!(
        sent[2],
        request(
            "POST",
            "/v1/prices",
            &[],
            &[
                ("product", "keys-key-node-starter"),
                ("unit_amount", "5900"),
                ("currency", "usd"),
                ("lookup_key", "key:node-starter"),
                ("transfer_lookup_key", "true"),
                ("metadata[sku]", "key:node-starter"),
            ],
            Some("keys-price-key:node-starter-5900-once"),
        )
    );
    assert_eq!(sent[3], price_lookup("key:node-starter"));
    // The old price is archived only after the new one holds the lookup key.
    assert_eq!(
        sent[4],
        request("POST", "/v1/prices/price_old", &[], &[("active", "false")], None)
    );
    assert_eq!(sent[7].path, "/v1/prices");
    assert_eq!(sent[7].form["recurring[interval]"], "month");
    assert_eq!(
        sent[9],
        request("POST", "/v1/prices/price_weekly", &[], &[("active", "false")], None)
    );

    let prices = fake.prices();
    let active: Vec<_> = prices
        .iter()
        .filter(|p| p["active"] == json!(true))
        .map(|p| (p["lookup_key"].clone(), p["unit_amount"].clone()))
        .collect();
    assert_eq!(
        active,
        [
            (json!("key:node-starter"), json!(5_900)),
            (json!("plan:pro:monthly"), json!(1_900))
        ]
    );

    // Checkout at the old price is now out of sync; at the new one it goes through.
    let stale = checkout_request("key:node-starter", CheckoutMode::Payment, usd(4_900), None);
    assert_eq!(
        gateway.create_checkout(&stale).await,
        Err(GatewayError::CatalogOutOfSync {
            sku: "key:node-starter".into()
        })
    );
    let fresh = checkout_request("key:node-starter", CheckoutMode::Payment, usd(5_900), None);
    gateway
        .create_checkout(&fresh)
        .await
        .expect("checkout at the new price");
}

#[tokio::test]
async fn changing_a_price_back_within_the_idempotency_window_revives_the_earlier_price() {
    let fake = FakeStripe::start().await;
    let gateway = gateway(&fake);
    let mut items = catalog();
    items.truncate(1);

    gateway.sync_catalog(&items).await.expect("4900");
    items[0].amount = usd(5_900);
    gateway.sync_catalog(&items).await.expect("5900");
    items[0].amount = usd(4_900);
    fake.take_requests();
    // Stripe replays the first 4900 price (same idempotency key and parameters), now archived.
    let report = gateway.sync_catalog(&items).await.expect("back to 4900");
    assert_eq!(
        report,
        SyncReport {
            prices_created: 1,
            prices_archived: 1,
            ..SyncReport::default()
        }
    );
    let sent = fake.take_requests();
    let first_price = fake.prices()[0]["id"].as_str().expect("id").to_owned();
    let second_price = fake.prices()[1]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        sent[2].idempotency_key.as_deref(),
        Some("keys-price-key:node-starter-4900-once")
    );
    // The replayed answer still says "active"; the lookup shows the 5900 price holds the key.
    assert_eq!(sent[3], price_lookup("key:node-starter"));
    assert_eq!(
        sent[4],
        request(
            "POST",
            &format!("/v1/prices/{first_price}"),
            &[],
            &[
                ("active", "true"),
                ("lookup_key", "key:node-starter"),
                ("transfer_lookup_key", "true")
            ],
            None,
        )
    );
    assert_eq!(
        sent[5],
        request(
            "POST",
            &format!("/v1/prices/{second_price}"),
            &[],
            &[("active", "false")],
            None
        )
    );
    assert_eq!(sent.len(), 6);
    let req = checkout_request("key:node-starter", CheckoutMode::Payment, usd(4_900), None);
    gateway.create_checkout(&req).await.expect("checkout at 4900 again");
}

#[tokio::test]
async fn a_stripe_error_answer_is_refused_with_its_message() {
    let fake = FakeStripe::start().await;
    let gateway = gateway(&fake);

    fake.fail_next(
        400,
        error_body("invalid_request_error", None, "No such customer: 'cus_gone'"),
    );
    assert_eq!(
        gateway.billing_portal("cus_gone", "https://keys.example/account").await,
        Err(GatewayError::Refused("No such customer: 'cus_gone'".into()))
    );

    fake.fail_next(
        402,
        json!({ "error": { "type": "card_error", "code": "card_declined", "message": "Your card was declined." } }),
    );
    assert_eq!(
        gateway.refund("pi_1", None, "k1").await,
        Err(GatewayError::Refused("Your card was declined.".into()))
    );

    // Not a Stripe error body at all (a proxy's page): still a refusal, not a panic.
    fake.fail_next(502, json!("Bad Gateway"));
    assert!(matches!(
        gateway.create_customer("user:1", "a@example.com").await,
        Err(GatewayError::Refused(_))
    ));

    // Reusing an idempotency key with other parameters is refused by Stripe.
    gateway.refund("pi_2", None, "k2").await.expect("first");
    assert!(matches!(
        gateway.refund("pi_3", None, "k2").await,
        Err(GatewayError::Refused(m)) if m.contains("same parameters")
    ));
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let gateway = StripeGateway::new(SECRET, Some(&format!("http://{addr}/"))).expect("gateway");

    assert!(matches!(
        gateway.create_customer("user:1", "a@example.com").await,
        Err(GatewayError::Unreachable(_))
    ));
    assert!(matches!(
        gateway.sync_catalog(&catalog()).await,
        Err(GatewayError::Unreachable(_))
    ));
}

#[test]
fn bad_configuration_is_reported() {
    assert!(matches!(
        StripeGateway::new("", None),
        Err(GatewayError::Unreachable(_))
    ));
    assert!(matches!(
        StripeGateway::new(SECRET, Some("not a url")),
        Err(GatewayError::Unreachable(_))
    ));
    // The default base needs no network to build.
    assert!(StripeGateway::new(SECRET, None).is_ok());
}

#[tokio::test]
async fn expiring_a_checkout_session_says_whether_it_can_still_be_paid() {
    let fake = FakeStripe::start().await;
    for (id, status) in [
        ("cs_test_open", "open"),
        ("cs_test_done", "complete"),
        ("cs_test_gone", "expired"),
    ] {
        fake.seed_session(json!({"id": id, "status": status, "payment_status": "unpaid", "payment_intent": null}));
    }
    let gateway = gateway(&fake);
    fake.take_requests();

    assert_eq!(gateway.expire_checkout("cs_test_open").await, Ok(true));
    let reqs = fake.take_requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/v1/checkout/sessions/cs_test_open/expire")
    );
    assert_eq!(fake.session("cs_test_open").unwrap()["status"], "expired");
    // Expiring again is harmless.
    assert_eq!(gateway.expire_checkout("cs_test_open").await, Ok(true));

    // A complete session (paid, or paying asynchronously) cannot be expired: never cancel it.
    fake.take_requests();
    assert_eq!(gateway.expire_checkout("cs_test_done").await, Ok(false));
    let reqs = fake.take_requests();
    let seen: Vec<(&str, &str)> = reqs.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/checkout/sessions/cs_test_done/expire"),
            ("GET", "/v1/checkout/sessions/cs_test_done")
        ]
    );
    assert_eq!(gateway.expire_checkout("cs_test_gone").await, Ok(true));
    assert!(matches!(
        gateway.expire_checkout("cs_test_missing").await,
        Err(GatewayError::Refused(_))
    ));
    assert!(matches!(
        gateway.expire_checkout("../customers").await,
        Err(GatewayError::Refused(_))
    ));
}
