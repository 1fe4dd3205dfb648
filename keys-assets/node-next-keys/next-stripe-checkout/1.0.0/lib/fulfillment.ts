import { createHmac } from "node:crypto";
import type Stripe from "stripe";
import { stripe } from "./stripe";

export type FulfillmentResult =
  | { status: "fulfilled"; licenseKey: string; email: string | null; firstTime: boolean }
  | { status: "pending" }
  | { status: "not-found" };

/**
 * License keys are derived from the Checkout Session id with an HMAC, so the
 * webhook and the success page always compute the same key even if they run at
 * the same time, and keys can be verified later without a database.
 */
export function licenseKeyFor(sessionId: string): string {
  const secret = process.env.LICENSE_SIGNING_SECRET;
  if (!secret) throw new Error("LICENSE_SIGNING_SECRET is not set");
  const digest = createHmac("sha256", secret).update(sessionId).digest("hex").toUpperCase();
  return digest.slice(0, 20).match(/.{5}/g)!.join("-");
}

/**
 * Idempotent fulfillment, safe to call from both the webhook and the success
 * page. The PaymentIntent's metadata is the record of what was delivered.
 */
export async function fulfillCheckout(sessionId: string): Promise<FulfillmentResult> {
  let session: Stripe.Checkout.Session;
  try {
    session = await stripe.checkout.sessions.retrieve(sessionId, { expand: ["payment_intent"] });
  } catch (error) {
    if (error instanceof Error && "statusCode" in error && error.statusCode === 404) return { status: "not-found" };
    throw error;
  }

  // Bank debits and similar methods complete later; the webhook
  // `checkout.session.async_payment_succeeded` calls us again then.
  if (session.payment_status === "unpaid") return { status: "pending" };

  const licenseKey = licenseKeyFor(session.id);
  const email = session.customer_details?.email ?? null;
  const paymentIntent = session.payment_intent as Stripe.PaymentIntent | null;

  if (!paymentIntent) {
    // 100% discount: no PaymentIntent is created, the key is still derivable.
    return { status: "fulfilled", licenseKey, email, firstTime: false };
  }
  if (paymentIntent.metadata.license_key === licenseKey) {
    return { status: "fulfilled", licenseKey, email, firstTime: false };
  }

  await stripe.paymentIntents.update(paymentIntent.id, {
    metadata: {
      license_key: licenseKey,
      fulfilled_at: new Date().toISOString(),
      product_id: session.metadata?.product_id ?? "",
    },
  });
  console.info(`[fulfillment] delivered ${session.metadata?.product_id} to ${email} (session ${session.id})`);

  return { status: "fulfilled", licenseKey, email, firstTime: true };
}
