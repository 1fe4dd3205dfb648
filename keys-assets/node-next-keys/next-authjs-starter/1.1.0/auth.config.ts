import type { DefaultSession, NextAuthConfig } from "next-auth";
import GitHub from "next-auth/providers/github";
// Loads the JWT module so it can be augmented below.
import type {} from "next-auth/jwt";

export type Role = "USER" | "ADMIN";

declare module "next-auth" {
  interface Session {
    user: { id: string; role: Role } & DefaultSession["user"];
  }
  interface User {
    role?: Role;
  }
}

declare module "next-auth/jwt" {
  interface JWT {
    role?: Role;
  }
}

/**
 * Edge-safe part of the Auth.js config: no database adapter, no Node-only
 * imports. middleware.ts uses only this file; auth.ts extends it with Prisma,
 * the email provider and a database-aware jwt callback.
 */
export default {
  // Reads AUTH_GITHUB_ID and AUTH_GITHUB_SECRET automatically.
  providers: [GitHub],
  pages: {
    signIn: "/",
  },
  callbacks: {
    // Copy id and role from the JWT onto the session object that pages see.
    session({ session, token }) {
      if (token.sub) session.user.id = token.sub;
      session.user.role = token.role ?? "USER";
      return session;
    },
    // Fast first gate, evaluated in middleware. Pages and actions re-check
    // against the database (lib/authz.ts), which is the source of truth.
    authorized({ auth, request: { nextUrl } }) {
      const user = auth?.user;
      const path = nextUrl.pathname;

      if (path.startsWith("/admin")) {
        if (!user) return false;
        if (user.role !== "ADMIN") return Response.redirect(new URL("/dashboard", nextUrl));
        return true;
      }
      if (path.startsWith("/dashboard")) return Boolean(user);
      return true;
    },
  },
} satisfies NextAuthConfig;
