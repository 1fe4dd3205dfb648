import { NextResponse } from "next/server";
import { appUrl, stripe } from "../../../lib/stripe";

/**
 * Opens the Stripe Customer Portal (update card, switch plan, cancel, download
 * invoices) for the customer of a completed Checkout Session.
 *
 * The Checkout Session id acts as a bearer credential here, which suits a
 * store without accounts. If your app has sign-in, look the Stripe customer up
 * from the signed-in user instead of accepting an id from the form.
 */
export async function POST(request: Request) {
  const form = await request.formData();
  const sessionId = String(form.get("session_id") ?? "");
  if (!sessionId.startsWith("cs_")) {
    return NextResponse.json({ error: "Missing checkout session" }, { status: 400 });
  }

  const checkout = await stripe.checkout.sessions.retrieve(sessionId);
  const customer = typeof checkout.customer === "string" ? checkout.customer : checkout.customer?.id;
  if (checkout.status !== "complete" || !customer) {
    return NextResponse.json({ error: "No customer for this checkout" }, { status: 404 });
  }

  const portal = await stripe.billingPortal.sessions.create({
    customer,
    return_url: `${appUrl()}/success?session_id=${encodeURIComponent(sessionId)}`,
  });
  return NextResponse.redirect(portal.url, 303);
}
