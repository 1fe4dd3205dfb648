import type { Job } from "bullmq";
import nodemailer, { type Transporter } from "nodemailer";

export interface WelcomeEmailData {
  to: string;
  name: string;
}

export interface WelcomeEmailResult {
  messageId: string;
}

export function createSmtpTransport(): Transporter {
  const user = process.env.SMTP_USER;
  return nodemailer.createTransport({
    host: process.env.SMTP_HOST ?? "localhost",
    port: Number(process.env.SMTP_PORT ?? 1025),
    secure: Number(process.env.SMTP_PORT) === 465,
    auth: user ? { user, pass: process.env.SMTP_PASS } : undefined,
  });
}

export function renderWelcomeEmail({ name }: WelcomeEmailData) {
  const subject = `Welcome aboard, ${name}!`;
  const text = [
    `Hi ${name},`,
    "",
    "Thanks for signing up. Three things worth doing first:",
    "1. Finish your profile so teammates can find you.",
    "2. Create your first project.",
    "3. Invite a colleague — everything is better with two.",
    "",
    "Reply to this email if you get stuck; a human reads every message.",
  ].join("\n");
  const html = text
    .split("\n")
    .map((line) => (line ? `<p>${line.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</p>` : ""))
    .join("");
  return { subject, text, html };
}

/** Returns a BullMQ processor bound to a mail transport (inject a test transport in tests). */
export function createWelcomeEmailProcessor(transport: Transporter) {
  return async (job: Job<WelcomeEmailData, WelcomeEmailResult>): Promise<WelcomeEmailResult> => {
    const { subject, text, html } = renderWelcomeEmail(job.data);
    const info = await transport.sendMail({
      from: process.env.MAIL_FROM ?? "Acme <hello@acme.example>",
      to: job.data.to,
      subject,
      text,
      html,
    });
    return { messageId: info.messageId };
  };
}
