import type { Queue } from "bullmq";

export interface QueueHealth {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completedLastDay: number;
  failedLastDay: number;
  oldestWaitingSeconds: number | null;
}

const DAY_MINUTES = 24 * 60;
const sum = (values: Array<number | string>) => values.reduce<number>((total, value) => total + Number(value || 0), 0);

/**
 * Collects counts per queue. Throughput numbers come from BullMQ metrics, which
 * workers record when started with `metrics: { maxDataPoints }` (see worker.ts).
 */
export async function collectQueueHealth(queues: Queue[], now = Date.now()): Promise<QueueHealth[]> {
  return Promise.all(
    queues.map(async (queue) => {
      const [counts, completed, failed, [oldest]] = await Promise.all([
        queue.getJobCounts("waiting", "active", "delayed", "failed"),
        queue.getMetrics("completed", 0, DAY_MINUTES - 1),
        queue.getMetrics("failed", 0, DAY_MINUTES - 1),
        queue.getWaiting(0, 0),
      ]);
      return {
        queue: queue.name,
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
        completedLastDay: sum(completed.data),
        failedLastDay: sum(failed.data),
        oldestWaitingSeconds: oldest ? Math.round((now - oldest.timestamp) / 1000) : null,
      };
    }),
  );
}

/** Plain-text report; flags queues that need a human. */
export function renderQueueHealthReport(health: QueueHealth[]): { subject: string; text: string; problems: number } {
  const problems = health.filter((h) => h.failed > 0 || (h.oldestWaitingSeconds ?? 0) > 15 * 60);
  const lines = health.map((h) => {
    const flag = problems.includes(h) ? "!!" : "ok";
    const age = h.oldestWaitingSeconds === null ? "-" : `${h.oldestWaitingSeconds}s`;
    return (
      `[${flag}] ${h.queue.padEnd(8)} waiting=${h.waiting} active=${h.active} delayed=${h.delayed} ` +
      `failed=${h.failed} | 24h: done=${h.completedLastDay} failed=${h.failedLastDay} | oldest waiting=${age}`
    );
  });
  const subject =
    problems.length > 0
      ? `Queue health: ${problems.length} queue(s) need attention`
      : "Queue health: all queues OK";
  const text = [
    subject,
    "",
    ...lines,
    "",
    "!! = failed jobs present or a job waiting longer than 15 minutes.",
    "Inspect and retry failed jobs in the dashboard.",
  ].join("\n");
  return { subject, text, problems: problems.length };
}
