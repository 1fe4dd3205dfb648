import type Stripe from "stripe";
import { licenseKeyFor, licenseStatusFor, type LicenseStatus } from "./license";
import { stripe } from "./stripe";

export type FulfillmentResult =
  | { status: "fulfilled"; licenseKey: string; email: string | null; firstTime: boolean; mode: "payment" | "subscription" }
  | { status: "pending" }
  | { status: "not-found" };

/**
 * Idempotent fulfillment, safe to call from both the webhook and the success
 * page. One-time purchases are recorded on the PaymentIntent's metadata,
 * subscriptions on the Subscription's metadata.
 */
export async function fulfillCheckout(sessionId: string): Promise<FulfillmentResult> {
  let session: Stripe.Checkout.Session;
  try {
    session = await stripe.checkout.sessions.retrieve(sessionId, { expand: ["payment_intent", "subscription"] });
  } catch (error) {
    if (error instanceof Error && "statusCode" in error && error.statusCode === 404) return { status: "not-found" };
    throw error;
  }

  // Bank debits and similar methods complete later; the webhook
  // `checkout.session.async_payment_succeeded` calls us again then.
  if (session.status !== "complete" || session.payment_status === "unpaid") return { status: "pending" };

  const licenseKey = licenseKeyFor(session.id);
  const email = session.customer_details?.email ?? null;
  const mode = session.mode === "subscription" ? "subscription" : "payment";
  const productId = session.metadata?.product_id ?? "";

  const target =
    mode === "subscription"
      ? { kind: "subscription" as const, object: session.subscription as Stripe.Subscription | null }
      : { kind: "payment_intent" as const, object: session.payment_intent as Stripe.PaymentIntent | null };

  if (!target.object || target.object.metadata.license_key === licenseKey) {
    // Already delivered, or a 100%-discounted one-time purchase without a PaymentIntent.
    return { status: "fulfilled", licenseKey, email, firstTime: false, mode };
  }

  const metadata = { license_key: licenseKey, fulfilled_at: new Date().toISOString(), product_id: productId };
  if (target.kind === "subscription") {
    await stripe.subscriptions.update(target.object.id, {
      metadata: { ...metadata, license_status: licenseStatusFor(target.object.status) },
    });
  } else {
    await stripe.paymentIntents.update(target.object.id, { metadata });
  }
  console.info(`[fulfillment] delivered ${productId} (${mode}) to ${email} (session ${session.id})`);

  return { status: "fulfilled", licenseKey, email, firstTime: true, mode };
}

/**
 * Keeps `license_status` on the subscription in line with its billing status.
 * Updating metadata emits another `customer.subscription.updated` event, so we
 * only write when the value actually changes to avoid a webhook loop.
 */
export async function syncSubscriptionLicense(subscription: Stripe.Subscription): Promise<LicenseStatus | null> {
  if (!subscription.metadata.license_key) return null; // not fulfilled yet; fulfillCheckout sets the initial status
  const next = licenseStatusFor(subscription.status);
  if (subscription.metadata.license_status === next) return next;

  if (subscription.status === "canceled") {
    // Canceled subscriptions can't be updated; the status is final anyway.
    console.info(`[license] ${subscription.metadata.license_key} revoked (subscription ${subscription.id} canceled)`);
    return next;
  }
  await stripe.subscriptions.update(subscription.id, { metadata: { license_status: next } });
  console.info(`[license] ${subscription.metadata.license_key} -> ${next} (subscription ${subscription.id} is ${subscription.status})`);
  return next;
}

/** Stripe retries failed renewals and emails the customer (if enabled in Settings → Billing). */
export async function notifyPaymentFailed(invoice: Stripe.Invoice): Promise<void> {
  console.warn(
    `[billing] renewal payment failed for ${invoice.customer_email ?? invoice.customer} ` +
      `(invoice ${invoice.id}, attempt ${invoice.attempt_count}); hosted invoice: ${invoice.hosted_invoice_url}`,
  );
}
