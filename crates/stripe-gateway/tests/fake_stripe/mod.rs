//! A local fake of the part of the Stripe API the gateway uses.
//!
//! It records every request (method, path, decoded query and form fields, `Idempotency-Key`,
//! `Stripe-Version`, `Authorization`) and answers like Stripe: objects start from Stripe's
//! published fixtures (`tests/fixtures/stripe_fixtures.json`) patched with the ids and amounts of
//! the request, lists are `{"object":"list",…}`, missing objects are 404 `resource_missing`,
//! duplicate ids are 400 `resource_already_exists`, and an idempotency key replays the first
//! successful answer (or is refused with other parameters), as Stripe does for 24 hours.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const FIXTURES: &str = include_str!("../fixtures/stripe_fixtures.json");

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub form: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub authorization: Option<String>,
}

/// The running fake; stops when dropped.
pub struct FakeStripe {
    /// `http://127.0.0.1:PORT/`.
    pub base: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A Stripe object from the fixtures.
pub fn fixture(resource: &str) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).expect("fixtures are JSON");
    let object = all["resources"][resource].clone();
    assert!(object.is_object(), "no fixture for {resource}");
    object
}

/// A Stripe error body.
pub fn error_body(type_: &str, code: Option<&str>, message: &str) -> Value {
    let mut error = json!({ "type": type_, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    json!({ "error": error })
}

/// A Price object as Stripe returns it.
pub fn price_object(
    id: &str,
    product: &str,
    amount: i64,
    currency: &str,
    interval: Option<&str>,
    lookup_key: Option<&str>,
) -> Value {
    let mut price = fixture("price");
    price["id"] = json!(id);
    price["product"] = json!(product);
    price["unit_amount"] = json!(amount);
    price["unit_amount_decimal"] = json!(amount.to_string());
    price["currency"] = json!(currency);
    price["lookup_key"] = json!(lookup_key);
    price["active"] = json!(true);
    price["custom_unit_amount"] = Value::Null;
    price["transform_quantity"] = Value::Null;
    match interval {
        Some(interval) => {
            price["type"] = json!("recurring");
            price["recurring"] = json!({
                "interval": interval,
                "interval_count": 1,
                "meter": null,
                "usage_type": "licensed",
                "trial_period_days": null
            });
        }
        None => {
            price["type"] = json!("one_time");
            price["recurring"] = Value::Null;
        }
    }
    price
}

impl FakeStripe {
    /// Starts the fake on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            base: format!("http://{addr}/"),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            base: format!("http://{addr}/"),
            state,
            server,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    /// Every request so far; forgets them.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.state().requests)
    }

    /// Adds a Price (as [`price_object`] builds it).
    pub fn seed_price(&self, price: Value) {
        self.state().prices.push(price);
    }

    /// Every Price, in creation order.
    pub fn prices(&self) -> Vec<Value> {
        self.state().prices.clone()
    }

    /// Adds a Product.
    pub fn seed_product(&self, id: &str, sku: &str, name: &str) {
        let mut product = fixture("product");
        product["id"] = json!(id);
        product["name"] = json!(name);
        product["metadata"] = json!({ "sku": sku });
        product["default_price"] = Value::Null;
        product["package_dimensions"] = Value::Null;
        self.state().products.insert(id.to_owned(), product);
    }

    /// Ids of every Product.
    pub fn product_ids(&self) -> Vec<String> {
        self.state().products.keys().cloned().collect()
    }

    /// Adds a Coupon: the fixture with `patch`'s fields.
    pub fn seed_coupon(&self, patch: Value) {
        let coupon = patched(fixture("coupon"), patch);
        let id = coupon["id"].as_str().expect("coupon id").to_owned();
        self.state().coupons.insert(id, coupon);
    }

    /// Adds a Checkout Session: the fixture with `patch`'s fields.
    pub fn seed_session(&self, patch: Value) {
        let session = patched(fixture("checkout.session"), patch);
        let id = session["id"].as_str().expect("session id").to_owned();
        self.state().sessions.insert(id, session);
    }

    /// The buyer pays a Checkout Session on Stripe's page: it becomes `complete` and `paid`.
    pub fn pay_session(&self, id: &str, payment_intent: &str) {
        let mut state = self.state();
        let session = state.sessions.get_mut(id).expect("known session");
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["payment_intent"] = json!(payment_intent);
    }

    /// A Checkout Session as the fake holds it now.
    pub fn session(&self, id: &str) -> Option<Value> {
        self.state().sessions.get(id).cloned()
    }

    /// Adds a Subscription `id` of `customer` with one item (`si_<id>`) on Price `price`: the
    /// fixture with those fields.
    pub fn seed_subscription(&self, id: &str, customer: &str, price: &str) {
        let mut sub = fixture("subscription");
        sub["id"] = json!(id);
        sub["customer"] = json!(customer);
        sub["status"] = json!("active");
        let mut state = self.state();
        let price_object = state
            .prices
            .iter()
            .find(|p| p["id"] == json!(price))
            .cloned()
            .expect("seeded price");
        let mut item = sub["items"]["data"][0].clone();
        item["id"] = json!(format!("si_{id}"));
        item["price"] = price_object;
        item["subscription"] = json!(id);
        sub["items"]["data"] = json!([item]);
        state.subscriptions.insert(id.to_owned(), sub);
    }

    /// A Subscription as the fake holds it now.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.state().subscriptions.get(id).cloned()
    }

    /// The next request (whatever it is) gets this answer.
    pub fn fail_next(&self, status: u16, body: Value) {
        self.state().fail_next = Some((status, body));
    }
}

