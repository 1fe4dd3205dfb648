//! Profiles, signals, weights and the ranking rules.

use std::collections::{BTreeMap, BTreeSet};

use catalog::{Category, Intent, KeyMetadata, Role, Slug, Tier};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The weights file, relative to the assets directory.
pub const DISCOVERY_FILE: &str = "discovery.toml";

/// What a buyer said about themselves (the same vocabularies as the KEY manifests).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Their role.
    pub role: Option<Role>,
    /// What they want to do.
    pub intents: Vec<Intent>,
    /// Problems they want solved.
    pub categories: Vec<Category>,
}

impl Profile {
    /// A persona: someone in `role` who wants `intents`.
    #[must_use]
    pub fn for_role(role: Role, intents: impl IntoIterator<Item = Intent>) -> Self {
        Self {
            role: Some(role),
            intents: intents.into_iter().collect(),
            categories: Vec::new(),
        }
    }

    /// Whether nothing is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.intents.is_empty() && self.categories.is_empty()
    }
}

/// What a recorded signal says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum SignalKind {
    /// Viewed a KEY page.
    View(Slug),
    /// Bought a KEY.
    Purchase(Slug),
    /// Chose a role.
    Role(Role),
    /// Chose an intent.
    Intent(Intent),
    /// Chose a problem category.
    Category(Category),
}

impl SignalKind {
    /// Its kind as stored (`view`, `purchase`, `role`, `intent`, `category`) and its value
    /// (a KEY slug or a vocabulary value) — the same spelling as its JSON form.
    #[must_use]
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            SignalKind::View(s) => ("view", s.as_str()),
            SignalKind::Purchase(s) => ("purchase", s.as_str()),
            SignalKind::Role(r) => ("role", r.as_str()),
            SignalKind::Intent(i) => ("intent", i.as_str()),
            SignalKind::Category(c) => ("category", c.as_str()),
        }
    }
}

/// A recorded signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// What.
    pub kind: SignalKind,
    /// When.
    pub at: DateTime<Utc>,
}

/// Points per rule, from `discovery.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// The KEY is for the buyer's role.
    pub role_match: u32,
    /// Per goal of the buyer the KEY serves (at most two count).
    pub intent_match: u32,
    /// Per problem the buyer named that the KEY solves (at most two count).
    pub category_match: u32,
    /// Per owned KEY other buyers also bought with it (at most two count).
    pub co_purchase: u32,
    /// Sold in a bundle with a KEY the buyer owns.
    pub bundle_pair: u32,
    /// Same kind, one tier above the highest owned of that kind.
    pub next_tier: u32,
    /// Viewed recently, not owned.
    pub recently_viewed: u32,
    /// What "recently" means, in days.
    pub recent_view_days: u32,
    /// Fewest co-buyers for the co-purchase rule to count.
    pub co_purchase_min_buyers: u32,
}

/// A problem with the weights file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct WeightsError {
    /// The file.
    pub file: String,
    /// What is wrong (naming the field).
    pub reason: String,
}

impl Weights {
    /// Parses and checks the weights file: every weight present, between 0 and 1000, at least
    /// one profile rule positive, `recent_view_days` between 1 and 365.
    ///
    /// # Errors
    /// [`WeightsError`] naming the field.
    pub fn parse(text: &str, file: &str) -> Result<Self, WeightsError> {
        let err = |reason: String| WeightsError {
            file: file.to_owned(),
            reason,
        };
        let w: Weights = toml::from_str(text).map_err(|e| err(e.message().to_owned()))?;
        for (name, v) in [
            ("role_match", w.role_match),
            ("intent_match", w.intent_match),
            ("category_match", w.category_match),
            ("co_purchase", w.co_purchase),
            ("bundle_pair", w.bundle_pair),
            ("next_tier", w.next_tier),
            ("recently_viewed", w.recently_viewed),
        ] {
            if v > 1_000 {
                return Err(err(format!("field `{name}`: {v} is above 1000")));
            }
        }
        if w.role_match + w.intent_match + w.category_match == 0 {
            return Err(err("role_match, intent_match and category_match cannot all be 0".into()));
        }
        if !(1..=365).contains(&w.recent_view_days) {
            return Err(err("field `recent_view_days`: must be between 1 and 365".into()));
        }
        Ok(w)
    }
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            role_match: 30,
            intent_match: 25,
            category_match: 20,
            co_purchase: 15,
            bundle_pair: 12,
            next_tier: 10,
            recently_viewed: 8,
            recent_view_days: 14,
            co_purchase_min_buyers: 1,
        }
    }
}

/// Everything the rules look at besides the catalog.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// What the buyer said.
    pub profile: Profile,
    /// KEYS the buyer can access now (never recommended).
    pub owned: BTreeSet<Slug>,
    /// The buyer's recent signals (views count for the recently-viewed rule). Shared, so a
    /// remembered history is handed to every request without copying it.
    pub signals: std::sync::Arc<[Signal]>,
    /// For candidate KEYS: owned KEYS other buyers bought with them, and how many buyers.
    pub co_purchases: BTreeMap<Slug, Vec<(Slug, u32)>>,
    /// Bundles: title and members.
    pub bundles: Vec<(String, Vec<Slug>)>,
    /// Now.
    pub now: DateTime<Utc>,
}

