import { Worker } from "bullmq";
import { createConnection } from "./connection.js";
import { generateThumbnails, type ThumbnailData, type ThumbnailResult } from "./jobs/generate-thumbnails.js";
import {
  createSmtpTransport,
  createWelcomeEmailProcessor,
  type WelcomeEmailData,
  type WelcomeEmailResult,
} from "./jobs/send-welcome-email.js";
import { QUEUE_EMAIL, QUEUE_IMAGES } from "./queues.js";

const emailWorker = new Worker<WelcomeEmailData, WelcomeEmailResult>(
  QUEUE_EMAIL,
  createWelcomeEmailProcessor(createSmtpTransport()),
  { connection: createConnection(), concurrency: Number(process.env.EMAIL_CONCURRENCY ?? 5) },
);

const imageWorker = new Worker<ThumbnailData, ThumbnailResult>(QUEUE_IMAGES, (job) => generateThumbnails(job), {
  connection: createConnection(),
  concurrency: Number(process.env.IMAGE_CONCURRENCY ?? 2),
});

for (const worker of [emailWorker, imageWorker]) {
  worker.on("completed", (job, result) => {
    console.log(`[${worker.name}] ${job.name}#${job.id} done in ${Date.now() - job.timestamp}ms`, result);
  });
  worker.on("failed", (job, error) => {
    console.error(`[${worker.name}] ${job?.name}#${job?.id} failed: ${error.message}`);
  });
  worker.on("error", (error) => {
    // Connection problems etc. Without this listener Node would crash on them.
    console.error(`[${worker.name}] worker error:`, error);
  });
}

console.log(`workers started: ${QUEUE_EMAIL}, ${QUEUE_IMAGES}`);
