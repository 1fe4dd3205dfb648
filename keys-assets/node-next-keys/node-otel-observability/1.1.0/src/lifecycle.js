'use strict';
const { logger } = require('./logger');

/**
 * Starts an HTTP server and shuts it down gracefully on SIGTERM/SIGINT:
 * stop accepting connections, let in-flight requests finish, close idle
 * keep-alive sockets, and force-close whatever is left after
 * SHUTDOWN_DRAIN_MS. The process then exits naturally, which triggers the
 * telemetry flush registered in instrumentation.js — so the spans of the last
 * requests are exported instead of lost.
 */
function serve(app, { port, name }) {
  const server = app.listen(port, () => logger.info({ port }, `${name} listening`));
  const drainMs = Number(process.env.SHUTDOWN_DRAIN_MS || 10000);
  let stopping = false;

  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, drainMs }, 'shutting down: draining connections');

    const forceTimer = setTimeout(() => {
      logger.warn('drain timeout reached, closing remaining connections');
      server.closeAllConnections();
    }, drainMs);
    forceTimer.unref();

    server.close((error) => {
      if (error) logger.error({ err: error }, 'error while closing server');
      else logger.info('server closed');
    });
    server.closeIdleConnections();
  };

  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}

module.exports = { serve };
