import { timingSafeEqual } from "node:crypto";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import express, { type NextFunction, type Request, type Response } from "express";
import { allQueues } from "./queues.js";

const port = Number(process.env.DASHBOARD_PORT ?? 3001);
const user = process.env.DASHBOARD_USER ?? "admin";
const password = process.env.DASHBOARD_PASSWORD;
if (!password) {
  console.error("DASHBOARD_PASSWORD must be set: the dashboard can retry, promote and delete jobs.");
  process.exit(1);
}

const safeEqual = (a: string, b: string) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

function basicAuth(req: Request, res: Response, next: NextFunction) {
  const [scheme, encoded] = (req.headers.authorization ?? "").split(" ");
  if (scheme === "Basic" && encoded) {
    const decoded = Buffer.from(encoded, "base64").toString();
    const separator = decoded.indexOf(":");
    if (safeEqual(decoded.slice(0, separator), user) && safeEqual(decoded.slice(separator + 1), password!)) {
      return next();
    }
  }
  res.set("WWW-Authenticate", 'Basic realm="queues"').status(401).send("Authentication required");
}

const queues = allQueues();
const serverAdapter = new ExpressAdapter();
serverAdapter.setBasePath("/");
createBullBoard({
  queues: queues.map((queue) => new BullMQAdapter(queue)),
  serverAdapter,
  options: { uiConfig: { boardTitle: "Worker queues" } },
});

const app = express();

app.get("/healthz", (_req, res) => {
  res.json({ ok: true });
});

// Prometheus scrape endpoint (bullmq_job_count{queue,state}); configure
// basic_auth in the scrape job with the dashboard credentials.
app.get("/metrics", basicAuth, async (_req, res, next) => {
  try {
    const bodies = await Promise.all(queues.map((queue) => queue.exportPrometheusMetrics()));
    res.type("text/plain; version=0.0.4").send(bodies.join("\n"));
  } catch (error) {
    next(error);
  }
});

app.use("/", basicAuth, serverAdapter.getRouter());

app.listen(port, () => {
  console.log(`Bull Board on http://localhost:${port} (user: ${user}); metrics at /metrics`);
});
