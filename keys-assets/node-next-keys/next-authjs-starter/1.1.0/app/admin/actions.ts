"use server";

import { revalidatePath } from "next/cache";
import type { Role } from "../../auth.config";
import { requireAdmin } from "../../lib/authz";
import { prisma } from "../../lib/prisma";

const ROLES: readonly Role[] = ["USER", "ADMIN"];

export async function setUserRole(userId: string, role: Role): Promise<void> {
  const admin = await requireAdmin();

  if (!ROLES.includes(role)) throw new Error(`Unknown role: ${String(role)}`);
  if (userId === admin.id && role !== "ADMIN") {
    throw new Error("You cannot remove your own admin role. Ask another admin to do it.");
  }

  await prisma.user.update({ where: { id: userId }, data: { role } });
  revalidatePath("/admin");
}
