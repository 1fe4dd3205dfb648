"use client";

import { Area, AreaChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { DailyRevenue } from "../lib/metrics";

const currency = process.env.NEXT_PUBLIC_CURRENCY ?? "USD";
const money = new Intl.NumberFormat("en-US", { style: "currency", currency, maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", style: "currency", currency });

export function RevenueChart({ data }: { data: DailyRevenue[] }) {
  const points = data.map((d) => ({ ...d, revenue: d.revenueCents / 100 }));
  return (
    <div className="card" style={{ height: 320 }}>
      <ResponsiveContainer width="100%" height="100%">
        <AreaChart data={points} margin={{ top: 10, right: 10, left: 0, bottom: 0 }}>
          <defs>
            <linearGradient id="revenueFill" x1="0" y1="0" x2="0" y2="1">
              <stop offset="0%" stopColor="#4f46e5" stopOpacity={0.35} />
              <stop offset="100%" stopColor="#4f46e5" stopOpacity={0} />
            </linearGradient>
          </defs>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          <XAxis dataKey="day" tickFormatter={(day: string) => day.slice(5)} minTickGap={24} />
          <YAxis tickFormatter={(value: number) => compact.format(value)} width={64} />
          <Tooltip
            formatter={(value) => [money.format(Number(value)), "Revenue"]}
            labelFormatter={(label) => `${label} (UTC)`}
          />
          <Area type="monotone" dataKey="revenue" stroke="#4f46e5" fill="url(#revenueFill)" strokeWidth={2} />
        </AreaChart>
      </ResponsiveContainer>
    </div>
  );
}
