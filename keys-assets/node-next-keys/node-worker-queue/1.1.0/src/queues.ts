import { Queue, type DefaultJobOptions } from "bullmq";
import { createConnection } from "./connection.js";
import type { WelcomeEmailData } from "./jobs/send-welcome-email.js";
import type { ThumbnailData } from "./jobs/generate-thumbnails.js";

export const QUEUE_EMAIL = "email";
export const QUEUE_IMAGES = "images";

/**
 * Retries with exponential backoff (2s, 4s, 8s, 16s) and bounded retention so
 * Redis memory doesn't grow forever: completed jobs are kept for a day (max
 * 1000), failed jobs for a week so they can be inspected and retried.
 */
export const defaultJobOptions: DefaultJobOptions = {
  attempts: 5,
  backoff: { type: "exponential", delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

const connection = createConnection();

export const emailQueue = new Queue<WelcomeEmailData>(QUEUE_EMAIL, { connection, defaultJobOptions });
export const imageQueue = new Queue<ThumbnailData>(QUEUE_IMAGES, {
  connection,
  defaultJobOptions: { ...defaultJobOptions, attempts: 3 },
});

export const allQueues = [emailQueue, imageQueue];

export async function closeQueues(): Promise<void> {
  await Promise.all(allQueues.map((queue) => queue.close()));
  await connection.quit();
}
