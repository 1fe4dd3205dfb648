import Link from "next/link";
import { auth, signIn } from "../auth";

type Props = { searchParams: Promise<{ callbackUrl?: string; error?: string }> };

// Only allow relative redirects so ?callbackUrl= can't be used as an open redirect.
function safeRedirect(target: string | undefined): string {
  return target && target.startsWith("/") && !target.startsWith("//") ? target : "/dashboard";
}

export default async function HomePage({ searchParams }: Props) {
  const [session, params] = await Promise.all([auth(), searchParams]);
  const redirectTo = safeRedirect(params.callbackUrl);

  if (session?.user) {
    return (
      <main>
        <h1>Welcome back, {session.user.name ?? session.user.email}</h1>
        <p>
          <Link href="/dashboard">Go to your dashboard →</Link>
        </p>
      </main>
    );
  }

  return (
    <main>
      <h1>Sign in</h1>
      <p>This page is public. Everything under /dashboard requires a signed-in user.</p>
      {params.error && (
        <p role="alert" style={{ color: "crimson" }}>
          Sign-in failed ({params.error}). Please try again.
        </p>
      )}
      <form
        action={async () => {
          "use server";
          await signIn("github", { redirectTo });
        }}
      >
        <button type="submit">Continue with GitHub</button>
      </form>
    </main>
  );
}
