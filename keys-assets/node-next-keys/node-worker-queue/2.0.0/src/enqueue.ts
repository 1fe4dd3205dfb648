/**
 * Enqueue any registered job from the command line, validated against its schema:
 *   npm run enqueue -- email.welcome '{"to":"alice@example.com","name":"Alice"}'
 *   npm run enqueue -- image.thumbnails '{"inputPath":"/abs/photo.jpg","widths":[320,640]}'
 *   npm run enqueue -- ops.queue-health-report '{"recipients":["ops@acme.example"]}'
 */
import { closeQueues, enqueue, isJobName, jobs } from "./queues.js";

const [name, json = "{}"] = process.argv.slice(2);

async function main() {
  if (!name || !isJobName(name)) {
    throw new Error(`usage: enqueue <job> '<json>'\njobs: ${Object.keys(jobs).join(", ")}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new Error("payload must be valid JSON");
  }
  // enqueue() validates and throws with a readable message on bad input.
  const job = await enqueue(name, data as never);
  console.log(`enqueued ${name}#${job.id} on queue "${jobs[name].queue}"`);
}

main()
  .catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  })
  .finally(closeQueues);
