//! Architecture invariants, checked mechanically from `cargo metadata`:
//!
//! 1. Every domain crate (catalog, discovery, pricing, upgrades, entitlements, accounts,
//!    payments — each by name) depends, directly or transitively, as a normal dependency, on no
//!    IO crate: no sea-orm, sqlx, poem, async-stripe, object_store, reqwest, hyper, tokio.
//! 2. Domain crates depend on no adapter or app crate of this workspace.
//! 3. Wall-clock time (`Utc::now()`, `SystemTime::now()`) is read only by the clock adapter
//!    (`infra::SystemClock`); everything else takes a `Clock`.
//! 4. The modules of `web` import each other without a cycle, and its feature folders only
//!    along the allowed edges.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

const DOMAIN: &[&str] = &[
    "catalog",
    "discovery",
    "pricing",
    "upgrades",
    "entitlements",
    "accounts",
    "payments",
    "mail",
    // Not a domain of its own: the pure leaf `payments` verifies webhooks with, held to the
    // same rules.
    "stripe-signature",
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
    "async-stripe-types",
    "async-stripe-checkout",
    "async-stripe-core",
    "stripe-gateway",
    "payments-local",
    "migrations",
    "storage-sql",
    "blob-store",
    "web",
    "infra",
    "ingest",
];

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn domain_crates_depend_on_no_io_crate() {
    let meta = metadata();
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
    let mut checked = BTreeSet::new();
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
        checked.insert(names[id]);
    }
    let expected: BTreeSet<&str> = DOMAIN.iter().copied().collect();
    assert_eq!(
        checked, expected,
        "every domain crate must be a workspace member and checked"
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Source without `//` comments and without the `#[cfg(test)] mod tests` block at the end.
fn code_of(text: &str) -> String {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    match code.find("#[cfg(test)]") {
        Some(i) => code[..i].to_owned(),
        None => code,
    }
}

#[test]
fn wall_clock_time_is_read_only_by_the_clock_adapter() {
    let root = workspace_root();
    let adapter = root.join("crates/infra/src/lib.rs");
    let mut offenders = Vec::new();
    let mut seen_adapter = false;
    for top in ["crates", "apps", "migrations"] {
        for dir in std::fs::read_dir(root.join(top)).unwrap().flatten() {
            let src = if top == "migrations" {
                root.join("migrations/src")
            } else {
                dir.path().join("src")
            };
            if !src.is_dir() {
                continue;
            }
            for file in rust_files(&src) {
                let text = std::fs::read_to_string(&file).unwrap();
                let code = code_of(&text);
                for needle in ["Utc::now()", "SystemTime::now()", "Local::now()"] {
                    if code.contains(needle) {
                        if file.canonicalize().unwrap() == adapter.canonicalize().unwrap() {
                            seen_adapter = true;
                        } else {
                            offenders.push(format!("{}: {needle}", file.display()));
                        }
                    }
                }
            }
            if top == "migrations" {
                break;
            }
        }
    }
    offenders.sort();
    offenders.dedup();
    assert!(seen_adapter, "the clock adapter moved: update this test");
    assert!(
        offenders.is_empty(),
        "take a `Clock` instead of reading the wall clock: {offenders:?}"
    );
}

/// `web`'s modules (`a::b` from `src/a/b.rs`) and what each names with `crate::…`.
fn web_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace_root().join("crates/web/src");
    let mut modules = BTreeMap::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
            parts.pop();
        }
        modules.insert(parts.join("::"), code_of(&std::fs::read_to_string(&file).unwrap()));
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let resolve = |path: &str| -> Option<String> {
        let segs: Vec<&str> = path.split("::").collect();
        (1..=segs.len())
            .rev()
            .map(|i| segs[..i].join("::"))
            .find(|c| names.contains(c))
    };
    let mut edges = BTreeMap::new();
    for (module, code) in &modules {
        let mut to = BTreeSet::new();
        let mut paths: Vec<String> = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::b, c};`
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                paths.extend(inner.split(',').map(|p| p.trim().to_owned()));
            } else {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                paths.push(rest[..end].trim_end_matches(':').to_owned());
            }
        }
        for p in paths {
            if let Some(target) = resolve(&p)
                && target != *module
                && !target.is_empty()
            {
                to.insert(target);
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

#[test]
fn web_modules_have_no_import_cycle() {
    let edges = web_imports();
    assert!(edges.len() > 20, "web's modules were not read: {:?}", edges.keys());
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(m, 1);
        path.push(m);
        for next in edges.get(m).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|p| *p == next).unwrap();
                    let mut cycle: Vec<String> = path[start..].iter().map(|s| (*s).to_owned()).collect();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, edges, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        if !state.contains_key(m.as_str())
            && let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new())
        {
            panic!("import cycle in web: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn web_feature_folders_depend_only_along_allowed_edges() {
    // The shared layer (`http`, `snapshot`) depends on no feature; `discover` only on the shared
    // layer; the other features on the shared layer and `discover`; `browse` also reads
    // `access` (a KEY page shows whether it is owned).
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("http", &["snapshot"][..]),
        ("snapshot", &[][..]),
        ("discover", &["http", "snapshot"][..]),
        ("identity", &["http", "snapshot", "discover"][..]),
        ("access", &["http", "snapshot", "discover"][..]),
        ("shop", &["http", "snapshot", "discover"][..]),
        ("browse", &["http", "snapshot", "discover", "access"][..]),
        ("legal", &["http"][..]),
    ]);
    let mut bad = Vec::new();
    for (module, targets) in web_imports() {
        let from = module.split("::").next().unwrap_or_default();
        if from.is_empty() {
            continue; // lib.rs: the router names every feature
        }
        let Some(ok) = allowed.get(from) else {
            bad.push(format!("{module}: a new feature folder; add it to this test"));
            continue;
        };
        for t in targets {
            let to = t.split("::").next().unwrap_or_default();
            if !to.is_empty() && to != from && !ok.contains(&to) {
                bad.push(format!("{module} -> {t}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "web feature dependencies outside the allowed edges: {bad:?}"
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

/// Issue 19: every port of a domain crate (a `pub trait …: Send + Sync`) has a mockall mock, and
/// both the trait and its mock are reachable at the same path in every crate:
/// `<crate>::ports::<Port>` and `<crate>::ports::Mock<Port>` (with the `mock` feature).
#[test]
fn every_port_has_a_mock_under_ports() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut ports = 0;
    for krate in DOMAIN {
        let src = root.join("crates").join(krate).join("src");
        // A crate without ports (pricing, stripe-signature) needs no ports.rs; one with ports
        // declares or re-exports every one there.
        let ports_rs = std::fs::read_to_string(src.join("ports.rs")).unwrap_or_default();
        for file in rust_files(&src) {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let Some(rest) = line.strip_prefix("pub trait ") else {
                    continue;
                };
                if !rest.contains("Send + Sync") {
                    continue;
                }
                ports += 1;
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let attrs = lines[i.saturating_sub(3)..i].join("\n");
                if !attrs.contains("mockall::automock") {
                    problems.push(format!("{krate}::{name} ({}) has no mockall::automock", file.display()));
                }
                let in_ports = file.ends_with("ports.rs")
                    || (ports_rs.contains(&format!("::{name};")) && ports_rs.contains(&format!("::Mock{name};")));
                if !in_ports {
                    problems.push(format!(
                        "{krate}::{name}: not re-exported with Mock{name} from {krate}::ports"
                    ));
                }
            }
        }
    }
    assert!(ports >= 15, "found only {ports} ports: the scan is broken");
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The pure crates a developer reuses: the domain crates and the signature checker.
const REUSABLE: &[&str] = &[
    "catalog",
    "discovery",
    "pricing",
    "upgrades",
    "entitlements",
    "accounts",
    "payments",
    "mail",
    "stripe-signature",
];

fn rust_version(v: &str) -> (u64, u64) {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Issue 19: each reusable crate declares the lowest `rust-version` that its own code and its
/// normal dependencies allow — not the workspace's 1.94, which only sea-orm needs. The floor is
/// the highest of: edition 2024 (1.85), let chains in its source (1.88), and every normal
/// dependency's own `rust-version` (transitively). Library APIs newer than the declared version
/// are caught by clippy's `incompatible_msrv` lint, which reads the same field (CI runs clippy
/// with `-D warnings`).
#[test]
fn domain_crates_declare_their_own_lowest_rust_version() {
    let meta = metadata();
    let packages: HashMap<&str, &serde_json::Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let nodes: HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = workspace_root();
    let mut problems = Vec::new();
    for krate in REUSABLE {
        let (id, package) = packages
            .iter()
            .find(|(_, p)| p["name"] == *krate && p["source"].is_null())
            .unwrap_or_else(|| panic!("{krate} is not a workspace package"));
        let declared = package["rust_version"]
            .as_str()
            .unwrap_or_else(|| panic!("{krate} declares no rust-version"));
        let mut floor = ((1, 85), "edition 2024".to_owned());
        let src = root.join("crates").join(krate).join("src");
        if rust_files(&src).iter().any(|f| {
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            code.contains("&& let ") || code.lines().any(|l| l.trim_start().starts_with("&& let "))
        }) && (1, 88) > floor.0
        {
            floor = ((1, 88), "let chains in its source".to_owned());
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![*id];
        while let Some(at) = stack.pop() {
            for dep in nodes[at]["deps"].as_array().unwrap() {
                let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
                let pkg = dep["pkg"].as_str().unwrap();
                if normal && seen.insert(pkg) {
                    stack.push(pkg);
                    if let Some(v) = packages[pkg]["rust_version"].as_str()
                        && rust_version(v) > floor.0
                    {
                        floor = (rust_version(v), format!("{} {}", packages[pkg]["name"], v));
                    }
                }
            }
        }
        if rust_version(declared) != floor.0 {
            problems.push(format!(
                "{krate}: declares rust-version {declared}, the lowest allowed is {}.{} ({})",
                floor.0.0, floor.0.1, floor.1
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
