import type { Metadata } from "next";

export const metadata: Metadata = {
  title: { default: "Acme", template: "%s · Acme" },
  description: "Multi-tenant SaaS starter: organizations, roles, invitations and Stripe billing.",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", maxWidth: 960, margin: "2rem auto", padding: "0 1rem" }}>
        {children}
      </body>
    </html>
  );
}
