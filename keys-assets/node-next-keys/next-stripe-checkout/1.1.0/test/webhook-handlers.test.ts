import Stripe from "stripe";
import { describe, expect, it, vi } from "vitest";
import { licenseKeyFor, licenseStatusFor } from "../lib/license";
import { handleStripeEvent, type WebhookDeps } from "../lib/webhook-handlers";

// A client is only needed for its webhook helpers; no request is made.
const stripe = new Stripe("sk_test_unit");
const secret = "whsec_unit_test_secret";

function signedEvent(type: string, object: Record<string, unknown>) {
  const payload = JSON.stringify({ id: "evt_test", object: "event", type, data: { object } });
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret });
  return { payload, header };
}

function fakeDeps(): WebhookDeps {
  return {
    fulfillCheckout: vi.fn(async () => ({ status: "fulfilled" })),
    syncSubscriptionLicense: vi.fn(async () => "active"),
    notifyPaymentFailed: vi.fn(async () => {}),
  };
}

describe("signature verification", () => {
  it("accepts a correctly signed payload", () => {
    const { payload, header } = signedEvent("checkout.session.completed", { id: "cs_test_1" });
    const event = stripe.webhooks.constructEvent(payload, header, secret);
    expect(event.type).toBe("checkout.session.completed");
  });

  it("rejects a tampered payload", () => {
    const { payload, header } = signedEvent("checkout.session.completed", { id: "cs_test_1" });
    const tampered = payload.replace("cs_test_1", "cs_test_2");
    expect(() => stripe.webhooks.constructEvent(tampered, header, secret)).toThrow(/signature/i);
  });

  it("rejects a payload signed with another secret", () => {
    const { payload } = signedEvent("checkout.session.completed", { id: "cs_test_1" });
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_other" });
    expect(() => stripe.webhooks.constructEvent(payload, header, secret)).toThrow();
  });
});

describe("handleStripeEvent", () => {
  const event = (type: string, object: Record<string, unknown>) =>
    ({ id: "evt_1", object: "event", type, data: { object } }) as unknown as Stripe.Event;

  it("fulfils paid checkouts", async () => {
    const deps = fakeDeps();
    await handleStripeEvent(event("checkout.session.completed", { id: "cs_1", payment_status: "paid" }), deps);
    expect(deps.fulfillCheckout).toHaveBeenCalledWith("cs_1");
  });

  it("waits for delayed payments instead of fulfilling", async () => {
    const deps = fakeDeps();
    const result = await handleStripeEvent(
      event("checkout.session.completed", { id: "cs_2", payment_status: "unpaid" }),
      deps,
    );
    expect(result.handled).toBe(true);
    expect(deps.fulfillCheckout).not.toHaveBeenCalled();

    await handleStripeEvent(event("checkout.session.async_payment_succeeded", { id: "cs_2", payment_status: "paid" }), deps);
    expect(deps.fulfillCheckout).toHaveBeenCalledWith("cs_2");
  });

  it("syncs licenses on subscription changes and reports failed renewals", async () => {
    const deps = fakeDeps();
    await handleStripeEvent(event("customer.subscription.deleted", { id: "sub_1", status: "canceled" }), deps);
    await handleStripeEvent(event("invoice.payment_failed", { id: "in_1" }), deps);
    expect(deps.syncSubscriptionLicense).toHaveBeenCalledWith(expect.objectContaining({ id: "sub_1" }));
    expect(deps.notifyPaymentFailed).toHaveBeenCalledWith(expect.objectContaining({ id: "in_1" }));
  });

  it("ignores events it does not handle", async () => {
    const deps = fakeDeps();
    const result = await handleStripeEvent(event("customer.created", { id: "cus_1" }), deps);
    expect(result.handled).toBe(false);
  });
});

describe("licenseStatusFor", () => {
  it.each([
    ["active", "active"],
    ["trialing", "active"],
    ["past_due", "suspended"],
    ["unpaid", "suspended"],
    ["canceled", "revoked"],
    ["incomplete_expired", "revoked"],
  ] as const)("%s -> %s", (status, expected) => {
    expect(licenseStatusFor(status)).toBe(expected);
  });
});

describe("licenseKeyFor", () => {
  it("is deterministic per session and secret", () => {
    vi.stubEnv("LICENSE_SIGNING_SECRET", "test-secret");
    const key = licenseKeyFor("cs_test_abc");
    expect(key).toMatch(/^[0-9A-F]{5}(-[0-9A-F]{5}){3}$/);
    expect(licenseKeyFor("cs_test_abc")).toBe(key);
    expect(licenseKeyFor("cs_test_abd")).not.toBe(key);

    vi.stubEnv("LICENSE_SIGNING_SECRET", "another-secret");
    expect(licenseKeyFor("cs_test_abc")).not.toBe(key);
    vi.unstubAllEnvs();
  });
});
