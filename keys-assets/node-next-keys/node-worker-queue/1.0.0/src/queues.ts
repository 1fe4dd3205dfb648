import { Queue } from "bullmq";
import { createConnection } from "./connection.js";
import type { WelcomeEmailData } from "./jobs/send-welcome-email.js";
import type { ThumbnailData } from "./jobs/generate-thumbnails.js";

export const QUEUE_EMAIL = "email";
export const QUEUE_IMAGES = "images";

const connection = createConnection();

export const emailQueue = new Queue<WelcomeEmailData>(QUEUE_EMAIL, { connection });
export const imageQueue = new Queue<ThumbnailData>(QUEUE_IMAGES, { connection });

export async function closeQueues(): Promise<void> {
  await Promise.all([emailQueue.close(), imageQueue.close()]);
  await connection.quit();
}
