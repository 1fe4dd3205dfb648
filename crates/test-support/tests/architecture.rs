//! Architecture invariants, checked mechanically from `cargo metadata`:
//!
//! 1. Domain crates (catalog, discovery, pricing, upgrades, entitlements) depend — directly or
//!    transitively, as normal dependencies — on no IO crate: no sea-orm, sqlx, poem,
//!    async-stripe, object_store, reqwest, hyper, tokio.
//! 2. Domain crates depend on no adapter or app crate of this workspace.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

const DOMAIN: &[&str] = &[
    "catalog",
    "discovery",
    "pricing",
    "upgrades",
    "entitlements",
    "accounts",
    "payments",
];
const IO_CRATES: &[&str] = &[
    "sea-orm",
    "sea-orm-migration",
    "sqlx",
    "sqlx-core",
    "poem",
    "poem-openapi",
    "object_store",
    "reqwest",
    "hyper",
    "tokio",
    "mio",
    "async-stripe",
    "async-stripe-shared",
    "migrations",
    "storage-sql",
    "blob-store",
    "web",
    "infra",
    "ingest",
];

#[test]
fn domain_crates_depend_on_no_io_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, Vec<&str>> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let normal = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
                .map(|d| d["pkg"].as_str().unwrap())
                .collect();
            (n["id"].as_str().unwrap(), normal)
        })
        .collect();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let mut checked = 0;
    for id in members.iter().filter(|id| DOMAIN.contains(&names[*id])) {
        let mut seen = BTreeSet::new();
        let mut stack = vec![*id];
        while let Some(cur) = stack.pop() {
            for dep in &nodes[cur] {
                if seen.insert(names[dep]) {
                    stack.push(dep);
                }
            }
        }
        let bad: Vec<_> = seen.iter().filter(|n| IO_CRATES.contains(n)).collect();
        assert!(
            bad.is_empty(),
            "domain crate `{}` depends on IO crates {bad:?}",
            names[id]
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected catalog, entitlements and accounts; checked {checked}"
    );
}

/// The quick-xml advisories ignored in `deny.toml` need untrusted XML to be parsed: no crate or
/// app of this workspace may take an XML body (poem's `Xml` extractor, poem-openapi's `Xml`
/// payload) or call quick-xml itself.
#[test]
fn no_xml_is_ever_parsed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut offenders = Vec::new();
    for top in ["crates", "apps"] {
        let mut stack = vec![root.join(top)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests/architecture.rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for needle in ["web::Xml", "payload::Xml", "quick_xml", "PlainXml", "Xml<"] {
                        if text.contains(needle) {
                            offenders.push(format!("{}: {needle}", path.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "XML parsing would reach the ignored advisories: {offenders:?}"
    );
}
