import { MetricsTime, UnrecoverableError, Worker, type Job, type Processor } from "bullmq";
import { createSmtpTransport, sendPlainEmail, sendWelcomeEmail } from "./jobs/email.js";
import { collectQueueHealth, renderQueueHealthReport } from "./jobs/queue-health.js";
import { generateThumbnails } from "./jobs/thumbnails.js";
import {
  allQueues,
  closeQueues,
  createConnection,
  getQueue,
  isJobName,
  jobs,
  parseJobData,
  prefix,
  queueNames,
  type JobName,
  type QueueName,
} from "./queues.js";

const transport = createSmtpTransport();

/** One handler per job name. The compiler ensures every registered job has one. */
const handlers: { [N in JobName]: (data: ReturnType<typeof parseJobData<N>>, job: Job) => Promise<unknown> } = {
  "email.welcome": (data) => sendWelcomeEmail(transport, data),
  "image.thumbnails": (data, job) => generateThumbnails(data, (percent) => job.updateProgress(percent)),
  "ops.queue-health-report": async (data) => {
    const report = renderQueueHealthReport(await collectQueueHealth(allQueues()));
    await sendPlainEmail(transport, data.recipients, report.subject, report.text);
    return { problems: report.problems };
  },
};

/** Generic processor: validates the payload, then dispatches on job.name. */
const processor: Processor = async (job) => {
  if (!isJobName(job.name)) throw new UnrecoverableError(`no handler registered for job "${job.name}"`);
  let data;
  try {
    data = parseJobData(job.name, job.data);
  } catch (error) {
    throw new UnrecoverableError((error as Error).message);
  }
  return (handlers[job.name] as (d: unknown, j: Job) => Promise<unknown>)(data, job);
};

const workerSettings: Record<QueueName, { concurrency: number; limiter?: { max: number; duration: number } }> = {
  email: {
    concurrency: Number(process.env.EMAIL_CONCURRENCY ?? 5),
    limiter: { max: Number(process.env.EMAIL_RATE_PER_SECOND ?? 10), duration: 1_000 },
  },
  images: { concurrency: Number(process.env.IMAGE_CONCURRENCY ?? 2) },
  ops: { concurrency: 1 },
};

const workers = queueNames.map(
  (name) =>
    new Worker(name, processor, {
      connection: createConnection(),
      prefix,
      maxStalledCount: 2,
      // Keep a week of per-minute throughput for the dashboard, /metrics and the health report.
      metrics: { maxDataPoints: MetricsTime.ONE_WEEK },
      ...workerSettings[name],
    }),
);

for (const worker of workers) {
  worker.on("completed", (job) => {
    console.log(`[${worker.name}] ${job.name}#${job.id} done in ${Date.now() - job.timestamp}ms`);
  });
  worker.on("failed", (job, error) => {
    if (!job) return;
    const final = job.finishedOn !== undefined || job.attemptsMade >= (job.opts.attempts ?? 1);
    const message = `[${worker.name}] ${job.name}#${job.id} attempt ${job.attemptsMade}: ${error.message}`;
    if (final) console.error(`GAVE UP ${message}`);
    else console.warn(`retrying ${message}`);
  });
  worker.on("error", (error) => console.error(`[${worker.name}] worker error:`, error));
}

/** Scheduled jobs are upserted at startup; running several workers is safe. */
async function registerSchedules() {
  const recipients = (process.env.OPS_EMAILS ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  const ops = getQueue(jobs["ops.queue-health-report"].queue);
  if (recipients.length === 0) {
    await ops.removeJobScheduler("daily-queue-health");
    return;
  }
  const data = parseJobData("ops.queue-health-report", { recipients });
  await ops.upsertJobScheduler(
    "daily-queue-health",
    { pattern: process.env.QUEUE_HEALTH_CRON ?? "0 8 * * *", tz: "UTC" },
    { name: "ops.queue-health-report", data },
  );
  console.log(`scheduled ops.queue-health-report (${process.env.QUEUE_HEALTH_CRON ?? "0 8 * * *"} UTC)`);
}

let shuttingDown = false;
async function shutdown(signal: string) {
  if (shuttingDown) return;
  shuttingDown = true;
  const grace = Number(process.env.SHUTDOWN_GRACE_SECONDS ?? 30) * 1000;
  console.log(`${signal} received, waiting up to ${grace / 1000}s for active jobs`);
  setTimeout(() => {
    console.error("grace period over, exiting with jobs still active (they will be retried)");
    process.exit(1);
  }, grace).unref();

  await Promise.all(workers.map((worker) => worker.close()));
  await closeQueues();
  transport.close();
  console.log("workers closed cleanly");
  process.exit(0);
}

process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

await registerSchedules();
console.log(`workers started: ${queueNames.join(", ")} (prefix ${prefix})`);
