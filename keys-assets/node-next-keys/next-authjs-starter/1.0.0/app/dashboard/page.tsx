import { redirect } from "next/navigation";
import { auth, signOut } from "../../auth";

export default async function DashboardPage() {
  // Middleware already blocks anonymous users; checking here too keeps the page
  // safe if the matcher is ever changed.
  const session = await auth();
  if (!session?.user) redirect("/?callbackUrl=/dashboard");

  const { user } = session;

  return (
    <main>
      <h1>Dashboard</h1>
      <div style={{ display: "flex", gap: "1rem", alignItems: "center" }}>
        {user.image && (
          // eslint-disable-next-line @next/next/no-img-element
          <img src={user.image} alt="" width={56} height={56} style={{ borderRadius: "50%" }} />
        )}
        <div>
          <strong>{user.name}</strong>
          <div>{user.email}</div>
        </div>
      </div>

      <h2>Session</h2>
      <pre style={{ background: "#f4f4f5", padding: "1rem", overflowX: "auto" }}>
        {JSON.stringify(session, null, 2)}
      </pre>

      <form
        action={async () => {
          "use server";
          await signOut({ redirectTo: "/" });
        }}
      >
        <button type="submit">Sign out</button>
      </form>
    </main>
  );
}
