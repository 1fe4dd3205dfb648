import Link from "next/link";
import { db } from "../../../lib/db";
import { PLAN_LIMITS, canManageMember, roleAtLeast, type Role } from "../../../lib/permissions";
import { requireMembership } from "../../../lib/tenancy";
import { openBillingPortal, revokeInvitation, startCheckout, updateMember } from "./actions";
import { InviteForm } from "./invite-form";

type Props = {
  params: Promise<{ slug: string }>;
  searchParams: Promise<{ billing?: string }>;
};

export default async function OrganizationPage({ params, searchParams }: Props) {
  const { slug } = await params;
  const { billing } = await searchParams;
  const { user, organization, role } = await requireMembership(slug);
  const isAdmin = roleAtLeast(role, "ADMIN");
  const isOwner = role === "OWNER";

  const [members, invitations, auditLogs] = await Promise.all([
    db.membership.findMany({
      where: { organizationId: organization.id },
      include: { user: { select: { name: true, email: true } } },
      orderBy: { createdAt: "asc" },
    }),
    isAdmin
      ? db.invitation.findMany({ where: { organizationId: organization.id, expiresAt: { gt: new Date() } } })
      : Promise.resolve([]),
    isAdmin
      ? db.auditLog.findMany({ where: { organizationId: organization.id }, orderBy: { createdAt: "desc" }, take: 20 })
      : Promise.resolve([]),
  ]);
  const limit = PLAN_LIMITS[organization.plan];

  return (
    <main>
      <p>
        <Link href="/">← All organizations</Link>
      </p>
      <h1>{organization.name}</h1>
      {billing === "success" && <p role="status">Thanks! Your plan updates as soon as Stripe confirms the payment.</p>}

      <section>
        <h2>Plan</h2>
        <p>
          <strong>{limit.label}</strong>
          {organization.subscriptionStatus && ` (${organization.subscriptionStatus})`} · {members.length + invitations.length} of{" "}
          {Number.isFinite(limit.seats) ? limit.seats : "unlimited"} seats used
          {organization.currentPeriodEnd && ` · renews ${organization.currentPeriodEnd.toISOString().slice(0, 10)}`}
        </p>
        {isOwner && (
          <div style={{ display: "flex", gap: "0.5rem" }}>
            {organization.plan === "FREE" ? (
              <>
                <form action={startCheckout.bind(null, slug, "TEAM")}>
                  <button type="submit">Upgrade to Team</button>
                </form>
                <form action={startCheckout.bind(null, slug, "BUSINESS")}>
                  <button type="submit">Upgrade to Business</button>
                </form>
              </>
            ) : (
              <form action={openBillingPortal.bind(null, slug)}>
                <button type="submit">Manage billing</button>
              </form>
            )}
          </div>
        )}
      </section>

      <section>
        <h2>Members</h2>
        <table style={{ width: "100%", borderCollapse: "collapse" }}>
          <tbody>
            {members.map((member) => {
              const self = member.userId === user.id;
              const target = member.role as Role;
              const promote: Role = target === "MEMBER" ? "ADMIN" : "OWNER";
              const demote: Role = target === "OWNER" ? "ADMIN" : "MEMBER";
              return (
                <tr key={member.id} style={{ borderTop: "1px solid #e4e4e7" }}>
                  <td>
                    {member.user.name ?? member.user.email} {self && "(you)"}
                    <br />
                    <small>{member.user.email}</small>
                  </td>
                  <td>{member.role.toLowerCase()}</td>
                  <td style={{ display: "flex", gap: "0.25rem" }}>
                    {!self && target !== "OWNER" && canManageMember(role, target, promote) && (
                      <form action={updateMember.bind(null, slug, member.id, promote)}>
                        <button type="submit">Make {promote.toLowerCase()}</button>
                      </form>
                    )}
                    {!self && target !== "MEMBER" && canManageMember(role, target, demote) && (
                      <form action={updateMember.bind(null, slug, member.id, demote)}>
                        <button type="submit">Make {demote.toLowerCase()}</button>
                      </form>
                    )}
                    {!self && canManageMember(role, target, null) && (
                      <form action={updateMember.bind(null, slug, member.id, null)}>
                        <button type="submit">Remove</button>
                      </form>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>

      {isAdmin && (
        <>
          <section>
            <h2>Invite people</h2>
            <InviteForm slug={slug} canInviteOwners={isOwner} />
            {invitations.length > 0 && (
              <ul>
                {invitations.map((invitation) => (
                  <li key={invitation.id}>
                    {invitation.email} ({invitation.role.toLowerCase()}, expires{" "}
                    {invitation.expiresAt.toISOString().slice(0, 10)}){" "}
                    <form action={revokeInvitation.bind(null, slug, invitation.id)} style={{ display: "inline" }}>
                      <button type="submit">Revoke</button>
                    </form>
                  </li>
                ))}
              </ul>
            )}
          </section>

          <section>
            <h2>Audit log</h2>
            <table style={{ width: "100%", fontSize: "0.875rem" }}>
              <tbody>
                {auditLogs.map((entry) => (
                  <tr key={entry.id}>
                    <td>{entry.createdAt.toISOString().replace("T", " ").slice(0, 19)}</td>
                    <td>
                      <code>{entry.action}</code>
                    </td>
                    <td>{entry.target}</td>
                    <td>{entry.actorId ? (entry.actorId === user.id ? "you" : entry.actorId) : "system"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </>
      )}
    </main>
  );
}
