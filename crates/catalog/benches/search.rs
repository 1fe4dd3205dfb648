//! Benchmark (not a test): catalog search over 10 000 synthetic KEYS whose names and texts are
//! built from a vocabulary of 60 technology words. Prints p50/p99 per query over 2 000 runs.
//! Run: `cargo bench -p catalog --features fixtures` (release profile).
//!
//! Queries: a one-word hit, a two-word hit with a filter, a typo that is corrected
//! ("kubernets" → "kubernetes"), and a word that matches nothing (the worst case for the typo
//! search: it scans every indexed word of the same first letter).

use std::time::Instant;

use catalog::{CatalogIndex, CatalogQuery, Kind, Tier, fixtures};

const WORDS: &[&str] = &[
    "postgres",
    "kubernetes",
    "terraform",
    "stripe",
    "redis",
    "nginx",
    "prometheus",
    "grafana",
    "oauth",
    "webhook",
    "failover",
    "backup",
    "restore",
    "incident",
    "deploy",
    "rollback",
    "migration",
    "latency",
    "billing",
    "invoice",
    "checkout",
    "session",
    "cluster",
    "replica",
    "ingress",
    "secrets",
    "vault",
    "audit",
    "compliance",
    "churn",
    "forecast",
    "cohort",
    "pipeline",
    "notebook",
    "pandas",
    "dashboard",
    "alerting",
    "tracing",
    "logging",
    "metrics",
    "docker",
    "helm",
    "ansible",
    "linux",
    "kernel",
    "network",
    "firewall",
    "certificate",
    "tenant",
    "onboarding",
    "pricing",
    "subscription",
    "refund",
    "dispute",
    "payments",
    "search",
    "indexing",
    "caching",
    "queue",
    "scheduler",
];

fn word(i: usize) -> &'static str {
    WORDS[i % WORDS.len()]
}

#[allow(clippy::print_stdout)]
fn main() {
    let keys = (0..10_000)
        .map(|i| {
            let kind = Kind::ALL[i % Kind::ALL.len()];
            let tier = Tier::ALL[(i / 3) % Tier::ALL.len()];
            let mut k = fixtures::key_of(&format!("synthetic-key-{i:05}"), kind, tier);
            k.meta.name = format!("{} {} kit {i}", word(i * 7), word(i * 11 + 3));
            k.meta.summary = format!("{} and {} for {} teams", word(i * 5 + 1), word(i * 13 + 2), word(i + 9));
            k.meta.description = (0..30).map(|j| word(i * 17 + j * 29)).collect::<Vec<_>>().join(" ");
            k.meta.tags = vec![word(i * 3).to_owned(), word(i * 19 + 4).to_owned()];
            k
        })
        .collect();
    let index = CatalogIndex::new(keys, 1);
    let queries: &[(&str, &[(&str, &str)])] = &[
        ("q=postgres", &[("q", "postgres")]),
        (
            "q=postgres failover&kind=runbook",
            &[("q", "postgres failover"), ("kind", "runbook")],
        ),
        ("q=kubernets (typo)", &[("q", "kubernets")]),
        ("q=zzzzzzzz (no match)", &[("q", "zzzzzzzz")]),
        ("no text, tier=operator", &[("tier", "operator")]),
    ];
    println!("| catalog search, 10 000 KEYS (2 000 runs) | hits | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (label, params) in queries {
        let q = CatalogQuery::from_params(params.iter().copied()).expect("valid query");
        for _ in 0..50 {
            std::hint::black_box(index.search(&q));
        }
        let mut times: Vec<u128> = (0..2_000)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(index.search(&q));
                t.elapsed().as_micros()
            })
            .collect();
        times.sort_unstable();
        let hits = index.search(&q).total;
        println!("| `{label}` | {hits} | {} µs | {} µs |", times[1_000], times[1_980]);
    }
}
