import Link from "next/link";
import { redirect } from "next/navigation";
import { z } from "zod";
import { auth, signIn, signOut } from "../auth";
import { db } from "../lib/db";
import { slugify } from "../lib/permissions";
import { audit, requireUser } from "../lib/tenancy";

async function createOrganization(formData: FormData) {
  "use server";
  const user = await requireUser();
  const name = z.string().trim().min(2).max(60).parse(formData.get("name"));

  // Find a free slug: acme, acme-2, acme-3, ...
  const base = slugify(name);
  let slug = base;
  for (let n = 2; await db.organization.findUnique({ where: { slug }, select: { id: true } }); n++) {
    slug = `${base}-${n}`;
  }

  const organization = await db.$transaction(async (tx) => {
    const org = await tx.organization.create({
      data: { name, slug, memberships: { create: { userId: user.id, role: "OWNER" } } },
    });
    await audit(org.id, user.id, "organization.created", org.slug, { name }, tx);
    return org;
  });
  redirect(`/orgs/${organization.slug}`);
}

export default async function HomePage() {
  const session = await auth();

  if (!session?.user?.id) {
    return (
      <main>
        <h1>Acme</h1>
        <p>Sign in to create or join an organization.</p>
        <form
          action={async () => {
            "use server";
            await signIn("github", { redirectTo: "/" });
          }}
        >
          <button type="submit">Continue with GitHub</button>
        </form>
        <form
          style={{ marginTop: "1rem" }}
          action={async (formData: FormData) => {
            "use server";
            await signIn("resend", { email: String(formData.get("email") ?? ""), redirectTo: "/" });
          }}
        >
          <input name="email" type="email" required placeholder="you@company.com" autoComplete="email" />{" "}
          <button type="submit">Email me a sign-in link</button>
        </form>
      </main>
    );
  }

  const memberships = await db.membership.findMany({
    where: { userId: session.user.id },
    include: { organization: { select: { name: true, slug: true, plan: true } } },
    orderBy: { createdAt: "asc" },
  });

  return (
    <main>
      <header style={{ display: "flex", justifyContent: "space-between", alignItems: "center" }}>
        <h1>Your organizations</h1>
        <form
          action={async () => {
            "use server";
            await signOut({ redirectTo: "/" });
          }}
        >
          <small>{session.user.email}</small> <button type="submit">Sign out</button>
        </form>
      </header>

      {memberships.length === 0 ? (
        <p>You are not a member of any organization yet. Create one, or ask a teammate to invite {session.user.email}.</p>
      ) : (
        <ul>
          {memberships.map(({ organization, role }) => (
            <li key={organization.slug}>
              <Link href={`/orgs/${organization.slug}`}>{organization.name}</Link> — {role.toLowerCase()},{" "}
              {organization.plan.toLowerCase()} plan
            </li>
          ))}
        </ul>
      )}

      <h2>New organization</h2>
      <form action={createOrganization}>
        <input name="name" required minLength={2} maxLength={60} placeholder="Acme Inc." />{" "}
        <button type="submit">Create</button>
      </form>
    </main>
  );
}
