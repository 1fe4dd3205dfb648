/**
 * Pure authorization and plan rules. No database or framework imports, so they
 * are unit-tested directly (test/permissions.test.ts) and shared by server
 * actions and UI.
 */
export type Role = "OWNER" | "ADMIN" | "MEMBER";
export type PlanName = "FREE" | "TEAM" | "BUSINESS";

const RANK: Record<Role, number> = { MEMBER: 1, ADMIN: 2, OWNER: 3 };

export function roleAtLeast(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

/**
 * Can `actor` change `target`'s role to `next` (or remove them when `next` is
 * null)? Admins manage members and admins; only owners touch owners or make
 * new owners. Nobody changes their own role here (see ownerCountAfter).
 */
export function canManageMember(actor: Role, target: Role, next: Role | null): boolean {
  if (!roleAtLeast(actor, "ADMIN")) return false;
  if (target === "OWNER" || next === "OWNER") return actor === "OWNER";
  return true;
}

/** Prevents an organization from losing its last owner. */
export function leavesAnOwner(ownerCount: number, target: Role, next: Role | null): boolean {
  const losesOwner = target === "OWNER" && next !== "OWNER";
  return !losesOwner || ownerCount > 1;
}

export const PLAN_LIMITS: Record<PlanName, { seats: number; label: string }> = {
  FREE: { seats: 3, label: "Free" },
  TEAM: { seats: 20, label: "Team" },
  BUSINESS: { seats: Number.POSITIVE_INFINITY, label: "Business" },
};

/** Seats count members plus pending invitations, so invites can't exceed the plan. */
export function hasFreeSeat(plan: PlanName, members: number, pendingInvitations: number): boolean {
  return members + pendingInvitations < PLAN_LIMITS[plan].seats;
}

const RESERVED_SLUGS = new Set(["api", "app", "admin", "new", "settings", "billing", "orgs", "login"]);

export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/g, "");
  if (slug.length < 2 || RESERVED_SLUGS.has(slug)) return `org-${slug}`.replace(/-$/, "");
  return slug;
}
