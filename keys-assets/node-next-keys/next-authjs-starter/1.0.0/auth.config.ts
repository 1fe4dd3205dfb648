import type { NextAuthConfig } from "next-auth";
import GitHub from "next-auth/providers/github";

/**
 * Edge-safe part of the Auth.js config: no database adapter, no Node-only
 * imports. middleware.ts uses only this file; auth.ts extends it with Prisma.
 */
export default {
  // Reads AUTH_GITHUB_ID and AUTH_GITHUB_SECRET automatically.
  providers: [GitHub],
  pages: {
    signIn: "/",
  },
  callbacks: {
    // Runs in middleware for every matched request. Returning false redirects
    // to pages.signIn with a callbackUrl back to the requested page.
    authorized({ auth, request: { nextUrl } }) {
      const isSignedIn = Boolean(auth?.user);
      const isProtected = nextUrl.pathname.startsWith("/dashboard");
      if (isProtected) return isSignedIn;
      return true;
    },
  },
} satisfies NextAuthConfig;
