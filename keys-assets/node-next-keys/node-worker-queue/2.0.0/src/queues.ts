import { Queue, type DefaultJobOptions, type JobsOptions } from "bullmq";
import { Redis } from "ioredis";
import { z } from "zod";

/**
 * The job registry: every job name, the queue it runs on and the schema of its
 * payload. Producers and workers share it, so a payload is validated when it
 * is enqueued (bad input fails in the caller) and again when it is processed
 * (jobs enqueued by older code or by hand can't crash a processor).
 */
export const jobs = {
  "email.welcome": {
    queue: "email",
    schema: z.object({ to: z.email(), name: z.string().trim().min(1).max(100) }),
  },
  "image.thumbnails": {
    queue: "images",
    schema: z.object({
      inputPath: z.string().min(1),
      widths: z.array(z.number().int().positive().max(4096)).min(1).max(10),
    }),
  },
  "ops.queue-health-report": {
    queue: "ops",
    schema: z.object({ recipients: z.array(z.email()).min(1) }),
  },
} as const;

export type JobName = keyof typeof jobs;
export type JobData<N extends JobName> = z.infer<(typeof jobs)[N]["schema"]>;
export type QueueName = (typeof jobs)[JobName]["queue"];

export const queueNames = [...new Set(Object.values(jobs).map((job) => job.queue))] as QueueName[];

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobs, name);
}

/** Validates a payload against the registry; throws a readable error. */
export function parseJobData<N extends JobName>(name: N, data: unknown): JobData<N> {
  const result = jobs[name].schema.safeParse(data);
  if (!result.success) {
    throw new Error(`invalid payload for ${name}:\n${z.prettifyError(result.error)}`);
  }
  return result.data as JobData<N>;
}

// ---------------------------------------------------------------------------
// Connections and queues

export const prefix = `bull:${process.env.QUEUE_PREFIX ?? "app"}`;

/** Workers use blocking commands, so BullMQ requires maxRetriesPerRequest: null. */
export function createConnection(): Redis {
  return new Redis(process.env.REDIS_URL ?? "redis://localhost:6379", { maxRetriesPerRequest: null });
}

export const defaultJobOptions: DefaultJobOptions = {
  attempts: 5,
  backoff: { type: "exponential", delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

const queueOptions: Record<QueueName, DefaultJobOptions> = {
  email: defaultJobOptions,
  images: { ...defaultJobOptions, attempts: 3 },
  ops: { ...defaultJobOptions, attempts: 2 },
};

let sharedConnection: Redis | undefined;
const queues = new Map<QueueName, Queue>();

export function getQueue(name: QueueName): Queue {
  let queue = queues.get(name);
  if (!queue) {
    sharedConnection ??= createConnection();
    queue = new Queue(name, { connection: sharedConnection, prefix, defaultJobOptions: queueOptions[name] });
    queues.set(name, queue);
  }
  return queue;
}

export function allQueues(): Queue[] {
  return queueNames.map(getQueue);
}

/** The only way to add jobs: typed by job name, validated before it reaches Redis. */
export async function enqueue<N extends JobName>(name: N, data: JobData<N>, opts?: JobsOptions) {
  const payload = parseJobData(name, data);
  return getQueue(jobs[name].queue).add(name, payload, opts);
}

export async function closeQueues(): Promise<void> {
  await Promise.all([...queues.values()].map((queue) => queue.close()));
  queues.clear();
  await sharedConnection?.quit();
  sharedConnection = undefined;
}
