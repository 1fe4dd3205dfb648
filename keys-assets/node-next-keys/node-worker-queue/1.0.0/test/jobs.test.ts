import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Job } from "bullmq";
import nodemailer from "nodemailer";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateThumbnails, type ThumbnailData } from "../src/jobs/generate-thumbnails.js";
import { createWelcomeEmailProcessor, type WelcomeEmailData } from "../src/jobs/send-welcome-email.js";

// Processors only use job.data and job.updateProgress, so a plain object is
// enough — no Redis needed for unit tests.
function fakeJob<T>(data: T) {
  return { data, updateProgress: vi.fn(async () => {}) } as unknown as Job<T>;
}

describe("welcome email", () => {
  it("renders and sends the email through the transport", async () => {
    const transport = nodemailer.createTransport({ jsonTransport: true });
    const sendMail = vi.spyOn(transport, "sendMail");
    const process = createWelcomeEmailProcessor(transport);

    const result = await process(fakeJob<WelcomeEmailData>({ to: "alice@example.com", name: "Alice <3" }));

    expect(result.messageId).toBeTruthy();
    const message = sendMail.mock.calls[0]![0];
    expect(message.to).toBe("alice@example.com");
    expect(message.subject).toBe("Welcome aboard, Alice <3!");
    expect(String(message.html)).toContain("Hi Alice &lt;3,");
  });
});

describe("thumbnails", () => {
  let dir: string;
  let input: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "thumbs-"));
    input = path.join(dir, "photo.png");
    await sharp({ create: { width: 1000, height: 500, channels: 3, background: "#3366ff" } })
      .png()
      .toFile(input);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes one webp per width and never upscales", async () => {
    const job = fakeJob<ThumbnailData>({ inputPath: input, widths: [200, 400, 2000] });
    const { outputs } = await generateThumbnails(job, path.join(dir, "out"));

    expect(outputs.map((o) => o.width)).toEqual([200, 400, 1000]);
    const meta = await sharp(outputs[0]!.path).metadata();
    expect(meta.format).toBe("webp");
    expect(meta.height).toBe(100);
    expect(job.updateProgress).toHaveBeenLastCalledWith(100);
  });
});