impl Context {
    /// A buyer who said `profile` and owns nothing, with no history, at `now`.
    #[must_use]
    pub fn for_profile(profile: Profile, now: DateTime<Utc>) -> Self {
        Self {
            profile,
            now,
            ..Self::default()
        }
    }

    /// With KEYS the buyer can access (never recommended; they feed the co-purchase, bundle
    /// and next-tier rules).
    #[must_use]
    pub fn owning(mut self, slugs: impl IntoIterator<Item = Slug>) -> Self {
        self.owned.extend(slugs);
        self
    }
}

/// One recommended KEY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// The KEY.
    pub slug: Slug,
    /// Points from every rule that matched.
    pub score: u32,
    /// Why, in plain language (never empty).
    pub reasons: Vec<String>,
}

/// A vocabulary value for people: `sre` → "SRE", `incident-response` → "incident response".
#[must_use]
pub fn human(value: &str) -> String {
    catalog::words(value)
}

fn tier_rank(t: Tier) -> usize {
    t as usize
}

fn kind_rank(k: catalog::Kind) -> usize {
    k as usize
}

// `Prep::highest` has a slot per kind.
const _: () = assert!(catalog::Kind::ALL.len() <= 8);

/// Where the rules read a KEY's metadata from: a `&KeyMetadata`, or a server's cached
/// `Arc<Key>`s (so a request ranks the snapshot as it is, without copying it).
pub trait AsMetadata {
    /// The KEY's metadata.
    fn metadata(&self) -> &KeyMetadata;
}

impl AsMetadata for KeyMetadata {
    fn metadata(&self) -> &KeyMetadata {
        self
    }
}

impl AsMetadata for catalog::Key {
    fn metadata(&self) -> &KeyMetadata {
        &self.meta
    }
}

impl<T: AsMetadata + ?Sized> AsMetadata for &T {
    fn metadata(&self) -> &KeyMetadata {
        (**self).metadata()
    }
}

impl<T: AsMetadata + ?Sized> AsMetadata for std::sync::Arc<T> {
    fn metadata(&self) -> &KeyMetadata {
        (**self).metadata()
    }
}

/// A hash map with a fast non-cryptographic hasher: keys are slugs and positions of our own
/// catalog, not attacker-chosen in bulk.
type FastMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Where each KEY sits in a catalog slice: build it once per catalog revision (with the slice
/// in the order it will be passed) and rank with [`recommend_with`]; lookups then cost a hash,
/// not a string comparison per step of a search.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    map: FastMap<Slug, usize>,
    sorted: bool,
    /// Per KEY, in one contiguous array (the scoring loop never follows a pointer).
    facts: Vec<Facts>,
}

/// What the profile rules look at of a KEY.
#[derive(Debug, Clone, Copy, Default)]
struct Facts {
    /// Roles, intents and categories as bit sets (bit = position in `ALL`).
    roles: u64,
    intents: u64,
    categories: u64,
    /// Position of its kind in `Kind::ALL`, of its tier in `Tier::ALL`.
    kind: u8,
    tier: u8,
}

fn bit<T: PartialEq>(all: &[T], v: &T) -> u64 {
    all.iter().position(|x| x == v).map_or(0, |i| 1u64 << (i % 64))
}

fn mask<T: PartialEq>(all: &[T], values: &[T]) -> u64 {
    values.iter().fold(0, |m, v| m | bit(all, v))
}

impl Positions {
    /// Indexes `keys` (in this order).
    #[must_use]
    pub fn new<K: AsMetadata>(keys: &[K]) -> Self {
        Self {
            map: keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.metadata().slug.clone(), i))
                .collect(),
            sorted: keys.windows(2).all(|p| p[0].metadata().slug <= p[1].metadata().slug),
            facts: keys
                .iter()
                .map(|k| {
                    let k = k.metadata();
                    Facts {
                        roles: mask(Role::ALL, &k.roles),
                        intents: mask(Intent::ALL, &k.intents),
                        categories: mask(Category::ALL, &k.categories),
                        kind: k.kind as u8,
                        tier: k.tier as u8,
                    }
                })
                .collect(),
        }
    }

    fn get(&self, slug: &Slug) -> Option<usize> {
        self.map.get(slug).copied()
    }

    /// Whether the indexed slice was in slug order: then ties between equal scores and tiers
    /// are broken by position (an integer), the fast path; otherwise by comparing slugs.
    #[must_use]
    pub fn is_slug_ordered(&self) -> bool {
        self.sorted
    }
}

