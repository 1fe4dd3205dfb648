import Link from "next/link";
import { redirect } from "next/navigation";
import { fulfillCheckout } from "../../lib/fulfillment";

type Props = { searchParams: Promise<{ session_id?: string }> };

export const dynamic = "force-dynamic";

export default async function SuccessPage({ searchParams }: Props) {
  const { session_id: sessionId } = await searchParams;
  if (!sessionId || !sessionId.startsWith("cs_")) redirect("/");

  // Fulfil here as well as in the webhook: whichever runs first does the work,
  // so the customer sees their license even if the webhook is delayed.
  const result = await fulfillCheckout(sessionId);

  if (result.status === "not-found") redirect("/");

  if (result.status === "pending") {
    return (
      <main>
        <h1>Payment processing</h1>
        <p>
          Your payment method takes a little longer to confirm. We will email your license as soon as the payment
          succeeds — you can close this page.
        </p>
      </main>
    );
  }

  return (
    <main>
      <h1>Thank you!</h1>
      <p>Your payment was successful{result.email ? ` and a receipt was sent to ${result.email}` : ""}.</p>
      <p>Your license key:</p>
      <pre style={{ fontSize: "1.4rem", background: "#f4f4f5", padding: "1rem", borderRadius: 6 }}>{result.licenseKey}</pre>
      {result.mode === "subscription" ? (
        <>
          <p>Your license stays active while your membership is active.</p>
          <form action="/api/portal" method="POST">
            <input type="hidden" name="session_id" value={sessionId} />
            <button type="submit">Manage subscription and invoices</button>
          </form>
        </>
      ) : (
        <p>Keep it somewhere safe; you need it to download updates.</p>
      )}
      <Link href="/">Back to the store</Link>
    </main>
  );
}
