import Stripe from "stripe";

const secretKey = process.env.STRIPE_SECRET_KEY;
if (!secretKey) {
  throw new Error("STRIPE_SECRET_KEY is not set. Copy .env.example to .env.local and add your test key.");
}

// Server-side only: never import this module from a client component.
// The API version defaults to the one the installed SDK was built against.
export const stripe = new Stripe(secretKey, {
  appInfo: { name: "next-stripe-checkout", version: "1.0.0" },
  maxNetworkRetries: 2,
});

export function appUrl(): string {
  return (process.env.NEXT_PUBLIC_APP_URL ?? "http://localhost:3000").replace(/\/$/, "");
}
