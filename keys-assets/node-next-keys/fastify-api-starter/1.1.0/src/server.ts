import closeWithGrace from "close-with-grace";
import { buildApp } from "./app.js";
import { loadConfig } from "./config.js";

const config = loadConfig();
const app = await buildApp({ config, logger: { level: config.LOG_LEVEL } });

// On SIGINT/SIGTERM or an uncaught error: stop accepting connections, let
// in-flight requests finish, and force-exit after SHUTDOWN_TIMEOUT_MS.
closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, "closing because of an error");
  else app.log.info({ signal }, "shutting down gracefully");
  await app.close();
});

try {
  await app.listen({ port: config.PORT, host: config.HOST });
} catch (error) {
  app.log.error(error);
  process.exit(1);
}