/// What the rules look up for every candidate, computed once per ranking (so ranking is
/// linear in the catalog, not quadratic).
struct Prep<'a, K> {
    /// The catalog (names for reasons) and its positions.
    keys: &'a [K],
    positions: &'a Positions,
    /// Highest owned tier per kind (index: the kind's position in `Kind::ALL`).
    highest: [Option<usize>; 8],
    /// Latest recent view per KEY.
    viewed: FastMap<usize, DateTime<Utc>>,
    /// For each KEY in a bundle with an owned KEY: the bundle's title and that owned KEY.
    bundle_pair: FastMap<usize, (&'a str, &'a Slug)>,
}

impl<K> Prep<'_, K> {
    fn highest_of(&self, kind: catalog::Kind) -> Option<usize> {
        self.highest.get(kind_rank(kind)).copied().flatten()
    }
}

fn prepare<'a, K: AsMetadata>(
    keys: &'a [K],
    positions: &'a Positions,
    ctx: &'a Context,
    bundles: &'a [(String, Vec<Slug>)],
    w: &Weights,
) -> Prep<'a, K> {
    let mut highest = [None; 8];
    for i in ctx.owned.iter().filter_map(|s| positions.get(s)) {
        let k = keys[i].metadata();
        if let Some(slot) = highest.get_mut(kind_rank(k.kind)) {
            *slot = Some(slot.map_or(tier_rank(k.tier), |h: usize| h.max(tier_rank(k.tier))));
        }
    }
    let since = ctx.now - Duration::days(i64::from(w.recent_view_days));
    let mut viewed: FastMap<usize, DateTime<Utc>> = FastMap::default();
    for s in ctx.signals.iter().filter(|s| s.at >= since) {
        if let SignalKind::View(v) = &s.kind {
            let Some(i) = positions.get(v) else { continue };
            let e = viewed.entry(i).or_insert(s.at);
            *e = (*e).max(s.at);
        }
    }
    let mut bundle_pair = FastMap::default();
    for (title, members) in bundles {
        if let Some(owned) = members.iter().find(|m| ctx.owned.contains(*m)) {
            for m in members {
                if let Some(i) = positions.get(m) {
                    bundle_pair.entry(i).or_insert((title.as_str(), owned));
                }
            }
        }
    }
    Prep {
        keys,
        positions,
        highest,
        viewed,
        bundle_pair,
    }
}

/// Points and reasons of one candidate.
fn score<K: AsMetadata>(
    key: &KeyMetadata,
    prep: &Prep<'_, K>,
    ctx: &Context,
    profile: &Profile,
    w: &Weights,
    explain: bool,
) -> (u32, Vec<String>) {
    let name_of = |s: &Slug| {
        prep.positions
            .get(s)
            .map_or_else(|| s.to_string(), |i| prep.keys[i].metadata().name.clone())
    };
    let mut points = 0;
    let mut reasons = Vec::new();
    let p = profile;
    if let Some(role) = p.role
        && key.roles.contains(&role)
        && w.role_match > 0
    {
        points += w.role_match;
        if explain {
            reasons.push(format!("Matches your role: {}", human(role.as_str())));
        }
    }
    let intents: Vec<&Intent> = key.intents.iter().filter(|i| p.intents.contains(i)).take(2).collect();
    if !intents.is_empty() && w.intent_match > 0 {
        points += w.intent_match * intents.len() as u32;
        if explain {
            let list: Vec<String> = intents.iter().map(|i| human(i.as_str())).collect();
            reasons.push(format!("Helps you: {}", list.join(", ")));
        }
    }
    let cats: Vec<&Category> = key
        .categories
        .iter()
        .filter(|c| p.categories.contains(c))
        .take(2)
        .collect();
    if !cats.is_empty() && w.category_match > 0 {
        points += w.category_match * cats.len() as u32;
        if explain {
            let list: Vec<String> = cats.iter().map(|c| human(c.as_str())).collect();
            reasons.push(format!("Solves: {}", list.join(", ")));
        }
    }
    if w.co_purchase > 0
        && let Some(with) = ctx.co_purchases.get(&key.slug)
    {
        let mut with: Vec<&(Slug, u32)> = with
            .iter()
            .filter(|(s, n)| ctx.owned.contains(s) && *n >= w.co_purchase_min_buyers)
            .collect();
        with.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (s, _) in with.into_iter().take(2) {
            points += w.co_purchase;
            if explain {
                reasons.push(format!("Often bought with {}, which you own", name_of(s)));
            }
        }
    }
    if w.bundle_pair > 0
        && let Some((title, owned)) = prep.positions.get(&key.slug).and_then(|i| prep.bundle_pair.get(&i))
    {
        points += w.bundle_pair;
        if explain {
            reasons.push(format!("Pairs with {}, which you own ({title})", name_of(owned)));
        }
    }
    if w.next_tier > 0
        && let Some(h) = prep.highest_of(key.kind)
        && tier_rank(key.tier) == h + 1
    {
        points += w.next_tier;
        if explain {
            reasons.push(format!(
                "Next step up from your {}-tier {} KEYS",
                Tier::ALL[h].as_str(),
                key.kind.as_str()
            ));
        }
    }
    if w.recently_viewed > 0
        && let Some(at) = prep.positions.get(&key.slug).and_then(|i| prep.viewed.get(&i))
    {
        points += w.recently_viewed;
        if explain {
            reasons.push(format!("You looked at it on {}", at.date_naive()));
        }
    }
    (points, reasons)
}