fn patched(mut object: Value, patch: Value) -> Value {
    if let (Some(object), Value::Object(patch)) = (object.as_object_mut(), patch) {
        object.extend(patch);
    }
    object
}

async fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut recorded = Recorded {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: decode(req.uri().query().unwrap_or_default()),
        form: BTreeMap::new(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
        authorization: header("authorization"),
    };
    if recorded.method == "GET"
        && let Some(id) = recorded.path.strip_prefix("/c/pay/")
    {
        // The hosted checkout page a Checkout Session's `url` points at (browser tests land here).
        let html = format!(
            "<!doctype html><html><head><title>Fake Stripe Checkout</title></head>\
             <body><h1 id=\"fake-stripe-checkout\">Pay with the fake Stripe</h1><p>{id}</p></body></html>"
        );
        return Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .body(Full::new(Bytes::from(html)))
            .expect("response");
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    recorded.form = decode(std::str::from_utf8(&body).unwrap_or_default());
    let (status, answer) = state.lock().expect("fake state").answer(recorded);
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.to_string())))
        .expect("response")
}

/// Form or query fields; a repeated field shows up as `name#2` so exact comparisons notice it.
fn decode(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(text.as_bytes()).into_owned() {
        let mut name = key.clone();
        let mut n = 1;
        while fields.contains_key(&name) {
            n += 1;
            name = format!("{key}#{n}");
        }
        fields.insert(name, value);
    }
    fields
}

/// The `metadata[…]` fields of a form.
fn metadata(form: &BTreeMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((name.to_owned(), json!(v)))
        })
        .collect();
    Value::Object(map)
}

fn not_found(kind: &str, id: &str) -> (u16, Value) {
    (
        404,
        error_body(
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {kind}: '{id}'"),
        ),
    )
}

fn list(url: &str, data: Vec<Value>) -> Value {
    json!({ "object": "list", "data": data, "has_more": false, "url": url })
}

#[derive(Default)]
struct State {
    /// `http://127.0.0.1:PORT/`: Checkout Session URLs point at the fake's own checkout page.
    base: String,
    requests: Vec<Recorded>,
    next_id: u64,
    products: BTreeMap<String, Value>,
    prices: Vec<Value>,
    coupons: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Value>,
    subscriptions: BTreeMap<String, Value>,
    /// Idempotency key → (the request it was first used with, the answer).
    idempotent: HashMap<String, (String, u16, Value)>,
    fail_next: Option<(u16, Value)>,
}

