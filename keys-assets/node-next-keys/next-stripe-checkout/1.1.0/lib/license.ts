import { createHmac } from "node:crypto";
import type Stripe from "stripe";

// Pure license helpers: no Stripe client, so they are easy to unit-test and
// can be reused by a license-verification endpoint.

export type LicenseStatus = "active" | "suspended" | "revoked";

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

/** Maps Stripe's subscription status to what the license should allow. */
export function licenseStatusFor(status: Stripe.Subscription.Status): LicenseStatus {
  switch (status) {
    case "active":
    case "trialing":
      return "active";
    case "past_due":
    case "unpaid":
    case "paused":
    case "incomplete":
      return "suspended";
    default: // canceled, incomplete_expired
      return "revoked";
  }
}
