import type { Metadata } from "next";
import Link from "next/link";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Admin", template: "%s · Admin" },
  robots: { index: false, follow: false },
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body>
        <aside className="sidebar">
          <strong>Shop Admin</strong>
          <nav>
            <Link href="/">Overview</Link>
            <Link href="/orders">Orders</Link>
          </nav>
        </aside>
        <main className="content">{children}</main>
      </body>
    </html>
  );
}
