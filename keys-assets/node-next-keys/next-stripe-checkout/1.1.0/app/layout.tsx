import type { Metadata } from "next";

export const metadata: Metadata = {
  title: "Stripe Checkout starter",
  description: "Sell digital products with Stripe Checkout and Next.js.",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", maxWidth: 860, margin: "3rem auto", padding: "0 1rem" }}>
        {children}
      </body>
    </html>
  );
}
