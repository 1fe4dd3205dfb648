import { Prisma } from "@prisma/client";
import { db } from "./db";

const REVENUE_STATUSES = ["PAID", "SHIPPED"] as const;
const DAY = 86_400_000;

export interface Kpis {
  revenueCents: number;
  revenueChange: number | null; // vs previous period, as a fraction
  orders: number;
  averageOrderCents: number;
  refundRate: number;
  pendingOrders: number;
}

async function periodTotals(from: Date, to: Date) {
  const [revenue, all, refunded] = await Promise.all([
    db.order.aggregate({
      _sum: { totalCents: true },
      _count: true,
      where: { createdAt: { gte: from, lt: to }, status: { in: [...REVENUE_STATUSES] } },
    }),
    db.order.count({ where: { createdAt: { gte: from, lt: to } } }),
    db.order.count({ where: { createdAt: { gte: from, lt: to }, status: "REFUNDED" } }),
  ]);
  return { revenueCents: revenue._sum.totalCents ?? 0, paidOrders: revenue._count, orders: all, refunded };
}

export async function getKpis(days: number): Promise<Kpis> {
  const now = new Date();
  const from = new Date(now.getTime() - days * DAY);
  const previousFrom = new Date(from.getTime() - days * DAY);

  const [current, previous, pendingOrders] = await Promise.all([
    periodTotals(from, now),
    periodTotals(previousFrom, from),
    db.order.count({ where: { status: "PENDING" } }),
  ]);

  return {
    revenueCents: current.revenueCents,
    revenueChange: previous.revenueCents > 0 ? current.revenueCents / previous.revenueCents - 1 : null,
    orders: current.orders,
    averageOrderCents: current.paidOrders > 0 ? Math.round(current.revenueCents / current.paidOrders) : 0,
    refundRate: current.orders > 0 ? current.refunded / current.orders : 0,
    pendingOrders,
  };
}

export interface DailyRevenue {
  day: string; // YYYY-MM-DD (UTC)
  revenueCents: number;
  orders: number;
}

/** Revenue per UTC day, with days without orders filled in as zero. */
export async function getDailyRevenue(days: number): Promise<DailyRevenue[]> {
  const since = new Date(Date.now() - days * DAY);
  since.setUTCHours(0, 0, 0, 0);

  const rows = await db.$queryRaw<{ day: Date; revenue: bigint; orders: bigint }[]>(Prisma.sql`
    SELECT date_trunc('day', "createdAt" AT TIME ZONE 'UTC') AS day,
           SUM("totalCents")::bigint AS revenue,
           COUNT(*)::bigint AS orders
    FROM "Order"
    WHERE "createdAt" >= ${since} AND status::text IN (${Prisma.join([...REVENUE_STATUSES])})
    GROUP BY 1
    ORDER BY 1
  `);

  const byDay = new Map(rows.map((row) => [row.day.toISOString().slice(0, 10), row]));
  const series: DailyRevenue[] = [];
  for (let t = since.getTime(); t <= Date.now(); t += DAY) {
    const day = new Date(t).toISOString().slice(0, 10);
    const row = byDay.get(day);
    series.push({ day, revenueCents: Number(row?.revenue ?? 0), orders: Number(row?.orders ?? 0) });
  }
  return series;
}

export async function getTopCustomers(days: number, limit = 5) {
  const since = new Date(Date.now() - days * DAY);
  const groups = await db.order.groupBy({
    by: ["customerId"],
    where: { createdAt: { gte: since }, status: { in: [...REVENUE_STATUSES] } },
    _sum: { totalCents: true },
    _count: true,
    orderBy: { _sum: { totalCents: "desc" } },
    take: limit,
  });
  const customers = await db.customer.findMany({ where: { id: { in: groups.map((g) => g.customerId) } } });
  const byId = new Map(customers.map((c) => [c.id, c]));
  return groups.map((g) => ({
    customer: byId.get(g.customerId)!,
    revenueCents: g._sum.totalCents ?? 0,
    orders: g._count,
  }));
}
