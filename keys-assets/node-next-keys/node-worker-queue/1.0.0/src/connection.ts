import { Redis } from "ioredis";

const url = process.env.REDIS_URL ?? "redis://localhost:6379";

/**
 * Workers use blocking Redis commands, so BullMQ requires
 * `maxRetriesPerRequest: null` on their connection.
 */
export function createConnection(): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}
