//! Request metrics: a counter by method, route template and status, and a latency histogram
//! by method and route. The route is the matched template (`/marketplace/:slug`), never the
//! raw path, so the number of series stays bounded whatever clients send.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

fn latency_buckets() -> Histogram {
    // 0.5 ms … ~4 s.
    Histogram::new(exponential_buckets(0.000_5, 2.0, 14))
}

/// The HTTP families of one server process.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_buckets),
        }
    }
}

/// The label of a request no route matched (404s of arbitrary paths share one series).
pub(crate) const UNMATCHED: &str = "unmatched";

impl HttpMetrics {
    /// Registers the families (`keys_http_requests_total`, `keys_http_request_duration_seconds`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "keys_http_requests",
            "HTTP requests by method, route template and status",
            self.requests.clone(),
        );
        registry.register(
            "keys_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            self.duration.clone(),
        );
    }

    /// Counts one request.
    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }
}

/// A bounded method label: the standard methods, anything else as `other`.
pub(crate) fn method_label(m: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
