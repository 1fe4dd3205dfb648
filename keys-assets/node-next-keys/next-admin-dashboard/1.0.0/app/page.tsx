import Link from "next/link";
import { RevenueChart } from "../components/revenue-chart";
import { formatMoney } from "../lib/db";
import { getDailyRevenue, getKpis, getTopCustomers } from "../lib/metrics";

export const dynamic = "force-dynamic";
export const metadata = { title: "Overview" };

const RANGES = [7, 30, 90] as const;

type Props = { searchParams: Promise<{ days?: string }> };

export default async function OverviewPage({ searchParams }: Props) {
  const requested = Number((await searchParams).days);
  const days = (RANGES as readonly number[]).includes(requested) ? requested : 30;

  const [kpis, daily, topCustomers] = await Promise.all([getKpis(days), getDailyRevenue(days), getTopCustomers(days)]);
  const change = kpis.revenueChange;

  return (
    <>
      <header style={{ display: "flex", justifyContent: "space-between", alignItems: "center" }}>
        <h1>Overview</h1>
        <nav style={{ display: "flex", gap: "0.75rem" }}>
          {RANGES.map((range) => (
            <Link key={range} href={`/?days=${range}`} style={{ fontWeight: range === days ? 700 : 400 }}>
              {range}d
            </Link>
          ))}
        </nav>
      </header>

      <section className="kpis">
        <div className="card">
          <div className="label">Revenue ({days}d)</div>
          <div className="value">{formatMoney(kpis.revenueCents)}</div>
          {change !== null && (
            <div className={change >= 0 ? "up" : "down"}>
              {change >= 0 ? "▲" : "▼"} {Math.abs(change * 100).toFixed(1)}% vs previous {days}d
            </div>
          )}
        </div>
        <div className="card">
          <div className="label">Orders</div>
          <div className="value">{kpis.orders.toLocaleString("en-US")}</div>
        </div>
        <div className="card">
          <div className="label">Average order</div>
          <div className="value">{formatMoney(kpis.averageOrderCents)}</div>
        </div>
        <div className="card">
          <div className="label">Refund rate</div>
          <div className="value">{(kpis.refundRate * 100).toFixed(1)}%</div>
        </div>
        <div className="card">
          <div className="label">Pending now</div>
          <div className="value">
            <Link href="/orders?status=PENDING">{kpis.pendingOrders}</Link>
          </div>
        </div>
      </section>

      <h2>Daily revenue</h2>
      <RevenueChart data={daily} />

      <h2>Top customers</h2>
      <table>
        <thead>
          <tr>
            <th>Customer</th>
            <th>Country</th>
            <th>Orders</th>
            <th>Revenue</th>
          </tr>
        </thead>
        <tbody>
          {topCustomers.map(({ customer, orders, revenueCents }) => (
            <tr key={customer.id}>
              <td>
                <Link href={`/orders?q=${encodeURIComponent(customer.email)}`}>{customer.name}</Link>
                <br />
                <small>{customer.email}</small>
              </td>
              <td>{customer.country}</td>
              <td>{orders}</td>
              <td>{formatMoney(revenueCents)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
