"use client";

import { useActionState } from "react";
import { changeOrderStatus, type ActionState } from "../app/orders/actions";

const NEXT: Record<string, string[]> = {
  PENDING: ["PAID", "CANCELLED"],
  PAID: ["SHIPPED", "REFUNDED"],
  SHIPPED: ["REFUNDED"],
};

export function StatusForm({ orderId, status }: { orderId: string; status: string }) {
  const [state, action, pending] = useActionState<ActionState, FormData>(changeOrderStatus, null);
  const options = NEXT[status] ?? [];
  if (options.length === 0) return <span style={{ color: "var(--muted)" }}>final</span>;

  return (
    <form action={action} style={{ display: "flex", gap: "0.25rem", alignItems: "center" }}>
      <input type="hidden" name="orderId" value={orderId} />
      <select name="to" defaultValue={options[0]} aria-label="New status">
        {options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
      <input name="note" placeholder="note (optional)" maxLength={500} style={{ width: 140 }} />
      <button type="submit" disabled={pending}>
        {pending ? "…" : "Apply"}
      </button>
      {state && !state.ok && <span className="error">{state.message}</span>}
    </form>
  );
}
