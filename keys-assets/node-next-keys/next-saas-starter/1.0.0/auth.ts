import NextAuth from "next-auth";
import GitHub from "next-auth/providers/github";
import Resend from "next-auth/providers/resend";
import { PrismaAdapter } from "@auth/prisma-adapter";
import { db } from "./lib/db";

/**
 * Turns pending, unexpired invitations for this email into memberships.
 * Runs on every sign-in, so it works for brand-new and existing users alike.
 */
async function acceptPendingInvitations(userId: string, email: string) {
  const invitations = await db.invitation.findMany({
    where: { email: email.toLowerCase(), expiresAt: { gt: new Date() } },
  });
  for (const invitation of invitations) {
    await db.$transaction([
      db.membership.upsert({
        where: { organizationId_userId: { organizationId: invitation.organizationId, userId } },
        create: { organizationId: invitation.organizationId, userId, role: invitation.role },
        update: {},
      }),
      db.invitation.delete({ where: { id: invitation.id } }),
      db.auditLog.create({
        data: {
          organizationId: invitation.organizationId,
          actorId: userId,
          action: "member.joined",
          target: email,
          metadata: { role: invitation.role, invitedById: invitation.invitedById },
        },
      }),
    ]);
  }
}

export const { handlers, auth, signIn, signOut } = NextAuth({
  adapter: PrismaAdapter(db),
  // Database sessions: signing out or deleting a Session row revokes access
  // immediately, which enterprise customers expect.
  session: { strategy: "database", maxAge: 14 * 24 * 60 * 60, updateAge: 24 * 60 * 60 },
  providers: [GitHub, Resend({ from: process.env.EMAIL_FROM })],
  pages: { signIn: "/" },
  callbacks: {
    session({ session, user }) {
      session.user.id = user.id;
      return session;
    },
  },
  events: {
    async signIn({ user }) {
      if (user.id && user.email) await acceptPendingInvitations(user.id, user.email);
    },
  },
});
