import Link from "next/link";
import { requireAdmin } from "../../lib/authz";
import { prisma } from "../../lib/prisma";
import { setUserRole } from "./actions";

export const metadata = { title: "Admin · Users" };

export default async function AdminPage() {
  const admin = await requireAdmin();

  const users = await prisma.user.findMany({
    orderBy: { createdAt: "desc" },
    take: 100,
    select: {
      id: true,
      name: true,
      email: true,
      role: true,
      createdAt: true,
      accounts: { select: { provider: true } },
    },
  });

  return (
    <main>
      <p>
        <Link href="/dashboard">← Dashboard</Link>
      </p>
      <h1>Users</h1>
      <table style={{ width: "100%", borderCollapse: "collapse" }}>
        <thead>
          <tr style={{ textAlign: "left" }}>
            <th>User</th>
            <th>Sign-in methods</th>
            <th>Joined</th>
            <th>Role</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {users.map((user) => {
            const nextRole = user.role === "ADMIN" ? "USER" : "ADMIN";
            const methods = user.accounts.map((a) => a.provider);
            return (
              <tr key={user.id} style={{ borderTop: "1px solid #e4e4e7" }}>
                <td>
                  {user.name ?? "—"}
                  <br />
                  <small>{user.email}</small>
                </td>
                <td>{methods.length > 0 ? methods.join(", ") : "email link"}</td>
                <td>{user.createdAt.toISOString().slice(0, 10)}</td>
                <td>{user.role}</td>
                <td>
                  {user.id !== admin.id && (
                    <form action={setUserRole.bind(null, user.id, nextRole)}>
                      <button type="submit">{nextRole === "ADMIN" ? "Make admin" : "Remove admin"}</button>
                    </form>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </main>
  );
}
