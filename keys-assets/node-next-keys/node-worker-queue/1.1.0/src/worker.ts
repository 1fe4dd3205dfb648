import { Worker, type Job } from "bullmq";
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
  {
    connection: createConnection(),
    concurrency: Number(process.env.EMAIL_CONCURRENCY ?? 5),
    // Global limit shared by every worker on this queue, to respect the
    // SMTP provider's sending rate.
    limiter: { max: Number(process.env.EMAIL_RATE_PER_SECOND ?? 10), duration: 1_000 },
  },
);

const imageWorker = new Worker<ThumbnailData, ThumbnailResult>(QUEUE_IMAGES, (job) => generateThumbnails(job), {
  connection: createConnection(),
  concurrency: Number(process.env.IMAGE_CONCURRENCY ?? 2),
  // A job whose lock isn't renewed (e.g. the process froze) is retried by
  // another worker after this many stalls, then failed.
  maxStalledCount: 2,
});

const workers = [emailWorker, imageWorker];

function isFinalFailure(job: Job): boolean {
  return job.attemptsMade >= (job.opts.attempts ?? 1) || job.finishedOn !== undefined;
}

for (const worker of workers) {
  worker.on("completed", (job) => {
    console.log(`[${worker.name}] ${job.name}#${job.id} done in ${Date.now() - job.timestamp}ms`);
  });
  worker.on("failed", (job, error) => {
    if (!job) return;
    if (isFinalFailure(job)) {
      // The job stays in the "failed" set (see removeOnFail) where it can be
      // inspected and retried from the dashboard. Alert on this log line.
      console.error(`[${worker.name}] GAVE UP ${job.name}#${job.id} after ${job.attemptsMade} attempts: ${error.message}`);
    } else {
      console.warn(`[${worker.name}] ${job.name}#${job.id} attempt ${job.attemptsMade} failed, will retry: ${error.message}`);
    }
  });
  worker.on("error", (error) => {
    console.error(`[${worker.name}] worker error:`, error);
  });
}

// Graceful shutdown: stop taking new jobs and wait for active ones to finish,
// so deploys don't cut jobs off mid-way (they would be retried as "stalled").
let shuttingDown = false;
async function shutdown(signal: string) {
  if (shuttingDown) return;
  shuttingDown = true;
  const grace = Number(process.env.SHUTDOWN_GRACE_SECONDS ?? 30) * 1000;
  console.log(`${signal} received, waiting up to ${grace / 1000}s for active jobs`);

  const timer = setTimeout(() => {
    console.error("grace period over, exiting with jobs still active (they will be retried)");
    process.exit(1);
  }, grace);
  timer.unref();

  await Promise.all(workers.map((worker) => worker.close()));
  console.log("workers closed cleanly");
  process.exit(0);
}

process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

console.log(`workers started: ${workers.map((w) => w.name).join(", ")}`);
