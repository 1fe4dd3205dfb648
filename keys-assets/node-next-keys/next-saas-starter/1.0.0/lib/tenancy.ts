import "server-only";
import type { Prisma } from "@prisma/client";
import { notFound, redirect } from "next/navigation";
import { auth } from "../auth";
import { db } from "./db";
import { roleAtLeast, type Role } from "./permissions";

export async function requireUser() {
  const session = await auth();
  if (!session?.user?.id) redirect("/");
  return session.user as { id: string; email?: string | null; name?: string | null };
}

/**
 * The tenancy boundary. Every page and action under /orgs/[slug] starts here:
 * it resolves the organization *through the signed-in user's membership*, so a
 * user can never load an organization they don't belong to — non-members get
 * a 404, not a 403, to avoid revealing which slugs exist.
 */
export async function requireMembership(slug: string, minimum: Role = "MEMBER") {
  const user = await requireUser();
  const membership = await db.membership.findFirst({
    where: { userId: user.id, organization: { slug } },
    include: { organization: true },
  });
  if (!membership) notFound();
  if (!roleAtLeast(membership.role, minimum)) {
    throw new Error(`This action requires the ${minimum} role.`);
  }
  return { user, membership, organization: membership.organization, role: membership.role as Role };
}

export async function audit(
  organizationId: string,
  actorId: string | null,
  action: string,
  target?: string,
  metadata?: Prisma.InputJsonValue,
  client: Prisma.TransactionClient = db,
) {
  await client.auditLog.create({ data: { organizationId, actorId, action, target, metadata } });
}
