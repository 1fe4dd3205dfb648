//! Benchmark (not a test): ranking a 10 000-KEY catalog for a buyer with 1 000 signals, 50
//! owned KEYS, co-purchase statistics and 100 bundles. Prints p50/p99/max over 2 000 runs.
//! Run: `cargo bench -p discovery` (release profile). Target: p99 ≤ 1 ms.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use catalog::{Category, Intent, KeyMetadata, Kind, Role, Slug, Tier};
use chrono::{Duration, TimeZone, Utc};
use discovery::{Context, Positions, Profile, Signal, SignalKind, Weights, recommend_with};

fn pick<T: Copy>(all: &[T], n: usize, salt: usize) -> Vec<T> {
    (0..n).map(|i| all[(salt * 7 + i * 13) % all.len()]).collect()
}

#[allow(clippy::print_stdout)]
fn main() {
    let keys: Vec<KeyMetadata> = (0..10_000)
        .map(|i| KeyMetadata {
            slug: format!("synthetic-key-{i:05}").parse().unwrap(),
            name: format!("Synthetic KEY {i}"),
            kind: Kind::ALL[i % Kind::ALL.len()],
            tier: Tier::ALL[(i / 3) % Tier::ALL.len()],
            summary: String::new(),
            description: String::new(),
            roles: pick(Role::ALL, 2, i),
            intents: pick(Intent::ALL, 3, i + 1),
            categories: pick(Category::ALL, 2, i + 2),
            tags: Vec::new(),
        })
        .collect();
    let refs: Vec<&KeyMetadata> = keys.iter().collect();
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let slug = |i: usize| -> Slug { keys[i % keys.len()].slug.clone() };
    let owned: BTreeSet<Slug> = (0..50).map(|i| slug(i * 197)).collect();
    let signals: Vec<Signal> = (0..1_000)
        .map(|i| Signal {
            kind: SignalKind::View(slug(i * 31)),
            at: now - Duration::hours(i as i64),
        })
        .collect();
    let mut co: BTreeMap<Slug, Vec<(Slug, u32)>> = BTreeMap::new();
    for i in 0..2_000 {
        co.entry(slug(i * 17))
            .or_default()
            .push((slug((i % 50) * 197), (i % 9) as u32 + 1));
    }
    let bundles: Vec<(String, Vec<Slug>)> = (0..100)
        .map(|b| (format!("Bundle {b}"), (0..5).map(|j| slug(b * 101 + j * 7)).collect()))
        .collect();
    let ctx = Context {
        profile: Profile {
            role: Some(Role::Sre),
            intents: vec![Intent::RespondToIncidents, Intent::MonitorSystems],
            categories: vec![Category::IncidentResponse],
        },
        owned,
        signals: signals.into(),
        co_purchases: co,
        bundles,
        now,
    };
    let w = Weights::default();
    // Built once per catalog revision by the server (`web::cache`).
    let positions = Positions::new(&refs);
    for _ in 0..50 {
        std::hint::black_box(recommend_with(&refs, &positions, &ctx, &w, 10));
    }
    let mut times: Vec<u128> = (0..2_000)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(recommend_with(&refs, &positions, &ctx, &w, 10));
            t.elapsed().as_micros()
        })
        .collect();
    times.sort_unstable();
    // The same with only the profile rules (no buyer data), to show where time goes.
    let bare = Context {
        profile: ctx.profile.clone(),
        now,
        ..Context::default()
    };
    let mut base: Vec<u128> = (0..500)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(recommend_with(&refs, &positions, &bare, &w, 10));
            t.elapsed().as_micros()
        })
        .collect();
    base.sort_unstable();
    println!(
        "| ranking 10 000 KEYS, profile rules only (500 runs) | p50 {} µs |",
        base[250]
    );
    // "Pairs well with" on a KEY page: the same buyer data, anchored on one KEY.
    let anchor = refs[4_242];
    let mut pairs: Vec<u128> = (0..500)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(discovery::pairs_with(anchor, &refs, &positions, &ctx, &w, 4));
            t.elapsed().as_micros()
        })
        .collect();
    pairs.sort_unstable();
    println!(
        "| pairs with one KEY, 10 000 KEYS, 1 000 signals, 50 owned (500 runs) | p50 {} µs, p99 {} µs |",
        pairs[250], pairs[495]
    );
    // Percentile by integer arithmetic: `per_mille` of the sorted runs.
    let p = |per_mille: usize| times[(times.len() * per_mille / 1_000).min(times.len() - 1)];
    println!(
        "| ranking 10 000 KEYS, 1 000 signals, 50 owned (2 000 runs) | p50 {} µs, p99 {} µs, max {} µs |",
        p(500),
        p(990),
        times[times.len() - 1]
    );
}
