import "server-only";
import type { Plan } from "@prisma/client";
import Stripe from "stripe";
import { db } from "./db";
import { audit } from "./tenancy";

export const stripe = new Stripe(process.env.STRIPE_SECRET_KEY ?? "", {
  appInfo: { name: "next-saas-starter", version: "1.0.0" },
});

export const PAID_PLANS = {
  TEAM: process.env.STRIPE_PRICE_LOOKUP_TEAM ?? "team_monthly",
  BUSINESS: process.env.STRIPE_PRICE_LOOKUP_BUSINESS ?? "business_monthly",
} as const satisfies Partial<Record<Plan, string>>;

export type PaidPlan = keyof typeof PAID_PLANS;

export async function priceForPlan(plan: PaidPlan): Promise<Stripe.Price> {
  const { data } = await stripe.prices.list({ lookup_keys: [PAID_PLANS[plan]], active: true, limit: 1 });
  if (!data[0]) throw new Error(`No active Stripe price with lookup key ${PAID_PLANS[plan]}`);
  return data[0];
}

function planFromPrice(price: Stripe.Price | undefined): Plan {
  const entry = Object.entries(PAID_PLANS).find(([, lookupKey]) => lookupKey === price?.lookup_key);
  return (entry?.[0] as Plan | undefined) ?? "FREE";
}

/** Statuses in which the customer keeps the paid plan (past_due: Stripe is retrying). */
const ENTITLED = new Set<Stripe.Subscription.Status>(["active", "trialing", "past_due"]);

/**
 * Makes the organization's plan mirror its Stripe subscription. Called from the
 * webhook for every subscription event; idempotent, and it re-reads the
 * subscription from Stripe so out-of-order events can't apply stale state.
 */
export async function syncSubscription(subscriptionId: string): Promise<void> {
  const subscription = await stripe.subscriptions.retrieve(subscriptionId);
  const customerId = typeof subscription.customer === "string" ? subscription.customer : subscription.customer.id;

  const organization = await db.organization.findFirst({
    where: {
      OR: [{ id: subscription.metadata.organizationId ?? "" }, { stripeCustomerId: customerId }],
    },
  });
  if (!organization) throw new Error(`No organization for subscription ${subscription.id}`);

  const item = subscription.items.data[0];
  const plan = ENTITLED.has(subscription.status) ? planFromPrice(item?.price) : "FREE";
  const currentPeriodEnd = item ? new Date(item.current_period_end * 1000) : null;

  await db.$transaction(async (tx) => {
    await tx.organization.update({
      where: { id: organization.id },
      data: {
        plan,
        stripeCustomerId: customerId,
        stripeSubscriptionId: subscription.status === "canceled" ? null : subscription.id,
        subscriptionStatus: subscription.status,
        currentPeriodEnd,
      },
    });
    if (plan !== organization.plan || subscription.status !== organization.subscriptionStatus) {
      await audit(
        organization.id,
        null,
        "billing.subscription_changed",
        subscription.id,
        { from: organization.plan, to: plan, status: subscription.status },
        tx,
      );
    }
  });
}
