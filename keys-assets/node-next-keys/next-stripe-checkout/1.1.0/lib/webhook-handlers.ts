import type Stripe from "stripe";

/**
 * Pure event routing, separated from the Stripe client and the HTTP layer so it
 * can be unit-tested with fake dependencies (see test/webhook-handlers.test.ts).
 */
export interface WebhookDeps {
  fulfillCheckout(sessionId: string): Promise<{ status: string }>;
  syncSubscriptionLicense(subscription: Stripe.Subscription): Promise<unknown>;
  notifyPaymentFailed(invoice: Stripe.Invoice): Promise<void>;
}

/** Every event type this app acts on; subscribe the webhook endpoint to exactly these. */
export const HANDLED_EVENTS = [
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.async_payment_failed",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "invoice.payment_failed",
] as const satisfies readonly Stripe.Event.Type[];

export type HandledEvent = (typeof HANDLED_EVENTS)[number];

export async function handleStripeEvent(event: Stripe.Event, deps: WebhookDeps): Promise<{ handled: boolean }> {
  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded": {
      const session = event.data.object;
      // A completed session with an unpaid delayed payment is fulfilled later.
      if (session.payment_status === "unpaid") return { handled: true };
      await deps.fulfillCheckout(session.id);
      return { handled: true };
    }
    case "checkout.session.async_payment_failed": {
      const session = event.data.object;
      console.warn(`[stripe webhook] async payment failed for ${session.id} (${session.customer_details?.email})`);
      return { handled: true };
    }
    case "customer.subscription.updated":
    case "customer.subscription.deleted":
      await deps.syncSubscriptionLicense(event.data.object);
      return { handled: true };
    case "invoice.payment_failed":
      await deps.notifyPaymentFailed(event.data.object);
      return { handled: true };
    default:
      return { handled: false };
  }
}
