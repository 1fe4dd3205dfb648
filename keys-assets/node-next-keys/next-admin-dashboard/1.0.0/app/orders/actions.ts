"use server";

import { revalidatePath } from "next/cache";
import { headers } from "next/headers";
import { z } from "zod";
import { db } from "../../lib/db";

/** Which status changes an operator may make. Everything else is rejected. */
const TRANSITIONS: Record<string, readonly string[]> = {
  PENDING: ["PAID", "CANCELLED"],
  PAID: ["SHIPPED", "REFUNDED"],
  SHIPPED: ["REFUNDED"],
  REFUNDED: [],
  CANCELLED: [],
};

const Input = z.object({
  orderId: z.string().min(1),
  to: z.enum(["PENDING", "PAID", "SHIPPED", "REFUNDED", "CANCELLED"]),
  note: z.string().trim().max(500).optional(),
});

export type ActionState = { ok: boolean; message: string } | null;

async function currentActor(): Promise<string> {
  // middleware.ts already verified these basic-auth credentials.
  const header = (await headers()).get("authorization") ?? "";
  if (!header.startsWith("Basic ")) return "unknown";
  return Buffer.from(header.slice(6), "base64").toString().split(":")[0] || "unknown";
}

export async function changeOrderStatus(_prev: ActionState, formData: FormData): Promise<ActionState> {
  const parsed = Input.safeParse({
    orderId: formData.get("orderId"),
    to: formData.get("to"),
    note: formData.get("note") || undefined,
  });
  if (!parsed.success) return { ok: false, message: "Invalid request" };
  const { orderId, to, note } = parsed.data;
  const actor = await currentActor();

  try {
    const order = await db.$transaction(async (tx) => {
      const current = await tx.order.findUnique({ where: { id: orderId }, select: { status: true, number: true } });
      if (!current) throw new Error("Order not found");
      if (!TRANSITIONS[current.status]?.includes(to)) {
        throw new Error(`Cannot change ${current.status} to ${to}`);
      }
      // Conditional update: fails if someone else changed the status meanwhile.
      const { count } = await tx.order.updateMany({ where: { id: orderId, status: current.status }, data: { status: to } });
      if (count !== 1) throw new Error("Order was modified by someone else, reload and try again");
      await tx.orderEvent.create({ data: { orderId, from: current.status, to, note, actor } });
      return current;
    });

    revalidatePath("/orders");
    revalidatePath("/");
    return { ok: true, message: `Order #${order.number} is now ${to}` };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}
