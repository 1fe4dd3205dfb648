'use strict';
const { randomUUID } = require('node:crypto');
const express = require('express');
const { trace, metrics } = require('@opentelemetry/api');
const { logger } = require('./logger');

const tracer = trace.getTracer('inventory');
const meter = metrics.getMeter('inventory');

const stock = new Map([
  ['TSHIRT-BLK-M', 120],
  ['MUG-12OZ', 80],
  ['HOODIE-GRY-L', 25],
  ['STICKERS-10', 500],
]);

// Observable gauge: read at each metric export instead of on every change.
meter
  .createObservableGauge('inventory.stock.level', { description: 'Units in stock', unit: '{unit}' })
  .addCallback((result) => {
    for (const [sku, units] of stock) result.observe(units, { 'shop.sku': sku });
  });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function createInventoryApp({
  failureRate = Number(process.env.INVENTORY_FAILURE_RATE || 0),
  maxLatencyMs = Number(process.env.INVENTORY_MAX_LATENCY_MS || 0),
} = {}) {
  const app = express();
  app.use(express.json({ limit: '10kb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  app.get('/stock/:sku', (req, res) => {
    const units = stock.get(req.params.sku);
    if (units === undefined) return res.status(404).json({ error: 'unknown sku' });
    res.json({ sku: req.params.sku, units });
  });

  app.post('/reserve', async (req, res) => {
    const { sku, quantity } = req.body ?? {};

    // Simulated storage latency, traced as its own span so it shows up as a
    // distinct bar in the waterfall.
    await tracer.startActiveSpan('inventory.lock_row', async (span) => {
      span.setAttribute('shop.sku', String(sku));
      await sleep(Math.random() * maxLatencyMs);
      span.end();
    });

    if (Math.random() < failureRate) {
      logger.error({ sku }, 'simulated storage failure');
      return res.status(503).json({ error: 'storage unavailable' });
    }

    const units = stock.get(sku);
    if (units === undefined) return res.status(404).json({ error: 'unknown sku' });
    if (units < quantity) {
      logger.warn({ sku, quantity, units }, 'insufficient stock');
      return res.status(409).json({ error: 'insufficient stock' });
    }
    stock.set(sku, units - quantity);
    const reservationId = randomUUID();
    logger.info({ sku, quantity, reservationId }, 'stock reserved');
    res.status(201).json({ reservationId, remaining: units - quantity });
  });

  return app;
}

if (require.main === module) {
  const port = Number(process.env.PORT || 3002);
  createInventoryApp().listen(port, () => logger.info({ port }, 'inventory listening'));
}

module.exports = { createInventoryApp };
