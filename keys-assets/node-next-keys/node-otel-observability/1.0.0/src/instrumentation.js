'use strict';
/**
 * OpenTelemetry bootstrap. Loaded with `node --require ./src/instrumentation.js`
 * so it runs before express, http, undici and pino are required and can patch them.
 *
 * Configuration comes from the standard OTEL_* environment variables
 * (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, ...).
 */
const { NodeSDK, tracing } = require('@opentelemetry/sdk-node');
const { getNodeAutoInstrumentations } = require('@opentelemetry/auto-instrumentations-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto');
const { PeriodicExportingMetricReader, ConsoleMetricExporter } = require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { ATTR_SERVICE_VERSION } = require('@opentelemetry/semantic-conventions');

const debugConsole = process.env.OTEL_DEBUG_CONSOLE === 'true';

const sdk = new NodeSDK({
  // Merged with OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES and detected host/process attributes.
  resource: resourceFromAttributes({
    [ATTR_SERVICE_VERSION]: process.env.APP_VERSION || require('../package.json').version,
  }),
  traceExporter: debugConsole ? new tracing.ConsoleSpanExporter() : new OTLPTraceExporter(),
  metricReader: new PeriodicExportingMetricReader({
    exporter: debugConsole ? new ConsoleMetricExporter() : new OTLPMetricExporter(),
    exportIntervalMillis: Number(process.env.OTEL_METRIC_EXPORT_INTERVAL || 15000),
  }),
  instrumentations: [
    getNodeAutoInstrumentations({
      // Very noisy and rarely useful.
      '@opentelemetry/instrumentation-fs': { enabled: false },
      '@opentelemetry/instrumentation-net': { enabled: false },
      '@opentelemetry/instrumentation-dns': { enabled: false },
      '@opentelemetry/instrumentation-http': {
        // Health checks and metrics scrapes would drown real traffic.
        ignoreIncomingRequestHook: (request) => request.url === '/healthz',
      },
    }),
  ],
});

sdk.start();

// Flush buffered spans and metrics before the process exits.
let shuttingDown = false;
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    if (shuttingDown) return;
    shuttingDown = true;
    sdk
      .shutdown()
      .catch((error) => console.error('OpenTelemetry shutdown failed', error))
      .finally(() => process.exit(0));
  });
}