/// The best `limit` of `scored` (index, score), by score, then lower tier, then slug.
fn top<K: AsMetadata>(
    keys: &[K],
    positions: &Positions,
    mut scored: Vec<(usize, u32)>,
    limit: usize,
) -> Vec<(usize, u32)> {
    // In a slug-ordered catalog the index order is the slug order: no string comparisons.
    let facts = &positions.facts;
    let order = |a: &(usize, u32), b: &(usize, u32)| {
        b.1.cmp(&a.1)
            .then_with(|| facts[a.0].tier.cmp(&facts[b.0].tier))
            .then_with(|| {
                if positions.sorted {
                    a.0.cmp(&b.0)
                } else {
                    keys[a.0].metadata().slug.cmp(&keys[b.0].metadata().slug)
                }
            })
    };
    if scored.len() > limit && limit > 0 {
        scored.select_nth_unstable_by(limit - 1, order);
        scored.truncate(limit);
    }
    scored.sort_by(order);
    scored.truncate(limit);
    scored
}

/// Largest catalog [`top_packed`] handles (positions fit in 24 bits).
const PACKED_INDEX: usize = 0xFF_FFFF;

/// [`top`] for a slug-ordered catalog, comparing one integer per candidate: score (high 32
/// bits), then lower tier (inverted, 8 bits), then lower position = slug (inverted, 24 bits).
fn top_packed(scores: &[u32], facts: &[Facts], limit: usize) -> Vec<(usize, u32)> {
    use std::cmp::Reverse;
    let index_bits = PACKED_INDEX as u64;
    if limit == 0 {
        return Vec::new();
    }
    // One pass keeping the best `limit` in a min-heap: a candidate costs one integer
    // comparison with the worst kept.
    let mut kept: std::collections::BinaryHeap<Reverse<u64>> =
        std::collections::BinaryHeap::with_capacity(limit.min(scores.len()) + 1);
    for (i, (s, f)) in scores.iter().zip(facts).enumerate() {
        if *s == 0 {
            continue;
        }
        let packed = (u64::from(*s) << 32) | (u64::from(u8::MAX - f.tier) << 24) | (index_bits - i as u64);
        if kept.len() < limit {
            kept.push(Reverse(packed));
        } else if kept.peek().is_some_and(|worst| packed > worst.0) {
            kept.pop();
            kept.push(Reverse(packed));
        }
    }
    // Ascending by `Reverse` = best first.
    kept.into_sorted_vec()
        .into_iter()
        .map(|Reverse(p)| ((index_bits - (p & index_bits)) as usize, (p >> 32) as u32))
        .collect()
}

/// Every KEY's points without sentences: the profile rules as bit operations over
/// `positions`' contiguous facts, then the buyer's own data (co-purchases, bundles, recent
/// views) by position; owned KEYS get 0.
fn fast_scores<K: AsMetadata>(
    positions: &Positions,
    prep: &Prep<'_, K>,
    ctx: &Context,
    profile: &Profile,
    w: &Weights,
) -> Vec<u32> {
    let find = |slug: &Slug| positions.get(slug);
    let role_bit = profile.role.map_or(0, |r| bit(Role::ALL, &r));
    let intent_bits = mask(Intent::ALL, &profile.intents);
    let category_bits = mask(Category::ALL, &profile.categories);
    // Per kind: the tier that earns the next-tier points (none: no KEY of that kind owned).
    let mut next_tier = [u8::MAX; 8];
    for (slot, h) in next_tier.iter_mut().zip(prep.highest) {
        if let Some(h) = h {
            *slot = u8::try_from(h + 1).unwrap_or(u8::MAX);
        }
    }
    let mut scores: Vec<u32> = positions
        .facts
        .iter()
        .map(|f| {
            let mut points = 0;
            if f.roles & role_bit != 0 {
                points += w.role_match;
            }
            points += w.intent_match * (f.intents & intent_bits).count_ones().min(2);
            points += w.category_match * (f.categories & category_bits).count_ones().min(2);
            if next_tier[usize::from(f.kind) % 8] == f.tier {
                points += w.next_tier;
            }
            points
        })
        .collect();
    if w.co_purchase > 0 {
        for (slug, with) in &ctx.co_purchases {
            if let Some(i) = find(slug) {
                let n = with
                    .iter()
                    .filter(|(s, n)| ctx.owned.contains(s) && *n >= w.co_purchase_min_buyers)
                    .take(2)
                    .count() as u32;
                scores[i] += w.co_purchase * n;
            }
        }
    }
    if w.bundle_pair > 0 {
        for i in prep.bundle_pair.keys() {
            scores[*i] += w.bundle_pair;
        }
    }
    if w.recently_viewed > 0 {
        for i in prep.viewed.keys() {
            scores[*i] += w.recently_viewed;
        }
    }
    for slug in &ctx.owned {
        if let Some(i) = find(slug) {
            scores[i] = 0;
        }
    }
    scores
}