impl State {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_fake{}", self.next_id)
    }

    fn answer(&mut self, request: Recorded) -> (u16, Value) {
        self.requests.push(request.clone());
        if let Some(failure) = self.fail_next.take() {
            return failure;
        }
        let Some(key) = request.idempotency_key.clone() else {
            return self.route(&request);
        };
        let fingerprint = format!("{} {} {:?}", request.method, request.path, request.form);
        if let Some((first, status, answer)) = self.idempotent.get(&key) {
            if *first == fingerprint {
                return (*status, answer.clone());
            }
            return (
                400,
                error_body(
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                ),
            );
        }
        let (status, answer) = self.route(&request);
        if status < 300 {
            self.idempotent.insert(key, (fingerprint, status, answer.clone()));
        }
        (status, answer)
    }

    fn route(&mut self, r: &Recorded) -> (u16, Value) {
        let form = &r.form;
        let field = |name: &str| form.get(name).cloned();
        let segments: Vec<&str> = r.path.trim_start_matches("/v1/").split('/').collect();
        match (r.method.as_str(), segments.as_slice()) {
            ("POST", ["customers"]) => {
                let mut customer = fixture("customer");
                customer["id"] = json!(self.new_id("cus"));
                customer["email"] = json!(field("email"));
                customer["metadata"] = metadata(form);
                (200, customer)
            }
            ("GET", ["prices"]) => {
                let keys: Vec<&String> = r
                    .query
                    .iter()
                    .filter(|(k, _)| k.starts_with("lookup_keys["))
                    .map(|(_, v)| v)
                    .collect();
                let active_only = r.query.get("active").map(String::as_str) == Some("true");
                let data = self
                    .prices
                    .iter()
                    .filter(|p| !active_only || p["active"] == json!(true))
                    .filter(|p| keys.is_empty() || keys.iter().any(|k| p["lookup_key"] == json!(k)))
                    .cloned()
                    .collect();
                (200, list("/v1/prices", data))
            }
            ("POST", ["prices"]) => {
                let lookup_key = field("lookup_key");
                if let Some(key) = &lookup_key {
                    let holder = self.prices.iter_mut().find(|p| p["lookup_key"] == json!(key));
                    if let Some(holder) = holder {
                        if field("transfer_lookup_key").as_deref() == Some("true") {
                            holder["lookup_key"] = Value::Null;
                        } else {
                            let message = format!("A price ({}) already uses the lookup key {key}.", holder["id"]);
                            return (400, error_body("invalid_request_error", None, &message));
                        }
                    }
                }
                let Some(product) = field("product") else {
                    return (400, error_body("invalid_request_error", None, "Missing product."));
                };
                if !self.products.contains_key(&product) {
                    return not_found("product", &product);
                }
                let amount = field("unit_amount").and_then(|a| a.parse().ok()).unwrap_or(0);
                let id = self.new_id("price");
                let mut price = price_object(
                    &id,
                    &product,
                    amount,
                    &field("currency").unwrap_or_default(),
                    field("recurring[interval]").as_deref(),
                    lookup_key.as_deref(),
                );
                price["metadata"] = metadata(form);
                self.prices.push(price.clone());
                (200, price)
            }
            ("POST", ["prices", id]) => {
                let Some(index) = self.prices.iter().position(|p| p["id"] == json!(id)) else {
                    return not_found("price", id);
                };
                if let Some(key) = field("lookup_key") {
                    if let Some(holder) = self.prices.iter_mut().find(|p| p["lookup_key"] == json!(key)) {
                        holder["lookup_key"] = Value::Null;
                    }
                    self.prices[index]["lookup_key"] = json!(key);
                }
                if let Some(active) = field("active") {
                    self.prices[index]["active"] = json!(active == "true");
                }
                (200, self.prices[index].clone())
            }
            ("GET", ["products", id]) => match self.products.get(*id) {
                Some(product) => (200, product.clone()),
                None => not_found("product", id),
            },
            ("POST", ["products"]) => {
                let id = field("id").unwrap_or_else(|| self.new_id("prod"));
                if self.products.contains_key(&id) {
                    return (
                        400,
                        error_body(
                            "invalid_request_error",
                            Some("resource_already_exists"),
                            "Product already exists.",
                        ),
                    );
                }
                let mut product = fixture("product");
                product["id"] = json!(id);
                product["name"] = json!(field("name"));
                product["metadata"] = metadata(form);
                product["default_price"] = Value::Null;
                product["package_dimensions"] = Value::Null;
                self.products.insert(id, product.clone());
                (200, product)
            }
            ("POST", ["coupons"]) => {
                let id = field("id").unwrap_or_else(|| self.new_id("coupon"));
                if self.coupons.contains_key(&id) {
                    return (
                        400,
                        error_body(
                            "invalid_request_error",
                            Some("resource_already_exists"),
                            "Coupon already exists.",
                        ),
                    );
                }
                let mut coupon = fixture("coupon");
                coupon["id"] = json!(id);
                coupon["amount_off"] = json!(field("amount_off").and_then(|a| a.parse::<i64>().ok()));
                coupon["percent_off"] = Value::Null;
                coupon["currency"] = json!(field("currency"));
                coupon["duration"] = json!(field("duration"));
                coupon["duration_in_months"] = Value::Null;
                coupon["max_redemptions"] = json!(field("max_redemptions").and_then(|a| a.parse::<i64>().ok()));
                coupon["name"] = json!(field("name"));
                coupon["redeem_by"] = Value::Null;
                self.coupons.insert(id, coupon.clone());
                (200, coupon)
            }
            ("GET", ["coupons", id]) => match self.coupons.get(*id) {
                Some(coupon) => (200, coupon.clone()),
                None => not_found("coupon", id),
            },
            ("POST", ["checkout", "sessions"]) => {
                let id = self.new_id("cs_test");
                let price = field("line_items[0][price]").unwrap_or_default();
                let Some(price) = self.prices.iter().find(|p| p["id"] == json!(price)).cloned() else {
                    return not_found("price", &price);
                };
                let discount = field("discounts[0][coupon]")
                    .and_then(|c| self.coupons.get(&c))
                    .and_then(|c| c["amount_off"].as_i64())
                    .unwrap_or(0);
                let subtotal = price["unit_amount"].as_i64().unwrap_or(0);
                let mut session = fixture("checkout.session");
                session["id"] = json!(id);
                session["url"] = json!(format!("{}c/pay/{id}", self.base));
                session["mode"] = json!(field("mode"));
                session["customer"] = json!(field("customer"));
                session["client_reference_id"] = json!(field("client_reference_id"));
                session["metadata"] = metadata(form);
                session["success_url"] = json!(field("success_url"));
                session["cancel_url"] = json!(field("cancel_url"));
                session["currency"] = price["currency"].clone();
                session["amount_subtotal"] = json!(subtotal);
                session["amount_total"] = json!((subtotal - discount).max(0));
                session["payment_intent"] = Value::Null;
                session["subscription"] = Value::Null;
                session["payment_status"] = json!("unpaid");
                session["status"] = json!("open");
                self.sessions.insert(id, session.clone());
                (200, session)
            }
            ("GET", ["checkout", "sessions", id]) => match self.sessions.get(*id) {
                Some(session) => (200, session.clone()),
                None => not_found("checkout.session", id),
            },
            ("POST", ["checkout", "sessions", id, "expire"]) => match self.sessions.get_mut(*id) {
                Some(session) if session["status"] == json!("open") => {
                    session["status"] = json!("expired");
                    session["url"] = Value::Null;
                    (200, session.clone())
                }
                Some(_) => (
                    400,
                    error_body(
                        "invalid_request_error",
                        None,
                        "Only Checkout Sessions with a status in [\"open\"] can be expired.",
                    ),
                ),
                None => not_found("checkout.session", id),
            },
            ("GET", ["subscriptions", id]) => match self.subscriptions.get(*id) {
                Some(sub) => (200, sub.clone()),
                None => not_found("subscription", id),
            },
            ("POST", ["subscriptions", id]) => {
                let price_id = field("items[0][price]");
                let price = price_id
                    .as_ref()
                    .and_then(|p| self.prices.iter().find(|x| x["id"] == json!(p)).cloned());
                let meta = metadata(form);
                let Some(sub) = self.subscriptions.get_mut(*id) else {
                    return not_found("subscription", id);
                };
                if let Some(item_id) = field("items[0][id]")
                    && sub["items"]["data"][0]["id"] != json!(item_id)
                {
                    return not_found("subscription_item", &item_id);
                }
                if let Some(price) = price {
                    sub["items"]["data"][0]["price"] = price;
                }
                if meta.as_object().is_some_and(|m| !m.is_empty()) {
                    sub["metadata"] = meta;
                }
                (200, sub.clone())
            }
            ("POST", ["refunds"]) => {
                let mut refund = fixture("refund");
                refund["id"] = json!(self.new_id("re"));
                refund["payment_intent"] = json!(field("payment_intent"));
                if let Some(amount) = field("amount").and_then(|a| a.parse::<i64>().ok()) {
                    refund["amount"] = json!(amount);
                }
                (200, refund)
            }
            ("POST", ["billing_portal", "sessions"]) => {
                let id = self.new_id("bps");
                let mut session = fixture("billing_portal.session");
                session["url"] = json!(format!("https://billing.stripe.com/p/session/{id}"));
                session["id"] = json!(id);
                session["customer"] = json!(field("customer"));
                session["return_url"] = json!(field("return_url"));
                session["flow"] = Value::Null;
                (200, session)
            }
            _ => (
                404,
                error_body(
                    "invalid_request_error",
                    None,
                    &format!("Unrecognized request URL ({}: {}).", r.method, r.path),
                ),
            ),
        }
    }
}
