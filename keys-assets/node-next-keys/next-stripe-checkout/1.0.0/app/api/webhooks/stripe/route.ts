import { NextResponse } from "next/server";
import type Stripe from "stripe";
import { fulfillCheckout } from "../../../../lib/fulfillment";
import { stripe } from "../../../../lib/stripe";

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

  switch (event.type) {
    case "checkout.session.completed":
    case "checkout.session.async_payment_succeeded": {
      const result = await fulfillCheckout(event.data.object.id);
      console.info(`[stripe webhook] ${event.type} ${event.data.object.id}: ${result.status}`);
      break;
    }
    case "checkout.session.async_payment_failed": {
      const session = event.data.object;
      console.warn(`[stripe webhook] async payment failed for ${session.id} (${session.customer_details?.email})`);
      break;
    }
    default:
      // Subscribe only to the events above in the Dashboard; anything else is acknowledged and ignored.
      break;
  }

  // Any 2xx tells Stripe to stop retrying. Errors thrown above produce a 500 and Stripe retries.
  return NextResponse.json({ received: true });
}
