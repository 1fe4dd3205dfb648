import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { UnrecoverableError } from "bullmq";
import nodemailer from "nodemailer";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sendWelcomeEmail } from "../src/jobs/email.js";
import { renderQueueHealthReport, type QueueHealth } from "../src/jobs/queue-health.js";
import { generateThumbnails } from "../src/jobs/thumbnails.js";
import { isJobName, parseJobData } from "../src/queues.js";

describe("job registry", () => {
  it("accepts valid payloads and normalises them", () => {
    expect(parseJobData("email.welcome", { to: "alice@example.com", name: "  Alice " })).toEqual({
      to: "alice@example.com",
      name: "Alice",
    });
  });

  it("rejects invalid payloads with a readable message", () => {
    expect(() => parseJobData("email.welcome", { to: "nope", name: "" })).toThrow(/invalid payload for email.welcome/);
    expect(() => parseJobData("image.thumbnails", { inputPath: "/a.jpg", widths: [] })).toThrow(/widths/);
  });

  it("knows which job names exist", () => {
    expect(isJobName("email.welcome")).toBe(true);
    expect(isJobName("welcome-email")).toBe(false); // the 1.x name
    expect(isJobName("toString")).toBe(false);
  });
});

describe("welcome email", () => {
  it("sends an escaped email through the transport", async () => {
    const transport = nodemailer.createTransport({ jsonTransport: true });
    const sendMail = vi.spyOn(transport, "sendMail");

    const result = await sendWelcomeEmail(transport, { to: "alice@example.com", name: "Alice <3" });

    expect(result.messageId).toBeTruthy();
    const message = sendMail.mock.calls[0]![0];
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
    await sharp({ create: { width: 1000, height: 500, channels: 3, background: "#3366ff" } }).png().toFile(input);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes one webp per width, never upscales and reports progress", async () => {
    const progress = vi.fn(async () => {});
    const { outputs } = await generateThumbnails({ inputPath: input, widths: [200, 2000] }, progress, dir);
    expect(outputs.map((o) => o.width)).toEqual([200, 1000]);
    expect((await sharp(outputs[0]!.path).metadata()).format).toBe("webp");
    expect(progress).toHaveBeenLastCalledWith(100);
  });

  it("fails permanently when the input is missing", async () => {
    await expect(
      generateThumbnails({ inputPath: path.join(dir, "missing.jpg"), widths: [100] }, async () => {}, dir),
    ).rejects.toBeInstanceOf(UnrecoverableError);
  });
});

describe("queue health report", () => {
  const healthy: QueueHealth = {
    queue: "email",
    waiting: 2,
    active: 1,
    delayed: 0,
    failed: 0,
    completedLastDay: 1200,
    failedLastDay: 3,
    oldestWaitingSeconds: 4,
  };

  it("says OK when nothing is failed or stuck", () => {
    const report = renderQueueHealthReport([healthy]);
    expect(report.problems).toBe(0);
    expect(report.subject).toBe("Queue health: all queues OK");
  });

  it("flags failed jobs and old waiting jobs", () => {
    const report = renderQueueHealthReport([
      healthy,
      { ...healthy, queue: "images", failed: 4 },
      { ...healthy, queue: "ops", oldestWaitingSeconds: 3600 },
    ]);
    expect(report.problems).toBe(2);
    expect(report.text).toContain("[!!] images");
    expect(report.text).toContain("[ok] email");
  });
});
