import NextAuth from "next-auth";
import { PrismaAdapter } from "@auth/prisma-adapter";
import authConfig from "./auth.config";
import { prisma } from "./lib/prisma";

export const { handlers, auth, signIn, signOut } = NextAuth({
  ...authConfig,
  adapter: PrismaAdapter(prisma),
  // JWT sessions let middleware verify the session without a database call.
  // Users, OAuth accounts and verification tokens are still stored in Postgres.
  session: { strategy: "jwt", maxAge: 30 * 24 * 60 * 60 },
});
