//! The OpenAPI document as served at `/api/openapi.json`, and what it says about routes.
//!
//! poem-openapi generates the operations; this module completes the document with what holds
//! for every operation but no handler declares itself, so a client (and schemathesis, in CI)
//! can rely on it:
//!
//! * the download-issuance operation (a plain poem handler: its body is optional *and* may
//!   come without a content type);
//! * the error answers the middleware and poem-openapi give any operation — 400 (a parameter or
//!   body that does not parse), 401 (an unknown or expired token), 403 (a token whose scope does
//!   not allow the request), 413 (a body over the limit), 415 (not JSON), 503 — with one error
//!   schema, and 429 on the operations that are throttled;
//! * constraints the Rust types cannot carry: `format: email`, and that a grant names exactly
//!   one holder;
//! * the vocabularies of the catalog's query parameters, as patterns built from the same lists
//!   the server checks against.
//!
//! [`allowed_methods`] answers the `Allow` header of a 405 from the same document.

use std::sync::OnceLock;

use catalog::{Category, Intent, Kind, Role, Tier};
use poem::http::Method;
use serde_json::{Value, json};

/// The form of every SKU: `key:<slug>`, `bundle:<slug>`, `plan:<tier>:<monthly|annual>`.
pub const SKU_PATTERN: &str =
    "^((key|bundle):[a-z0-9-]{1,64}|plan:(starter|operator|scale|enterprise):(monthly|annual))$";

/// The finished document.
#[must_use]
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| build().to_string())
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "Machine-readable code."},
            "message": {"type": "string", "description": "For a person."},
            "field": {"type": "string", "nullable": true, "description": "The body field at fault, when there is one."},
            "parameter": {"type": "string", "nullable": true, "description": "The parameter at fault, when there is one."}
        }
    })
}

fn error_response(what: &str) -> Value {
    json!({"description": what, "content": {"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// `^(|a|b|c)$`: one of the values, or empty (an HTML form's "any").
fn one_of(values: &[&str]) -> String {
    format!("^(|{})$", values.join("|"))
}

/// `^(a|b)(,(a|b))*$` or empty: a comma-separated list of the values.
fn list_of(values: &[&str]) -> String {
    let alt = values.join("|");
    format!("^(|({alt})(,({alt}))*)$")
}

fn strs<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| f(*v)).collect()
}

fn download_operation() -> Value {
    json!({"post": {
        "tags": ["Me"],
        "summary": "A short-lived download link for a KEY the caller owns",
        "description": "Answers `{url, expires_at}` only to a signed-in (session cookie or `Authorization: Bearer` token of scope `download` or `admin`) caller entitled to the KEY. The link is HMAC-signed over account, KEY, version, archive digest and expiry (at most 5 minutes) and re-checks the entitlement when used. The body is optional; without it the current version is meant.",
        "operationId": "issue_download",
        "parameters": [{"name": "slug", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"version": {"type": "string", "description": "MAJOR.MINOR.PATCH; default: the current version"}},
            "additionalProperties": false
        }}}},
        "responses": {
            "200": {"description": "The link", "content": {"application/json; charset=utf-8": {"schema": {
                "type": "object",
                "required": ["url", "expires_at"],
                "properties": {"url": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}
            }}}},
            "400": error_response("The body is not `{\"version\": …}`"),
            "401": error_response("Not signed in"),
            "403": error_response("Signed in, not entitled (or a token without the `download` scope)"),
            "404": error_response("Unknown KEY or version"),
            "503": error_response("Storage failed; try again")
        }
    }})
}

