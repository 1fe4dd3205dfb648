import nodemailer, { type SendMailOptions, type Transporter } from "nodemailer";
import type { JobData } from "../queues.js";

export function createSmtpTransport(): Transporter {
  return nodemailer.createTransport(process.env.SMTP_URL ?? "smtp://localhost:1025", {
    // Fail fast so a hung SMTP server becomes a retry, not a stuck job.
    connectionTimeout: 10_000,
    socketTimeout: 30_000,
  } as nodemailer.TransportOptions);
}

const from = () => process.env.MAIL_FROM ?? "Acme <hello@acme.example>";

const escapeHtml = (value: string) => value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function textToHtml(text: string): string {
  return text
    .split("\n")
    .map((line) => (line ? `<p>${escapeHtml(line)}</p>` : ""))
    .join("");
}

export function renderWelcomeEmail({ to, name }: JobData<"email.welcome">): SendMailOptions {
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
  return { from: from(), to, subject: `Welcome aboard, ${name}!`, text, html: textToHtml(text) };
}

export async function sendWelcomeEmail(transport: Transporter, data: JobData<"email.welcome">) {
  const info = await transport.sendMail(renderWelcomeEmail(data));
  return { messageId: info.messageId as string };
}

export async function sendPlainEmail(transport: Transporter, to: string[], subject: string, text: string) {
  const info = await transport.sendMail({ from: from(), to, subject, text, html: textToHtml(text) });
  return { messageId: info.messageId as string };
}
