//! `docs/revenue/PRICING_MODEL.md`, generated from the offers (the pricing file and the
//! bundles) and the rules of this crate. Every number in it — prices, bundle totals and every
//! worked example — is computed here by the same [`quote()`] and [`settle`] the server uses, so
//! the document cannot drift from the code: a test fails when the committed file differs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use catalog::{Slug, Tier};
use chrono::{DateTime, Duration, TimeZone, Utc};
use pricing::{Interval, Money, Offers, percent_text};

use crate::service::resolve;
use crate::{
    Ledger, PurchaseId, Quote, QuoteContext, RECENT_PURCHASE_WINDOW_DAYS, Sku, Subscription, Target, interval_as_str,
    quote, settle,
};

/// Where the document lives in the repository.
pub const PRICING_MODEL_PATH: &str = "docs/revenue/PRICING_MODEL.md";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).single().unwrap_or_default()
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A buyer's history, replayed through quote + settle.
struct Buyer {
    ctx: QuoteContext,
    next: i64,
}

impl Buyer {
    fn new(is_org: bool) -> Self {
        Self {
            ctx: QuoteContext {
                holder_is_organisation: is_org,
                owned: BTreeSet::new(),
                ledger: Ledger::default(),
                subscription: None,
                now: now(),
            },
            next: 101,
        }
    }

    /// Buys `sku` at `at` paying the amount due; returns the quote.
    fn buy(&mut self, offers: &Offers, sku: &Sku, at: DateTime<Utc>) -> Option<Quote> {
        let target = resolve(sku, offers).ok()?;
        let saved = self.ctx.now;
        self.ctx.now = at;
        let q = quote(&target, &self.ctx).ok();
        if let Some(q) = &q {
            let id = PurchaseId(self.next);
            self.next += 1;
            let settlement = settle(q, id, &target, q.amount_due, at).ok()?;
            self.ctx.ledger.apply(settlement).ok()?;
            if let Target::Plan { tier, interval, .. } = &target {
                let months = if *interval == Interval::Monthly { 1 } else { 12 };
                self.ctx.subscription = Some(Subscription {
                    tier: *tier,
                    interval: *interval,
                    period_start: at,
                    period_end: at.checked_add_months(chrono::Months::new(months)).unwrap_or(at),
                    last_paid: q.amount_due,
                });
            } else {
                self.ctx
                    .owned
                    .extend(target.allocation_keys().into_iter().map(|(s, _)| s));
            }
        }
        self.ctx.now = saved;
        q
    }

    fn quote(&self, offers: &Offers, sku: &Sku) -> Option<Quote> {
        quote(&resolve(sku, offers).ok()?, &self.ctx).ok()
    }
}

fn quote_table(out: &mut String, q: &Quote) {
    out.push_str("| Line | Amount |\n|---|---:|\n");
    for l in q.lines() {
        let sign = match l.kind {
            crate::LineKind::Discount | crate::LineKind::Credit | crate::LineKind::Waived => "−",
            _ => "",
        };
        let _ = writeln!(out, "| {} | {sign}{} |", l.description, l.amount);
    }
    let _ = writeln!(out, "\n> {}\n", q.explanation);
}

