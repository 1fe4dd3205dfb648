/**
 * Seeds ~60 customers and ~900 orders spread over the last 120 days so every
 * chart and filter has data. Deterministic (fixed PRNG seed), safe to re-run:
 * it clears the tables first.
 */
import { OrderStatus, PrismaClient } from "@prisma/client";

const prisma = new PrismaClient();

// mulberry32: tiny deterministic PRNG so every developer sees the same data.
let state = 0x5eed;
function random(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const firstNames = ["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Guido", "Radia", "Bjarne", "Hedy"];
const lastNames = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Rossum", "Perlman", "Stroustrup", "Lamarr"];
const countries = ["US", "US", "US", "GB", "DE", "FR", "CA", "NL", "SE", "AU", "JP", "BR"];

function statusFor(ageDays: number): OrderStatus {
  const roll = random();
  if (ageDays < 2 && roll < 0.5) return OrderStatus.PENDING;
  if (roll < 0.04) return OrderStatus.REFUNDED;
  if (roll < 0.08) return OrderStatus.CANCELLED;
  return ageDays < 5 ? OrderStatus.PAID : OrderStatus.SHIPPED;
}

async function main() {
  await prisma.orderEvent.deleteMany();
  await prisma.order.deleteMany();
  await prisma.customer.deleteMany();

  const customers = [];
  for (let i = 0; i < 60; i++) {
    const first = pick(firstNames);
    const last = pick(lastNames);
    customers.push(
      await prisma.customer.create({
        data: {
          name: `${first} ${last}`,
          email: `${first}.${last}.${i}@example.com`.toLowerCase(),
          country: pick(countries),
          createdAt: new Date(Date.now() - (150 - i) * 86_400_000),
        },
      }),
    );
  }

  const now = Date.now();
  const orders = [];
  for (let day = 120; day >= 0; day--) {
    // Gentle growth plus a weekly rhythm.
    const weekday = new Date(now - day * 86_400_000).getUTCDay();
    const perDay = Math.round(4 + (120 - day) / 25 + (weekday === 0 || weekday === 6 ? -2 : 2) + random() * 3);
    for (let n = 0; n < perDay; n++) {
      const itemCount = 1 + Math.floor(random() * 4);
      orders.push({
        customerId: pick(customers).id,
        status: statusFor(day),
        itemCount,
        totalCents: itemCount * (1500 + Math.floor(random() * 6500)),
        createdAt: new Date(now - day * 86_400_000 - Math.floor(random() * 86_400_000)),
      });
    }
  }
  orders.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  await prisma.order.createMany({ data: orders });

  console.log(`seeded ${customers.length} customers and ${orders.length} orders`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => prisma.$disconnect());
