"use client";

import { useActionState } from "react";
import { inviteMember, type ActionResult } from "./actions";

export function InviteForm({ slug, canInviteOwners }: { slug: string; canInviteOwners: boolean }) {
  const [state, action, pending] = useActionState<ActionResult | null, FormData>(inviteMember.bind(null, slug), null);

  return (
    <form action={action} style={{ display: "flex", gap: "0.5rem", alignItems: "center", flexWrap: "wrap" }}>
      <input name="email" type="email" required placeholder="teammate@company.com" />
      <select name="role" defaultValue="MEMBER">
        <option value="MEMBER">Member</option>
        <option value="ADMIN">Admin</option>
        {canInviteOwners && <option value="OWNER">Owner</option>}
      </select>
      <button type="submit" disabled={pending}>
        {pending ? "Sending…" : "Send invitation"}
      </button>
      {state && <span style={{ color: state.ok ? "green" : "crimson" }}>{state.message}</span>}
    </form>
  );
}
