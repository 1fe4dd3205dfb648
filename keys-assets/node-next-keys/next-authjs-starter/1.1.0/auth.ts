import NextAuth from "next-auth";
import Resend from "next-auth/providers/resend";
import { PrismaAdapter } from "@auth/prisma-adapter";
import authConfig, { type Role } from "./auth.config";
import { prisma } from "./lib/prisma";

const adminEmails = new Set(
  (process.env.ADMIN_EMAILS ?? "")
    .split(",")
    .map((email) => email.trim().toLowerCase())
    .filter(Boolean),
);

/** Reads the user's role, promoting addresses listed in ADMIN_EMAILS on sign-in. */
async function resolveRole(userId: string, email: string | null | undefined): Promise<Role> {
  const user = await prisma.user.findUnique({ where: { id: userId }, select: { role: true } });
  if (email && adminEmails.has(email.toLowerCase()) && user?.role !== "ADMIN") {
    await prisma.user.update({ where: { id: userId }, data: { role: "ADMIN" } });
    return "ADMIN";
  }
  return user?.role ?? "USER";
}

export const { handlers, auth, signIn, signOut, unstable_update } = NextAuth({
  ...authConfig,
  adapter: PrismaAdapter(prisma),
  // JWT sessions let middleware verify the session without a database call.
  session: { strategy: "jwt", maxAge: 30 * 24 * 60 * 60 },
  providers: [
    ...authConfig.providers,
    // Magic links need the adapter (verification tokens), so the provider lives
    // here rather than in the edge config. Reads AUTH_RESEND_KEY.
    Resend({ from: process.env.AUTH_EMAIL_FROM }),
  ],
  callbacks: {
    ...authConfig.callbacks,
    async jwt({ token, user, trigger }) {
      if (user?.id) {
        // Sign-in: load the role once and store it in the encrypted token.
        token.role = await resolveRole(user.id, user.email);
      } else if (trigger === "update" && token.sub) {
        // `unstable_update()` / `useSession().update()` refreshes the role.
        token.role = (await prisma.user.findUnique({ where: { id: token.sub }, select: { role: true } }))?.role;
      }
      return token;
    },
  },
});
