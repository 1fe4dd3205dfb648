import { NextResponse, type NextRequest } from "next/server";

/**
 * HTTP basic auth in front of every page and server action. It is a simple,
 * dependency-free gate for an internal tool; put an SSO proxy or Auth.js in
 * front instead when several people need individual accounts.
 */
export function middleware(request: NextRequest) {
  const user = process.env.ADMIN_USER ?? "admin";
  const password = process.env.ADMIN_PASSWORD;

  if (!password) {
    return new NextResponse("ADMIN_PASSWORD is not configured", { status: 503 });
  }

  const header = request.headers.get("authorization") ?? "";
  if (header.startsWith("Basic ")) {
    const decoded = atob(header.slice(6));
    const separator = decoded.indexOf(":");
    if (constantTimeEqual(decoded.slice(0, separator), user) && constantTimeEqual(decoded.slice(separator + 1), password)) {
      return NextResponse.next();
    }
  }

  return new NextResponse("Authentication required", {
    status: 401,
    headers: { "WWW-Authenticate": 'Basic realm="admin", charset="UTF-8"' },
  });
}

function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico).*)"],
};
