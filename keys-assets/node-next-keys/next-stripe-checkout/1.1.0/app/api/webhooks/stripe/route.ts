import { NextResponse } from "next/server";
import type Stripe from "stripe";
import { fulfillCheckout, notifyPaymentFailed, syncSubscriptionLicense } from "../../../../lib/fulfillment";
import { stripe } from "../../../../lib/stripe";
import { handleStripeEvent } from "../../../../lib/webhook-handlers";

export async function POST(request: Request) {
  const signature = request.headers.get("stripe-signature");
  const secret = process.env.STRIPE_WEBHOOK_SECRET;
  if (!signature || !secret) {
    return NextResponse.json({ error: "Missing signature or webhook secret" }, { status: 400 });
  }

  // The signature covers the exact bytes Stripe sent, so read the raw text body.
  const payload = await request.text();
  let event: Stripe.Event;
  try {
    event = stripe.webhooks.constructEvent(payload, signature, secret);
  } catch (error) {
    console.warn("[stripe webhook] signature verification failed:", (error as Error).message);
    return NextResponse.json({ error: "Invalid signature" }, { status: 400 });
  }

  try {
    const { handled } = await handleStripeEvent(event, { fulfillCheckout, syncSubscriptionLicense, notifyPaymentFailed });
    console.info(`[stripe webhook] ${event.id} ${event.type}${handled ? "" : " (ignored)"}`);
  } catch (error) {
    // A 500 makes Stripe retry with exponential backoff for up to three days.
    console.error(`[stripe webhook] ${event.id} ${event.type} failed:`, error);
    return NextResponse.json({ error: "Handler failed" }, { status: 500 });
  }

  return NextResponse.json({ received: true });
}
