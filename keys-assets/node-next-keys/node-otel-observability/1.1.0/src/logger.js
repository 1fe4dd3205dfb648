'use strict';
const pino = require('pino');

/**
 * JSON logs on stdout. When the OpenTelemetry pino instrumentation is active
 * (see instrumentation.js), every log line written inside a span automatically
 * gets trace_id, span_id and trace_flags, so you can jump from a log line to
 * its trace in Jaeger.
 */
const logger = pino({
  level: process.env.LOG_LEVEL || 'info',
  base: { service: process.env.OTEL_SERVICE_NAME || 'unknown' },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: ['req.headers.authorization', 'req.headers.cookie'],
});

module.exports = { logger };
