import "server-only";
import { redirect } from "next/navigation";
import { auth } from "../auth";
import { prisma } from "./prisma";

/**
 * Authoritative admin check for pages and server actions. The role in the JWT
 * can be stale for up to the session lifetime after a demotion, so this reads
 * the current role from the database.
 */
export async function requireAdmin() {
  const session = await auth();
  if (!session?.user?.id) redirect("/?callbackUrl=/admin");

  const user = await prisma.user.findUnique({
    where: { id: session.user.id },
    select: { id: true, email: true, role: true },
  });
  if (user?.role !== "ADMIN") redirect("/dashboard");
  return user;
}
