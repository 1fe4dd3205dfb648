"use server";

import { revalidatePath } from "next/cache";
import { redirect } from "next/navigation";
import { z } from "zod";
import { PAID_PLANS, priceForPlan, stripe, type PaidPlan } from "../../../lib/billing";
import { db } from "../../../lib/db";
import { canManageMember, hasFreeSeat, leavesAnOwner, type Role } from "../../../lib/permissions";
import { audit, requireMembership } from "../../../lib/tenancy";

export type ActionResult = { ok: true; message: string } | { ok: false; message: string };

const RoleSchema = z.enum(["OWNER", "ADMIN", "MEMBER"]);
const INVITATION_TTL_DAYS = 7;
const appUrl = () => (process.env.APP_URL ?? "http://localhost:3000").replace(/\/$/, "");

async function sendInvitationEmail(to: string, organizationName: string, inviter: string) {
  const key = process.env.AUTH_RESEND_KEY;
  const text = `${inviter} invited you to join ${organizationName} on Acme.\n\nSign in with this email address to accept: ${appUrl()}\n\nThe invitation expires in ${INVITATION_TTL_DAYS} days.`;
  if (!key) {
    console.info(`[invite] AUTH_RESEND_KEY not set; would email ${to}:\n${text}`);
    return;
  }
  const response = await fetch("https://api.resend.com/emails", {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ from: process.env.EMAIL_FROM, to, subject: `Join ${organizationName} on Acme`, text }),
  });
  if (!response.ok) throw new Error(`Invitation email failed: ${response.status} ${await response.text()}`);
}

export async function inviteMember(slug: string, _prev: ActionResult | null, formData: FormData): Promise<ActionResult> {
  const { user, organization, role: actorRole } = await requireMembership(slug, "ADMIN");
  const parsed = z
    .object({ email: z.email().transform((e) => e.toLowerCase()), role: RoleSchema })
    .safeParse({ email: formData.get("email"), role: formData.get("role") });
  if (!parsed.success) return { ok: false, message: "Enter a valid email and role." };
  const { email, role } = parsed.data;

  if (!canManageMember(actorRole, "MEMBER", role)) return { ok: false, message: "Only owners can invite owners." };

  const [members, pending, existing] = await Promise.all([
    db.membership.count({ where: { organizationId: organization.id } }),
    db.invitation.count({ where: { organizationId: organization.id, expiresAt: { gt: new Date() } } }),
    db.membership.findFirst({ where: { organizationId: organization.id, user: { email } } }),
  ]);
  if (existing) return { ok: false, message: `${email} is already a member.` };
  if (!hasFreeSeat(organization.plan, members, pending)) {
    return { ok: false, message: `The ${organization.plan.toLowerCase()} plan has no free seats. Upgrade to invite more people.` };
  }

  const expiresAt = new Date(Date.now() + INVITATION_TTL_DAYS * 86_400_000);
  await db.$transaction(async (tx) => {
    await tx.invitation.upsert({
      where: { organizationId_email: { organizationId: organization.id, email } },
      create: { organizationId: organization.id, email, role, invitedById: user.id, expiresAt },
      update: { role, invitedById: user.id, expiresAt },
    });
    await audit(organization.id, user.id, "member.invited", email, { role }, tx);
  });
  await sendInvitationEmail(email, organization.name, user.name ?? user.email ?? "A teammate");

  revalidatePath(`/orgs/${slug}`);
  return { ok: true, message: `Invitation sent to ${email}.` };
}

export async function revokeInvitation(slug: string, invitationId: string): Promise<void> {
  const { user, organization } = await requireMembership(slug, "ADMIN");
  const invitation = await db.invitation.findFirst({ where: { id: invitationId, organizationId: organization.id } });
  if (!invitation) return;
  await db.$transaction(async (tx) => {
    await tx.invitation.delete({ where: { id: invitation.id } });
    await audit(organization.id, user.id, "member.invitation_revoked", invitation.email, undefined, tx);
  });
  revalidatePath(`/orgs/${slug}`);
}

/** Changes a member's role, or removes them when `nextRole` is null. */
export async function updateMember(slug: string, membershipId: string, nextRole: Role | null): Promise<void> {
  const { user, organization, role: actorRole } = await requireMembership(slug, "ADMIN");
  if (nextRole !== null) RoleSchema.parse(nextRole);

  await db.$transaction(async (tx) => {
    const target = await tx.membership.findFirst({
      where: { id: membershipId, organizationId: organization.id },
      include: { user: { select: { email: true } } },
    });
    if (!target) throw new Error("Member not found.");
    if (target.userId === user.id) throw new Error("You cannot change your own membership here.");
    if (!canManageMember(actorRole, target.role, nextRole)) throw new Error("You are not allowed to do that.");

    const owners = await tx.membership.count({ where: { organizationId: organization.id, role: "OWNER" } });
    if (!leavesAnOwner(owners, target.role, nextRole)) throw new Error("An organization needs at least one owner.");

    if (nextRole === null) {
      await tx.membership.delete({ where: { id: target.id } });
      await audit(organization.id, user.id, "member.removed", target.user.email ?? target.userId, { role: target.role }, tx);
    } else {
      await tx.membership.update({ where: { id: target.id }, data: { role: nextRole } });
      await audit(organization.id, user.id, "member.role_changed", target.user.email ?? target.userId, { from: target.role, to: nextRole }, tx);
    }
  });
  revalidatePath(`/orgs/${slug}`);
}

/** Starts a Stripe Checkout for a paid plan. Owners only. */
export async function startCheckout(slug: string, plan: PaidPlan): Promise<void> {
  const { user, organization } = await requireMembership(slug, "OWNER");
  if (!(plan in PAID_PLANS)) throw new Error("Unknown plan");
  if (organization.stripeSubscriptionId) {
    // Plan changes for existing subscribers go through the portal (proration handled by Stripe).
    return openBillingPortal(slug);
  }

  let customerId = organization.stripeCustomerId;
  if (!customerId) {
    const customer = await stripe.customers.create({
      name: organization.name,
      email: user.email ?? undefined,
      metadata: { organizationId: organization.id },
    });
    customerId = customer.id;
    await db.organization.update({ where: { id: organization.id }, data: { stripeCustomerId: customerId } });
  }

  const price = await priceForPlan(plan);
  const session = await stripe.checkout.sessions.create({
    mode: "subscription",
    customer: customerId,
    client_reference_id: organization.id,
    line_items: [{ price: price.id, quantity: 1 }],
    subscription_data: { metadata: { organizationId: organization.id } },
    allow_promotion_codes: true,
    success_url: `${appUrl()}/orgs/${slug}?billing=success`,
    cancel_url: `${appUrl()}/orgs/${slug}?billing=canceled`,
  });
  await audit(organization.id, user.id, "billing.checkout_started", plan);
  redirect(session.url!);
}

export async function openBillingPortal(slug: string): Promise<void> {
  const { organization } = await requireMembership(slug, "OWNER");
  if (!organization.stripeCustomerId) throw new Error("This organization has no billing account yet.");
  const portal = await stripe.billingPortal.sessions.create({
    customer: organization.stripeCustomerId,
    return_url: `${appUrl()}/orgs/${slug}`,
  });
  redirect(portal.url);
}