fn build() -> Value {
    let api = crate::openapi_service();
    let Ok(mut spec) = serde_json::from_str::<Value>(&api.spec()) else {
        return json!({});
    };
    spec["components"]["schemas"]["Error"] = error_schema();
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return spec;
    };
    paths.insert("/keys/{slug}/download".into(), download_operation());

    let throttled = ["/auth/login", "/auth/signup", "/auth/password"];
    for (path, item) in paths.iter_mut() {
        let Some(ops) = item.as_object_mut() else { continue };
        for (method, op) in ops.iter_mut() {
            let changes = method != "get";
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            let mut add = vec![
                ("400", "A parameter or the body does not parse or is out of range"),
                ("401", "Not signed in, or the API token is unknown, revoked or expired"),
                (
                    "403",
                    "Not allowed (for an API token: its scope does not allow this request)",
                ),
                ("503", "Storage failed; try again shortly"),
            ];
            if changes {
                add.push(("413", "The body is over 64 KiB"));
                add.push((
                    "415",
                    "Not JSON: send `Content-Type: application/json` (or, with the session cookie, the `X-CSRF-Token` header)",
                ));
            }
            if throttled.contains(&path.as_str()) {
                add.push(("429", "Slowed down: retry after `Retry-After` seconds"));
            }
            for (status, what) in add {
                responses.entry(status).or_insert_with(|| error_response(what));
            }
        }
    }

    // Catalog vocabularies on the query parameters that take them.
    let kinds = strs(Kind::ALL, Kind::as_str);
    let tiers = strs(Tier::ALL, Tier::as_str);
    let roles = strs(Role::ALL, Role::as_str);
    let intents = strs(Intent::ALL, Intent::as_str);
    let categories = strs(Category::ALL, Category::as_str);
    let sorts = catalog::Sort::ACCEPTED;
    let patterns: [(&str, &str, String); 9] = [
        ("/keys", "kind", one_of(&kinds)),
        ("/keys", "tier", one_of(&tiers)),
        ("/keys", "role", one_of(&roles)),
        ("/keys", "intent", one_of(&intents)),
        ("/keys", "category", one_of(&categories)),
        ("/keys", "sort", one_of(sorts)),
        ("/recommendations", "role", one_of(&roles)),
        ("/recommendations", "intent", list_of(&intents)),
        ("/recommendations", "category", list_of(&categories)),
    ];
    for (path, name, pattern) in patterns {
        if let Some(params) = paths
            .get_mut(path)
            .and_then(|p| p.get_mut("get"))
            .and_then(|op| op.get_mut("parameters"))
            .and_then(Value::as_array_mut)
        {
            for p in params.iter_mut().filter(|p| p["name"] == name) {
                p["schema"]["pattern"] = json!(pattern);
            }
        }
    }
    // Numbers the server parses itself (to name the parameter in its answer).
    for (path, method, name, schema) in [
        (
            "/keys",
            "get",
            "page",
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 100_000}),
        ),
        (
            "/keys",
            "get",
            "per_page",
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": 100}),
        ),
        ("/quotes", "get", "org", json!({"type": "integer", "format": "int64"})),
        (
            "/me/subscriptions",
            "get",
            "org",
            json!({"type": "integer", "format": "int64"}),
        ),
        (
            "/me/subscriptions/{id}/cancel",
            "post",
            "org",
            json!({"type": "integer", "format": "int64"}),
        ),
        (
            "/me/subscriptions/{id}/resume",
            "post",
            "org",
            json!({"type": "integer", "format": "int64"}),
        ),
        (
            "/admin/disputes",
            "get",
            "state",
            json!({"type": "string", "enum": ["open", "all"]}),
        ),
    ] {
        if let Some(params) = paths
            .get_mut(path)
            .and_then(|p| p.get_mut(method))
            .and_then(|op| op.get_mut("parameters"))
            .and_then(Value::as_array_mut)
        {
            for p in params.iter_mut().filter(|p| p["name"] == name) {
                p["schema"] = schema.clone();
            }
        }
    }
    // SKUs: the form every SKU has (the server's own parser then names what is wrong, and a
    // well-formed SKU naming nothing is 404).
    if let Some(params) = paths
        .get_mut("/quotes")
        .and_then(|p| p.get_mut("get"))
        .and_then(|op| op.get_mut("parameters"))
        .and_then(Value::as_array_mut)
    {
        for p in params.iter_mut().filter(|p| p["name"] == "sku") {
            p["schema"]["pattern"] = json!(SKU_PATTERN);
        }
    }
    if let Some(params) = paths
        .get_mut("/admin/customers")
        .and_then(|p| p.get_mut("get"))
        .and_then(|op| op.get_mut("parameters"))
        .and_then(Value::as_array_mut)
    {
        for p in params.iter_mut().filter(|p| p["name"] == "email") {
            p["schema"]["format"] = json!("email");
        }
    }

    // Emails in bodies, and a grant names exactly one holder.
    let schemas = &mut spec["components"]["schemas"];
    for (schema, field) in [
        ("Credentials", "email"),
        ("GrantRequest", "email"),
        ("RecordOrderRequest", "email"),
        ("ResetRequest", "email"),
        ("NewInvite", "email"),
    ] {
        if schemas[schema]["properties"][field].is_object() {
            schemas[schema]["properties"][field]["format"] = json!("email");
        }
    }
    for (schema, field) in [
        ("Credentials", "password"),
        ("PasswordChange", "new_password"),
        ("ResetConfirm", "password"),
    ] {
        if schemas[schema]["properties"][field].is_object() {
            schemas[schema]["properties"][field]["minLength"] = json!(accounts::MIN_PASSWORD_CHARS);
        }
    }
    for schema in ["CheckoutBody", "RecordOrderRequest"] {
        if schemas[schema]["properties"]["sku"].is_object() {
            schemas[schema]["properties"]["sku"]["pattern"] = json!(SKU_PATTERN);
        }
    }
    if schemas["GrantRequest"].is_object() {
        schemas["GrantRequest"]["oneOf"] = json!([
            {"required": ["email"], "properties": {"email": {"type": "string"}, "organisation": {"not": {"type": "integer"}}}},
            {"required": ["organisation"], "properties": {"organisation": {"type": "integer"}, "email": {"not": {"type": "string"}}}}
        ]);
    }
    spec
}

