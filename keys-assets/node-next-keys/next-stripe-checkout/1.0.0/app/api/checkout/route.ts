import { NextResponse } from "next/server";
import { findCatalogItem } from "../../../lib/catalog";
import { appUrl, stripe } from "../../../lib/stripe";

export async function POST(request: Request) {
  const form = await request.formData();
  const lookupKey = String(form.get("lookup_key") ?? "");

  // Only sell what is in the catalog, whatever the form says.
  const item = findCatalogItem(lookupKey);
  if (!item) {
    return NextResponse.json({ error: "Unknown product" }, { status: 400 });
  }

  const { data: prices } = await stripe.prices.list({ lookup_keys: [lookupKey], active: true, limit: 1 });
  const price = prices[0];
  if (!price) {
    return NextResponse.json({ error: `No active Stripe price for ${lookupKey}` }, { status: 503 });
  }

  const session = await stripe.checkout.sessions.create({
    mode: "payment",
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: `${appUrl()}/success?session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: `${appUrl()}/?canceled=1`,
    customer_creation: "always",
    allow_promotion_codes: true,
    automatic_tax: { enabled: process.env.STRIPE_AUTOMATIC_TAX === "true" },
    metadata: { product_id: item.id },
    payment_intent_data: { metadata: { product_id: item.id } },
  });

  if (!session.url) {
    return NextResponse.json({ error: "Stripe did not return a Checkout URL" }, { status: 502 });
  }
  // 303 turns the browser's POST into a GET on the Checkout page.
  return NextResponse.redirect(session.url, 303);
}
