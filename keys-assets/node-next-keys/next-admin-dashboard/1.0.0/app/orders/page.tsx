import Link from "next/link";
import type { OrderStatus, Prisma } from "@prisma/client";
import { StatusForm } from "../../components/status-form";
import { db, formatMoney } from "../../lib/db";

export const dynamic = "force-dynamic";
export const metadata = { title: "Orders" };

const PAGE_SIZE = 25;
const STATUSES = ["PENDING", "PAID", "SHIPPED", "REFUNDED", "CANCELLED"] as const;

type Props = { searchParams: Promise<{ q?: string; status?: string; page?: string }> };

export default async function OrdersPage({ searchParams }: Props) {
  const params = await searchParams;
  const q = params.q?.trim() ?? "";
  const status = STATUSES.find((s) => s === params.status);
  const page = Math.max(1, Number(params.page) || 1);

  const where: Prisma.OrderWhereInput = {
    ...(status ? { status: status as OrderStatus } : {}),
    ...(q
      ? {
          OR: [
            ...(/^\d+$/.test(q) ? [{ number: Number(q) }] : []),
            { customer: { email: { contains: q, mode: "insensitive" as const } } },
            { customer: { name: { contains: q, mode: "insensitive" as const } } },
          ],
        }
      : {}),
  };

  const [orders, total] = await Promise.all([
    db.order.findMany({
      where,
      include: {
        customer: { select: { name: true, email: true } },
        events: { orderBy: { createdAt: "desc" }, take: 1 },
      },
      orderBy: { createdAt: "desc" },
      skip: (page - 1) * PAGE_SIZE,
      take: PAGE_SIZE,
    }),
    db.order.count({ where }),
  ]);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));

  const pageHref = (p: number) => {
    const search = new URLSearchParams({ ...(q && { q }), ...(status && { status }), page: String(p) });
    return `/orders?${search}`;
  };

  return (
    <>
      <h1>Orders</h1>
      <form className="filters" method="GET">
        <input name="q" defaultValue={q} placeholder="Order #, customer name or email" style={{ width: 280 }} />
        <select name="status" defaultValue={status ?? ""}>
          <option value="">All statuses</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <button type="submit">Filter</button>
        {(q || status) && <Link href="/orders">Reset</Link>}
      </form>

      <p style={{ color: "var(--muted)" }}>{total.toLocaleString("en-US")} orders</p>

      <table>
        <thead>
          <tr>
            <th>#</th>
            <th>Date (UTC)</th>
            <th>Customer</th>
            <th>Items</th>
            <th>Total</th>
            <th>Status</th>
            <th>Change status</th>
          </tr>
        </thead>
        <tbody>
          {orders.map((order) => {
            const last = order.events[0];
            return (
              <tr key={order.id}>
                <td>{order.number}</td>
                <td>{order.createdAt.toISOString().slice(0, 16).replace("T", " ")}</td>
                <td>
                  {order.customer.name}
                  <br />
                  <small>{order.customer.email}</small>
                </td>
                <td>{order.itemCount}</td>
                <td>{formatMoney(order.totalCents)}</td>
                <td>
                  <span className={`badge ${order.status}`}>{order.status}</span>
                  {last && (
                    <div>
                      <small title={last.note ?? undefined}>
                        by {last.actor} {last.createdAt.toISOString().slice(0, 10)}
                      </small>
                    </div>
                  )}
                </td>
                <td>
                  <StatusForm orderId={order.id} status={order.status} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <div className="pagination">
        {page > 1 ? <Link href={pageHref(page - 1)}>← Previous</Link> : <span />}
        <span>
          Page {page} of {pages}
        </span>
        {page < pages && <Link href={pageHref(page + 1)}>Next →</Link>}
      </div>
    </>
  );
}
