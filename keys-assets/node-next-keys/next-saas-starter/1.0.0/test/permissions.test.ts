import { describe, expect, it } from "vitest";
import { canManageMember, hasFreeSeat, leavesAnOwner, roleAtLeast, slugify } from "../lib/permissions";

describe("roleAtLeast", () => {
  it("orders roles OWNER > ADMIN > MEMBER", () => {
    expect(roleAtLeast("OWNER", "ADMIN")).toBe(true);
    expect(roleAtLeast("ADMIN", "ADMIN")).toBe(true);
    expect(roleAtLeast("MEMBER", "ADMIN")).toBe(false);
  });
});

describe("canManageMember", () => {
  it("lets admins manage members and admins", () => {
    expect(canManageMember("ADMIN", "MEMBER", "ADMIN")).toBe(true);
    expect(canManageMember("ADMIN", "ADMIN", "MEMBER")).toBe(true);
    expect(canManageMember("ADMIN", "MEMBER", null)).toBe(true);
  });

  it("reserves owner changes for owners", () => {
    expect(canManageMember("ADMIN", "OWNER", "ADMIN")).toBe(false);
    expect(canManageMember("ADMIN", "ADMIN", "OWNER")).toBe(false);
    expect(canManageMember("ADMIN", "OWNER", null)).toBe(false);
    expect(canManageMember("OWNER", "OWNER", "ADMIN")).toBe(true);
    expect(canManageMember("OWNER", "MEMBER", "OWNER")).toBe(true);
  });

  it("never lets members manage anyone", () => {
    expect(canManageMember("MEMBER", "MEMBER", null)).toBe(false);
  });
});

describe("leavesAnOwner", () => {
  it("blocks removing or demoting the last owner", () => {
    expect(leavesAnOwner(1, "OWNER", "ADMIN")).toBe(false);
    expect(leavesAnOwner(1, "OWNER", null)).toBe(false);
    expect(leavesAnOwner(2, "OWNER", null)).toBe(true);
    expect(leavesAnOwner(1, "ADMIN", null)).toBe(true);
  });
});

describe("hasFreeSeat", () => {
  it("counts pending invitations against the plan", () => {
    expect(hasFreeSeat("FREE", 2, 0)).toBe(true);
    expect(hasFreeSeat("FREE", 2, 1)).toBe(false);
    expect(hasFreeSeat("TEAM", 19, 0)).toBe(true);
    expect(hasFreeSeat("BUSINESS", 10_000, 500)).toBe(true);
  });
});

describe("slugify", () => {
  it("produces url-safe slugs", () => {
    expect(slugify("Acme Inc.")).toBe("acme-inc");
    expect(slugify("  Café Crème — Paris ")).toBe("cafe-creme-paris");
  });

  it("avoids reserved and too-short slugs", () => {
    expect(slugify("Admin")).toBe("org-admin");
    expect(slugify("!")).toBe("org");
  });
});
