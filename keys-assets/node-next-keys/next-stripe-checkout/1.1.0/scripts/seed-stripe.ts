/**
 * Creates the catalog's products and prices in your Stripe account (test mode
 * recommended). Safe to run repeatedly: items whose lookup key already has an
 * active price are skipped.
 *
 *   npm run stripe:seed
 */
import Stripe from "stripe";
import { catalog, formatAmount } from "../lib/catalog";

const key = process.env.STRIPE_SECRET_KEY;
if (!key) {
  console.error("STRIPE_SECRET_KEY is not set (expected in .env.local)");
  process.exit(1);
}
if (key.startsWith("sk_live_") && process.env.ALLOW_LIVE !== "1") {
  console.error("Refusing to seed a live account. Set ALLOW_LIVE=1 if you really mean it.");
  process.exit(1);
}

const stripe = new Stripe(key);

async function main() {
  for (const item of catalog) {
    const existing = await stripe.prices.list({ lookup_keys: [item.lookupKey], active: true, limit: 1 });
    if (existing.data.length > 0) {
      console.log(`✓ ${item.name}: price ${existing.data[0]!.id} already exists`);
      continue;
    }

    const product = await stripe.products.create({
      name: item.name,
      description: item.description,
      metadata: { catalog_id: item.id },
    });
    const price = await stripe.prices.create({
      product: product.id,
      unit_amount: item.unitAmount,
      currency: item.currency,
      lookup_key: item.lookupKey,
      transfer_lookup_key: true,
      ...(item.recurring ? { recurring: { interval: item.recurring.interval } } : {}),
    });
    console.log(`+ ${item.name}: created ${product.id} / ${price.id} at ${formatAmount(item.unitAmount, item.currency, item.recurring?.interval)}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
