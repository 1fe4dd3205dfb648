/**
 * Enqueue example jobs from the command line:
 *   npm run enqueue -- welcome alice@example.com "Alice"
 *   npm run enqueue -- thumbnails ./photo.jpg 320 640 1280
 */
import path from "node:path";
import { closeQueues, emailQueue, imageQueue } from "./queues.js";

const [command, ...args] = process.argv.slice(2);

async function main() {
  switch (command) {
    case "welcome": {
      const [to, name = to?.split("@")[0]] = args;
      if (!to || !name) throw new Error("usage: enqueue welcome <email> [name]");
      // A deterministic jobId deduplicates: while this job exists (waiting,
      // active, or kept after completion), adding it again is a no-op.
      const job = await emailQueue.add("welcome-email", { to, name }, { jobId: `welcome-${to.toLowerCase()}` });
      console.log(`enqueued welcome-email#${job.id} for ${to}`);
      break;
    }
    case "thumbnails": {
      const [input, ...widthArgs] = args;
      if (!input) throw new Error("usage: enqueue thumbnails <image> [width...]");
      const widths = widthArgs.length > 0 ? widthArgs.map(Number) : [320, 640, 1280];
      if (widths.some((w) => !Number.isInteger(w) || w <= 0)) throw new Error("widths must be positive integers");
      const job = await imageQueue.add("thumbnails", { inputPath: path.resolve(input), widths });
      console.log(`enqueued thumbnails#${job.id} for ${input} at ${widths.join(", ")}px`);
      break;
    }
    default:
      throw new Error("usage: enqueue <welcome|thumbnails> ...");
  }
}

main()
  .catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  })
  .finally(closeQueues);
