/**
 * What you sell. Prices live in Stripe and are found by `lookupKey`, so you can
 * change a price in the Dashboard (and transfer the lookup key) without a deploy.
 * `unitAmount` and `currency` are only used by `npm run stripe:seed`.
 */
export interface CatalogItem {
  id: string;
  lookupKey: string;
  name: string;
  description: string;
  unitAmount: number; // smallest currency unit, e.g. cents
  currency: string;
}

export const catalog: CatalogItem[] = [
  {
    id: "postgres-field-guide",
    lookupKey: "postgres_field_guide_onetime",
    name: "The Postgres Field Guide",
    description: "240-page ebook on indexing, query plans and safe migrations. PDF and EPUB.",
    unitAmount: 2900,
    currency: "usd",
  },
  {
    id: "postgres-video-course",
    lookupKey: "postgres_video_course_onetime",
    name: "Postgres Performance Video Course",
    description: "6 hours of screencasts with the sample database and exercise solutions.",
    unitAmount: 14900,
    currency: "usd",
  },
];

export function findCatalogItem(lookupKey: string): CatalogItem | undefined {
  return catalog.find((item) => item.lookupKey === lookupKey);
}

export function formatAmount(amount: number | null, currency: string): string {
  if (amount === null) return "—";
  return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(amount / 100);
}