/// Renders the document. `names` gives display names of KEYS (slugs are used otherwise).
#[must_use]
#[allow(clippy::too_many_lines)]
pub fn render(offers: &Offers, names: &BTreeMap<Slug, String>) -> String {
    let name = |s: &Slug| names.get(s).cloned().unwrap_or_else(|| s.to_string());
    let prices = offers.prices();
    let mut o = String::new();
    o.push_str(
        "<!-- Generated from keys-assets/pricing.toml, keys-assets/bundles/ and the rules of the `pricing` and \
         `upgrades` crates by `cargo run -p keys-ingest -- pricing-model`. Do not edit: a test fails when this \
         file differs from what the command writes. -->\n\n# KEYS pricing model\n\n",
    );
    let _ = writeln!(
        o,
        "Every price is an integer number of minor units with a currency (here {}); percentages are basis \
         points; nothing uses floating point. A percentage of an amount is rounded to the nearest minor unit, \
         halves away from zero — once, on the bundle's list total. Credits and prorations are rounded **down**, \
         so a credit never exceeds what was paid and kept.\n",
        prices.currency().code()
    );

    o.push_str("## SKUs\n\nEvery thing for sale has a stable id that clients may rely on:\n\n");
    o.push_str("| SKU id | What it sells |\n|---|---|\n");
    o.push_str("| `key:<slug>` | One KEY, every version, forever |\n");
    o.push_str("| `bundle:<slug>` | Every KEY of a curated bundle, forever |\n");
    o.push_str(
        "| `plan:<tier>:<monthly\\|annual>` | Every KEY at or below the tier, including KEYS added later, while \
         the subscription is paid |\n\n",
    );

    o.push_str("## Single KEYS\n\nDefault price by maturity tier:\n\n| Tier | Price |\n|---|---:|\n");
    for t in Tier::ALL {
        let _ = writeln!(o, "| {} | {} |", cap(t.as_str()), prices.tier_default(*t));
    }
    if !prices.overrides().is_empty() {
        o.push_str("\nKEYS priced individually:\n\n| KEY | Price |\n|---|---:|\n");
        for (s, m) in prices.overrides() {
            let _ = writeln!(o, "| {} (`key:{s}`) | {m} |", name(s));
        }
    }

    let _ = writeln!(
        o,
        "\n## Bundles\n\nA bundle has at least two KEYS and a discount between 19 % and 28 % (checked at \
         ingestion). Its price is the sum of its members' single prices less the discount.\n"
    );
    for b in offers.bundles() {
        let Some(p) = offers.bundle_price(b) else { continue };
        let _ = writeln!(o, "### {} (`bundle:{}`)\n\n{}\n", b.title, b.slug, b.summary);
        o.push_str("| KEY | Price |\n|---|---:|\n");
        for (s, m) in offers.bundle_members(b) {
            let _ = writeln!(o, "| {} | {m} |", name(&s));
        }
        let _ = writeln!(
            o,
            "| **List total** | {} |\n| Discount {} | −{} |\n| **Bundle price** | **{}** |\n",
            p.list_total,
            percent_text(b.discount),
            p.discount,
            p.price
        );
    }

    o.push_str(
        "## Plans\n\nA plan covers every KEY at or below its tier, including KEYS added later. Enterprise is \
         sold to organisations only (every member gets access).\n\n| Plan | Monthly | Annual | KEYS covered today |\n\
         |---|---:|---:|---:|\n",
    );
    for t in Tier::ALL {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            cap(t.as_str()),
            offers.plan_price(*t, Interval::Monthly),
            offers.plan_price(*t, Interval::Annual),
            offers.plan_scope(*t).len()
        );
    }

    let _ = writeln!(
        o,
        "\n## Upgrades and credit\n\n\
         Nobody pays twice for what they own.\n\n\
         1. **Credit is what was actually paid**, net of refunds — not the list price. An order's value (cash \
            plus credit it carried in) is split over the KEYS it covered in proportion to their list prices \
            (largest remainder, so the parts add up exactly).\n\
         2. **A credit is consumed when used**: each unit of credit is used by one later order only, so two \
            upgrades in a row, or two bundles sharing a KEY, never credit the same payment twice. The credit \
            moves into the new order, so the next upgrade credits everything paid so far.\n\
         3. **KEY → bundle, bundle → larger bundle**: every member you paid for is credited, oldest order \
            first, capped at the bundle's price. The amount due is never negative and never more than the \
            price.\n\
         4. **Owning every member makes the bundle free**: it is granted without payment and recorded as a \
            free upgrade.\n\
         5. **KEYS or bundles → subscription**: KEY and bundle orders from the last {RECENT_PURCHASE_WINDOW_DAYS} \
            days whose KEYS the plan covers are credited on the first invoice, capped at that invoice. A plan \
            whose first invoice is fully credited is still a real subscription: the first period costs $0.00 \
            (a one-off coupon at checkout, where the card for the renewals is collected) and it renews at the \
            plan's price.\n\
         6. **Plan → higher plan** (or monthly → annual of the same tier): the unused part of the current \
            period is credited, `amount paid × remaining time / period length`, rounded down. A downgrade (or \
            annual → monthly) is scheduled instead: nothing is charged, the current plan stays until the end \
            of the period you paid for, and the renewal is at the new plan's price. The change is made to the \
            same subscription — never a second one (one live \
            subscription per holder is enforced by the database): you pay exactly the quote now, the paid \
            period restarts today, and each renewal after that is at the new plan's price.\n\
         7. **Refunds**: a fully refunded order gives no credit and revokes what it granted; it releases the \
            credit it had used. A partial refund keeps access and reduces the order's credit in proportion. \
            An order whose credit was carried into a later order can be refunded only after that later order.\n\
         8. **Organisations** have their own orders and credit; a quote for an organisation (`org=`) uses \
            only the organisation's purchases.\n\
         9. **Minimum charge**: a card payment cannot be smaller than {minimum} (the {code} minimum; the price \
            list prices nothing below it). When credit leaves an amount above zero but below it, that amount is \
            **waived**: you pay nothing now, the quote shows a \"waived\" line and says so, and the order keeps \
            that explanation. The shop never rounds a charge up to the minimum — you never pay more than the \
            quote.\n",
        minimum = pricing::Money::from_minor(prices.currency().minimum_charge_minor(), prices.currency()),
        code = prices.currency().code(),
    );

    o.push_str("## Worked examples\n\nComputed from the prices above by the server's own quote code.\n\n");
    let day = |d: i64| now() - Duration::days(d);

    // 1. KEY → bundle, and 3. all members owned.
    if let Some(b) = offers.bundles().first() {
        let members = offers.bundle_members(b);
        if let Some((first, _)) = members.first() {
            let mut buyer = Buyer::new(false);
            buyer.buy(offers, &Sku::Key(first.clone()), day(40));
            if let Some(q) = buyer.quote(offers, &Sku::Bundle(b.slug.clone())) {
                let _ = writeln!(
                    o,
                    "### KEY → bundle\n\nA buyer paid for {} (order #101) and now wants the {} bundle.\n",
                    name(first),
                    b.title
                );
                quote_table(&mut o, &q);
            }
            let mut owner = Buyer::new(false);
            for (s, _) in &members {
                owner.buy(offers, &Sku::Key(s.clone()), day(60));
            }
            if let Some(q) = owner.quote(offers, &Sku::Bundle(b.slug.clone())) {
                let _ = writeln!(
                    o,
                    "### Every member already owned\n\nA buyer bought all {} KEYS of {} one by one.\n",
                    members.len(),
                    b.title
                );
                quote_table(&mut o, &q);
            }
            let mut refunded = Buyer::new(false);
            refunded.buy(offers, &Sku::Key(first.clone()), day(40));
            let _ = refunded
                .ctx
                .ledger
                .refund(PurchaseId(101), Money::from_minor(i64::MAX / 4, prices.currency()));
            refunded.ctx.owned.clear();
            if let Some(q) = refunded.quote(offers, &Sku::Bundle(b.slug.clone())) {
                let _ = writeln!(
                    o,
                    "### A refunded purchase gives no credit\n\nThe buyer of {} was refunded in full; the \
                     bundle costs its full price.\n",
                    name(first)
                );
                quote_table(&mut o, &q);
            }
        }
    }

    // 2. Bundle → larger bundle (two upgrades in a row).
    let pair = offers.bundles().iter().find_map(|small| {
        offers
            .bundles()
            .iter()
            .find(|big| big.slug != small.slug && small.keys.iter().all(|k| big.keys.contains(k)))
            .map(|big| (small, big))
    });
    if let Some((small, big)) = pair {
        let mut buyer = Buyer::new(false);
        let first = small.keys.first().cloned();
        let mut paid = Vec::new();
        if let Some(first) = &first
            && let Some(q) = buyer.buy(offers, &Sku::Key(first.clone()), day(90))
        {
            paid.push(q.amount_due);
        }
        if let Some(q) = buyer.buy(offers, &Sku::Bundle(small.slug.clone()), day(60)) {
            let _ = writeln!(
                o,
                "### Two upgrades in a row\n\nA buyer paid for {} (order #101), upgraded to {} (order #102):\n",
                first.as_ref().map(&name).unwrap_or_default(),
                small.title
            );
            quote_table(&mut o, &q);
            paid.push(q.amount_due);
        }
        if let Some(q) = buyer.quote(offers, &Sku::Bundle(big.slug.clone())) {
            let _ = writeln!(o, "…and then to the larger {} bundle:\n", big.title);
            quote_table(&mut o, &q);
            paid.push(q.amount_due);
            let total = paid
                .iter()
                .try_fold(Money::zero(prices.currency()), |acc, m| acc.checked_add(*m))
                .unwrap_or(Money::zero(prices.currency()));
            let _ = writeln!(
                o,
                "In total the buyer paid {total} — exactly the {} bundle's price, {}.\n",
                big.title, q.price
            );
        }
    }

    // 5. KEYS → subscription.
    if let Some((slug, tier)) = offers.keys().iter().find(|(_, t)| **t == Tier::Operator) {
        let mut buyer = Buyer::new(false);
        buyer.buy(offers, &Sku::Key(slug.clone()), day(10));
        let sku = Sku::Plan {
            tier: *tier,
            interval: Interval::Monthly,
        };
        if let Some(q) = buyer.quote(offers, &sku) {
            let _ = writeln!(
                o,
                "### KEY → subscription\n\nA buyer paid for {} 10 days ago and subscribes to the {} plan \
                 monthly ({sku}).\n",
                name(slug),
                cap(tier.as_str())
            );
            quote_table(&mut o, &q);
        }
    }

    // 6. Plan → higher plan, prorated.
    let mut sub = Buyer::new(false);
    let from = Sku::Plan {
        tier: Tier::Operator,
        interval: Interval::Monthly,
    };
    sub.buy(offers, &from, day(20));
    let to = Sku::Plan {
        tier: Tier::Scale,
        interval: Interval::Monthly,
    };
    if let Some(q) = sub.quote(offers, &to) {
        let _ = writeln!(
            o,
            "### Plan → higher plan\n\nA subscriber to {from} ({} billed {}) 20 days into the period moves \
             to {to}.\n",
            cap(Tier::Operator.as_str()),
            interval_as_str(Interval::Monthly)
        );
        quote_table(&mut o, &q);
    }
    o
}
