import type { Metadata } from "next";

export const metadata: Metadata = {
  title: "Auth.js starter",
  description: "Next.js App Router with Auth.js v5, GitHub sign-in and Prisma.",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", maxWidth: 720, margin: "3rem auto", padding: "0 1rem" }}>
        {children}
      </body>
    </html>
  );
}
