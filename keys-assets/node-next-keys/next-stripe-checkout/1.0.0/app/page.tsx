import { unstable_cache } from "next/cache";
import { catalog, formatAmount } from "../lib/catalog";
import { stripe } from "../lib/stripe";

// Render per request (so builds never call Stripe), but cache the price list
// for a minute so the store page doesn't hit the Stripe API on every view.
export const dynamic = "force-dynamic";

const getPrices = unstable_cache(
  async () => {
    const prices = await stripe.prices.list({
      lookup_keys: catalog.map((item) => item.lookupKey),
      active: true,
    });
    return prices.data.map((price) => ({
      lookupKey: price.lookup_key,
      unitAmount: price.unit_amount,
      currency: price.currency,
    }));
  },
  ["catalog-prices"],
  { revalidate: 60 },
);

type Props = { searchParams: Promise<{ canceled?: string }> };

export default async function StorePage({ searchParams }: Props) {
  const { canceled } = await searchParams;
  const prices = await getPrices();
  const priceByKey = new Map(prices.map((price) => [price.lookupKey, price]));

  return (
    <main>
      <h1>Store</h1>
      {canceled && <p role="status">Checkout canceled — you have not been charged.</p>}
      <div style={{ display: "grid", gridTemplateColumns: "repeat(auto-fit, minmax(260px, 1fr))", gap: "1.5rem" }}>
        {catalog.map((item) => {
          const price = priceByKey.get(item.lookupKey);
          return (
            <section key={item.id} style={{ border: "1px solid #e4e4e7", borderRadius: 8, padding: "1.25rem" }}>
              <h2 style={{ marginTop: 0 }}>{item.name}</h2>
              <p>{item.description}</p>
              {price ? (
                <form action="/api/checkout" method="POST">
                  <input type="hidden" name="lookup_key" value={item.lookupKey} />
                  <p style={{ fontSize: "1.5rem", fontWeight: 600 }}>{formatAmount(price.unitAmount, price.currency)}</p>
                  <button type="submit">Buy now</button>
                </form>
              ) : (
                <p style={{ color: "crimson" }}>
                  No active price with lookup key <code>{item.lookupKey}</code>. Run <code>npm run stripe:seed</code>.
                </p>
              )}
            </section>
          );
        })}
      </div>
    </main>
  );
}