/// The best `limit` positions with a score above zero, best first (packed when the catalog is
/// slug-ordered).
fn select<K: AsMetadata>(keys: &[K], positions: &Positions, scores: Vec<u32>, limit: usize) -> Vec<(usize, u32)> {
    if positions.sorted && keys.len() <= PACKED_INDEX {
        top_packed(&scores, &positions.facts, limit)
    } else {
        let scored: Vec<(usize, u32)> = scores.into_iter().enumerate().filter(|(_, s)| *s > 0).collect();
        top(keys, positions, scored, limit)
    }
}

/// Ranks the catalog for a buyer: every KEY not owned that scores above zero, best first.
///
/// Fast path (the catalog is small enough to rank per request): the profile rules are scored
/// for every KEY without allocating; the rules driven by the buyer's own data (co-purchases,
/// bundles, recent views, ownership) walk that data and find each KEY by its position in the
/// catalog; only the `limit` kept are explained in sentences.
#[must_use]
pub fn recommend<K: AsMetadata>(keys: &[K], ctx: &Context, w: &Weights, limit: usize) -> Vec<Recommendation> {
    recommend_with(keys, &Positions::new(keys), ctx, w, limit)
}

/// [`recommend`] with the catalog's [`Positions`] built beforehand (once per revision).
#[must_use]
pub fn recommend_with<K: AsMetadata>(
    keys: &[K],
    positions: &Positions,
    ctx: &Context,
    w: &Weights,
    limit: usize,
) -> Vec<Recommendation> {
    // Positions must be built from this very slice (the caller's contract); a length mismatch
    // is the one sign of misuse we can see cheaply, and then this slice is indexed here.
    let local;
    let positions = if positions.facts.len() == keys.len() {
        positions
    } else {
        local = Positions::new(keys);
        &local
    };
    let prep = prepare(keys, positions, ctx, &ctx.bundles, w);
    let scores = fast_scores(positions, &prep, ctx, &ctx.profile, w);
    let best = select(keys, positions, scores, limit);
    best.into_iter()
        .map(|(i, s)| {
            let key = keys[i].metadata();
            let (explained, reasons) = score(key, &prep, ctx, &ctx.profile, w, true);
            debug_assert_eq!(explained, s, "fast and explained scores agree for {}", key.slug);
            Recommendation {
                slug: key.slug.clone(),
                score: explained,
                reasons,
            }
        })
        .collect()
}