/// The methods the document declares for an API path (`/api/v1/…`), or `None` when it
/// declares none (an unknown path).
#[must_use]
pub fn allowed_methods(path: &str) -> Option<Vec<Method>> {
    static TABLE: OnceLock<Vec<(Vec<String>, Vec<Method>)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let spec: Value = serde_json::from_str(document()).unwrap_or_default();
        spec["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(p, ops)| {
                        let segments = p.trim_matches('/').split('/').map(str::to_owned).collect();
                        let methods = ops
                            .as_object()
                            .map(|o| {
                                o.keys()
                                    .filter_map(|m| m.to_uppercase().parse::<Method>().ok())
                                    .collect()
                            })
                            .unwrap_or_default();
                        (segments, methods)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let rest = path.strip_prefix("/api/v1")?;
    let asked: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let mut out: Vec<Method> = Vec::new();
    for (segments, methods) in table {
        let matches = segments.len() == asked.len()
            && segments
                .iter()
                .zip(&asked)
                .all(|(s, a)| (s.starts_with('{') && s.ends_with('}') && !a.is_empty()) || s == a);
        if matches {
            for m in methods {
                if !out.contains(m) {
                    out.push(m.clone());
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether the document declares `method` on `path`.
#[must_use]
pub fn is_declared(method: &Method, path: &str) -> bool {
    allowed_methods(path).is_some_and(|m| m.contains(method) || (*method == Method::HEAD && m.contains(&Method::GET)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_middlewares_answers() {
        let spec: Value = serde_json::from_str(document()).unwrap();
        for (path, ops) in spec["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                for status in ["400", "401", "403", "503"] {
                    assert!(op["responses"][status].is_object(), "{method} {path} {status}");
                }
                if method != "get" {
                    assert!(op["responses"]["413"].is_object(), "{method} {path}");
                    assert!(op["responses"]["415"].is_object(), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn allowed_methods_come_from_the_document() {
        assert_eq!(
            allowed_methods("/api/v1/tokens").unwrap_or_default().len(),
            2,
            "GET and POST"
        );
        assert_eq!(allowed_methods("/api/v1/tokens/12"), Some(vec![Method::DELETE]));
        assert!(
            allowed_methods("/api/v1/orgs/3/members")
                .unwrap()
                .contains(&Method::GET)
        );
        assert!(allowed_methods("/api/v1/nope").is_none());
        assert!(is_declared(&Method::POST, "/api/v1/keys/kit/download"));
        assert!(!is_declared(&Method::TRACE, "/api/v1/auth/logout"));
        assert!(is_declared(&Method::HEAD, "/api/v1/keys"));
    }

    #[test]
    fn vocabulary_patterns_list_the_accepted_values() {
        let spec: Value = serde_json::from_str(document()).unwrap();
        let kind = spec["paths"]["/keys"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "kind")
            .unwrap()["schema"]["pattern"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(kind, "^(|node-next|runbook|jupyter)$");
    }
}
