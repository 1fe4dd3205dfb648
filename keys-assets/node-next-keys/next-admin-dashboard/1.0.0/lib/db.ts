import { PrismaClient } from "@prisma/client";

// One client per process; reused across hot reloads in development.
const globalForPrisma = globalThis as unknown as { prisma?: PrismaClient };

export const db =
  globalForPrisma.prisma ??
  new PrismaClient({ log: process.env.NODE_ENV === "development" ? ["warn", "error"] : ["error"] });

if (process.env.NODE_ENV !== "production") globalForPrisma.prisma = db;

const currency = process.env.NEXT_PUBLIC_CURRENCY ?? "USD";
const moneyFormat = new Intl.NumberFormat("en-US", { style: "currency", currency, maximumFractionDigits: 0 });

export function formatMoney(cents: number): string {
  return moneyFormat.format(cents / 100);
}