/// KEYS that go with `anchor` (its page's "Pairs well with"): the anchor's roles, goals and
/// problems stand in for the profile, plus the buyer's own rules (ownership, bundles,
/// co-purchases). Never the anchor itself or what the buyer owns.
#[must_use]
pub fn pairs_with<K: AsMetadata>(
    anchor: &KeyMetadata,
    keys: &[K],
    positions: &Positions,
    ctx: &Context,
    w: &Weights,
    limit: usize,
) -> Vec<Recommendation> {
    let profile = Profile {
        role: ctx
            .profile
            .role
            .filter(|r| anchor.roles.contains(r))
            .or(anchor.roles.first().copied()),
        intents: anchor.intents.clone(),
        categories: anchor.categories.clone(),
    };
    // Bundles with the anchor earn "sold together"; the buyer's bundle rule does not apply here.
    let together: Vec<&(String, Vec<Slug>)> = ctx.bundles.iter().filter(|(_, m)| m.contains(&anchor.slug)).collect();
    let local;
    let positions = if positions.facts.len() == keys.len() {
        positions
    } else {
        local = Positions::new(keys);
        &local
    };
    let prep = prepare(keys, positions, ctx, &[], w);
    let mut scores = fast_scores(positions, &prep, ctx, &profile, w);
    if w.bundle_pair > 0 {
        let mut sold: FastMap<usize, ()> = FastMap::default();
        for (_, members) in &together {
            for m in members.iter().filter(|m| !ctx.owned.contains(*m)) {
                if let Some(i) = positions.get(m)
                    && sold.insert(i, ()).is_none()
                {
                    scores[i] += w.bundle_pair;
                }
            }
        }
    }
    if let Some(i) = positions.get(&anchor.slug) {
        scores[i] = 0;
    }
    let sold_with = |k: &KeyMetadata| together.iter().find(|(_, m)| m.contains(&k.slug)).map(|(t, _)| t);
    select(keys, positions, scores, limit)
        .into_iter()
        .map(|(i, s)| {
            let key = keys[i].metadata();
            let (mut explained, mut reasons) = score(key, &prep, ctx, &profile, w, true);
            if w.bundle_pair > 0
                && let Some(title) = sold_with(key)
            {
                explained += w.bundle_pair;
                reasons.push(format!("Sold together in {title}"));
            }
            debug_assert_eq!(explained, s, "fast and explained pair scores agree for {}", key.slug);
            Recommendation {
                slug: key.slug.clone(),
                score: explained,
                reasons,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::Kind;
    use chrono::TimeZone;

    fn meta(slug: &str, kind: Kind, tier: Tier, roles: &[Role], intents: &[Intent], cats: &[Category]) -> KeyMetadata {
        KeyMetadata {
            slug: slug.parse().unwrap(),
            name: format!("Name {slug}"),
            kind,
            tier,
            summary: String::new(),
            description: String::new(),
            roles: roles.to_vec(),
            intents: intents.to_vec(),
            categories: cats.to_vec(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn tier_and_kind_ranks_are_their_positions_in_all() {
        for (i, t) in Tier::ALL.iter().enumerate() {
            assert_eq!(tier_rank(*t), i, "{t}");
        }
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(kind_rank(*k), i, "{k}");
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    fn catalog() -> Vec<KeyMetadata> {
        vec![
            meta(
                "oncall-book",
                Kind::Runbook,
                Tier::Starter,
                &[Role::Sre],
                &[Intent::RespondToIncidents],
                &[Category::IncidentResponse],
            ),
            meta(
                "k8s-incidents",
                Kind::Runbook,
                Tier::Operator,
                &[Role::Sre, Role::PlatformEngineer],
                &[Intent::RespondToIncidents, Intent::MonitorSystems],
                &[Category::IncidentResponse, Category::Observability],
            ),
            meta(
                "pg-failover",
                Kind::Runbook,
                Tier::Scale,
                &[Role::Sre],
                &[Intent::RespondToIncidents],
                &[Category::DatabaseOperations],
            ),
            meta(
                "saas-kit",
                Kind::NodeNext,
                Tier::Enterprise,
                &[Role::Founder],
                &[Intent::BootstrapProject],
                &[Category::SaasFoundations],
            ),
            meta(
                "churn-nb",
                Kind::Jupyter,
                Tier::Operator,
                &[Role::DataScientist],
                &[Intent::AnalyzeData],
                &[Category::DataAnalysis],
            ),
        ]
    }

    fn slugs(r: &[Recommendation]) -> Vec<&str> {
        r.iter().map(|x| x.slug.as_str()).collect()
    }

    #[test]
    fn each_rule_adds_its_points_and_its_reason() {
        let cat = catalog();
        let keys: Vec<&KeyMetadata> = cat.iter().collect();
        let w = Weights::default();
        let base = Context {
            now: now(),
            ..Context::default()
        };
        // Nothing known: nothing recommended (no reason, no item).
        assert!(recommend(&keys, &base, &w, 10).is_empty());

        // Role.
        let mut ctx = base.clone();
        ctx.profile.role = Some(Role::Sre);
        let r = recommend(&keys, &ctx, &w, 10);
        assert_eq!(
            slugs(&r),
            ["oncall-book", "k8s-incidents", "pg-failover"],
            "ties: lower tier first"
        );
        assert_eq!(r[0].reasons, ["Matches your role: SRE"]);
        assert_eq!(r[0].score, 30);

        // "Matches your role" only when a role was given: goals and problems alone never
        // claim one.
        let mut no_role = base.clone();
        no_role.profile.intents = vec![Intent::RespondToIncidents];
        no_role.profile.categories = vec![Category::Observability];
        let r = recommend(&keys, &no_role, &w, 10);
        assert!(!r.is_empty());
        assert!(
            r.iter()
                .flat_map(|i| &i.reasons)
                .all(|why| !why.starts_with("Matches your role")),
            "{r:?}"
        );

        // Intents (two count) and categories.
        ctx.profile.intents = vec![Intent::RespondToIncidents, Intent::MonitorSystems];
        ctx.profile.categories = vec![Category::Observability];
        let r = recommend(&keys, &ctx, &w, 10);
        assert_eq!(r[0].slug.as_str(), "k8s-incidents");
        assert_eq!(r[0].score, 30 + 2 * 25 + 20);
        assert_eq!(
            r[0].reasons,
            [
                "Matches your role: SRE",
                "Helps you: respond to incidents, monitor systems",
                "Solves: observability"
            ]
        );

        // Owned KEYS are never recommended; they drive co-purchase, bundle and next-tier rules.
        let mut ctx = base.clone();
        ctx.owned.insert("oncall-book".parse().unwrap());
        ctx.co_purchases.insert(
            "pg-failover".parse().unwrap(),
            vec![("oncall-book".parse().unwrap(), 3)],
        );
        ctx.bundles.push((
            "Ops pack".into(),
            vec!["oncall-book".parse().unwrap(), "pg-failover".parse().unwrap()],
        ));
        let r = recommend(&keys, &ctx, &w, 10);
        assert!(!slugs(&r).contains(&"oncall-book"));
        let pg = r.iter().find(|x| x.slug.as_str() == "pg-failover").unwrap();
        assert_eq!(pg.score, 15 + 12);
        assert_eq!(
            pg.reasons,
            [
                "Often bought with Name oncall-book, which you own",
                "Pairs with Name oncall-book, which you own (Ops pack)"
            ]
        );
        let k8s = r.iter().find(|x| x.slug.as_str() == "k8s-incidents").unwrap();
        assert_eq!(k8s.reasons, ["Next step up from your starter-tier runbook KEYS"]);
        assert_eq!(k8s.score, 10);

        // Recently viewed, within the window only.
        let mut ctx = base.clone();
        let mut seen = ctx.signals.to_vec();
        seen.push(Signal {
            kind: SignalKind::View("churn-nb".parse().unwrap()),
            at: now() - Duration::days(3),
        });
        seen.push(Signal {
            kind: SignalKind::View("saas-kit".parse().unwrap()),
            at: now() - Duration::days(30),
        });
        ctx.signals = seen.into();
        let r = recommend(&keys, &ctx, &w, 10);
        assert_eq!(slugs(&r), ["churn-nb"]);
        assert_eq!(r[0].reasons, ["You looked at it on 2026-11-17"]);
    }

    #[test]
    fn every_item_has_a_reason_and_owned_keys_never_appear() {
        let cat = catalog();
        let keys: Vec<&KeyMetadata> = cat.iter().collect();
        let w = Weights::default();
        for role in Role::ALL {
            for owned in [0usize, 1, 3] {
                let mut ctx = Context {
                    now: now(),
                    ..Context::default()
                };
                ctx.profile.role = Some(*role);
                ctx.profile.intents = Intent::ALL.to_vec();
                ctx.owned = cat.iter().take(owned).map(|k| k.slug.clone()).collect();
                for r in recommend(&keys, &ctx, &w, 10) {
                    assert!(!r.reasons.is_empty() && r.score > 0);
                    assert!(!ctx.owned.contains(&r.slug));
                }
            }
        }
    }

    #[test]
    fn ranking_reads_any_slice_shape_and_repairs_foreign_positions() {
        let cat = catalog();
        let refs: Vec<&KeyMetadata> = cat.iter().collect();
        let arcs: Vec<std::sync::Arc<catalog::Key>> = cat
            .iter()
            .map(|m| {
                std::sync::Arc::new(catalog::Key {
                    meta: m.clone(),
                    versions: Vec::new(),
                    updated_at: now(),
                })
            })
            .collect();
        let mut ctx = Context {
            now: now(),
            ..Context::default()
        };
        ctx.profile.role = Some(Role::Sre);
        ctx.owned.insert("oncall-book".parse().unwrap());
        let w = Weights::default();
        let expected = recommend(&refs, &ctx, &w, 10);
        assert!(!expected.is_empty());
        assert_eq!(recommend_with(&arcs, &Positions::new(&arcs), &ctx, &w, 10), expected);
        assert_eq!(recommend(&cat, &ctx, &w, 10), expected);
        // Positions of another slice (here: none) are rebuilt, not trusted.
        assert_eq!(recommend_with(&refs, &Positions::default(), &ctx, &w, 10), expected);
        assert_eq!(
            pairs_with(&cat[1], &refs, &Positions::default(), &ctx, &w, 10),
            pairs_with(&cat[1], &refs, &Positions::new(&refs), &ctx, &w, 10)
        );
    }

    proptest::proptest! {
        /// "Pairs well with" (fast scoring) agrees with its plain definition: every other KEY not
        /// owned, scored by the explained rules with the anchor's profile, plus the
        /// sold-together points, best first by score, then lower tier, then slug.
        #[test]
        fn pairs_with_matches_its_plain_definition(
            owned_mask in 0u32..32,
            bundle_a in 0u32..32,
            bundle_b in 0u32..32,
            viewed_mask in 0u32..32,
            anchor in 0usize..5,
            limit in 1usize..6,
            bundle_pair in proptest::sample::select(vec![0u32, 12]),
            role_match in proptest::sample::select(vec![0u32, 30]),
            slug_ordered in proptest::bool::ANY,
        ) {
            let mut cat = catalog();
            if slug_ordered {
                // The order the server ranks in (the packed selection); the fixture's own order
                // takes the comparator path.
                cat.sort_by(|a, b| a.slug.cmp(&b.slug));
            }
            let keys: Vec<&KeyMetadata> = cat.iter().collect();
            let pick = |m: u32| -> Vec<Slug> {
                (0..cat.len()).filter(|i| m >> i & 1 == 1).map(|i| cat[i].slug.clone()).collect()
            };
            let mut ctx = Context {
                now: now(),
                ..Context::default()
            };
            ctx.profile.role = Some(Role::Sre);
            ctx.owned = pick(owned_mask).into_iter().collect();
            ctx.bundles = vec![("Bundle A".into(), pick(bundle_a)), ("Bundle B".into(), pick(bundle_b))];
            ctx.signals = pick(viewed_mask)
                .into_iter()
                .map(|s| Signal { kind: SignalKind::View(s), at: now() })
                .collect();
            for (i, k) in cat.iter().enumerate() {
                ctx.co_purchases.insert(k.slug.clone(), vec![(cat[(i + 1) % cat.len()].slug.clone(), 2)]);
            }
            let w = Weights {
                bundle_pair,
                role_match,
                ..Weights::default()
            };
            let positions = Positions::new(&keys);
            if slug_ordered {
                proptest::prop_assert!(positions.sorted);
            }
            let got: Vec<(String, u32)> = pairs_with(&cat[anchor], &keys, &positions, &ctx, &w, limit)
                .into_iter()
                .map(|r| (r.slug.to_string(), r.score))
                .collect();

            let a = &cat[anchor];
            let profile = Profile {
                role: ctx.profile.role.filter(|r| a.roles.contains(r)).or(a.roles.first().copied()),
                intents: a.intents.clone(),
                categories: a.categories.clone(),
            };
            let prep = prepare(&keys, &positions, &ctx, &[], &w);
            let together = |k: &KeyMetadata| {
                w.bundle_pair > 0 && ctx.bundles.iter().any(|(_, m)| m.contains(&a.slug) && m.contains(&k.slug))
            };
            let mut want: Vec<(u32, u8, String)> = cat
                .iter()
                .filter(|k| k.slug != a.slug && !ctx.owned.contains(&k.slug))
                .map(|k| {
                    let (s, _) = score(k, &prep, &ctx, &profile, &w, false);
                    (s + if together(k) { w.bundle_pair } else { 0 }, k.tier as u8, k.slug.to_string())
                })
                .filter(|(s, _, _)| *s > 0)
                .collect();
            want.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
            let want: Vec<(String, u32)> = want.into_iter().take(limit).map(|(s, _, slug)| (slug, s)).collect();
            proptest::prop_assert_eq!(got, want);
        }

        /// The packed selection picks and orders exactly like the comparator one.
        #[test]
        fn packed_top_agrees_with_the_comparator(
            picks in proptest::collection::vec((0u32..6, 0usize..4), 0..300),
            limit in 0usize..20,
        ) {
            let keys: Vec<KeyMetadata> = picks
                .iter()
                .enumerate()
                .map(|(i, (_, tier))| meta(&format!("key-{i:04}"), Kind::Runbook, Tier::ALL[*tier], &[], &[], &[]))
                .collect();
            let positions = Positions::new(&keys);
            proptest::prop_assert!(positions.sorted);
            let scores: Vec<u32> = picks.iter().map(|(s, _)| *s * 7).collect();
            let scored: Vec<(usize, u32)> = scores.iter().copied().enumerate().filter(|(_, s)| *s > 0).collect();
            proptest::prop_assert_eq!(
                top_packed(&scores, &positions.facts, limit),
                top(&keys, &positions, scored, limit)
            );
        }
    }

    #[test]
    fn pairs_with_uses_the_anchor_and_excludes_it_and_owned() {
        let cat = catalog();
        let keys: Vec<&KeyMetadata> = cat.iter().collect();
        let mut ctx = Context {
            now: now(),
            ..Context::default()
        };
        ctx.owned.insert("pg-failover".parse().unwrap());
        ctx.bundles.push((
            "Ops pack".into(),
            vec!["oncall-book".parse().unwrap(), "k8s-incidents".parse().unwrap()],
        ));
        let r = pairs_with(&cat[0], &keys, &Positions::new(&keys), &ctx, &Weights::default(), 5);
        assert_eq!(slugs(&r), ["k8s-incidents"]);
        assert!(
            r[0].reasons.contains(&"Sold together in Ops pack".to_owned()),
            "{:?}",
            r[0].reasons
        );
    }

    #[test]
    fn weights_file_is_checked() {
        let ok = "role_match = 30\nintent_match = 25\ncategory_match = 20\nco_purchase = 15\nbundle_pair = 12\nnext_tier = 10\nrecently_viewed = 8\nrecent_view_days = 14\nco_purchase_min_buyers = 1\n";
        assert_eq!(Weights::parse(ok, "discovery.toml").unwrap(), Weights::default());
        assert!(
            Weights::parse(&ok.replace("= 30", "= 3000"), "d")
                .unwrap_err()
                .reason
                .contains("role_match")
        );
        assert!(Weights::parse(&ok.replace("recent_view_days = 14", "recent_view_days = 0"), "d").is_err());
        assert!(
            Weights::parse(&format!("{ok}extra = 1\n"), "d")
                .unwrap_err()
                .reason
                .contains("extra")
        );
        let zero = ok.replace("= 30", "= 0").replace("= 25", "= 0").replace("= 20", "= 0");
        assert!(Weights::parse(&zero, "d").is_err());
        assert_eq!(human("sre"), "SRE");
        assert_eq!(human("incident-response"), "incident response");
        assert_eq!(human("ml-engineer"), "ML engineer");
    }
}
