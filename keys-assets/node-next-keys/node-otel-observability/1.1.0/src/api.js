'use strict';
const express = require('express');
const { trace, metrics, SpanStatusCode } = require('@opentelemetry/api');
const { logger } = require('./logger');
const { serve } = require('./lifecycle');

const tracer = trace.getTracer('checkout-api');
const meter = metrics.getMeter('checkout-api');

// Business metrics. HTTP latency/throughput metrics come from the http
// instrumentation; these answer "how is the business doing", not "is HTTP ok".
const ordersCounter = meter.createCounter('shop.orders', {
  description: 'Orders by outcome',
  unit: '{order}',
});
const orderValue = meter.createHistogram('shop.order.value', {
  description: 'Order value',
  unit: 'USD',
  advice: { explicitBucketBoundaries: [5, 10, 25, 50, 100, 250, 500, 1000] },
});

const PRODUCTS = [
  { sku: 'TSHIRT-BLK-M', name: 'Logo T-shirt, black, M', price: 24 },
  { sku: 'MUG-12OZ', name: 'Enamel mug 12oz', price: 16 },
  { sku: 'HOODIE-GRY-L', name: 'Hoodie, grey, L', price: 59 },
  { sku: 'STICKERS-10', name: 'Sticker pack (10)', price: 6 },
];

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function createApp({ inventoryUrl = process.env.INVENTORY_URL || 'http://localhost:3002' } = {}) {
  const app = express();
  app.use(express.json({ limit: '10kb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  app.get('/api/products', (_req, res) => {
    res.json({ products: PRODUCTS });
  });

  app.post('/api/orders', async (req, res, next) => {
    // A manual span around the business operation; the HTTP server span and the
    // outgoing fetch span to the inventory service become its parent and child.
    await tracer.startActiveSpan('order.place', async (span) => {
      try {
        const { sku, quantity } = req.body ?? {};
        const product = PRODUCTS.find((p) => p.sku === sku);
        if (!product) throw new HttpError(400, `unknown sku: ${sku}`);
        if (!Number.isInteger(quantity) || quantity < 1 || quantity > 10) {
          throw new HttpError(400, 'quantity must be an integer between 1 and 10');
        }
        span.setAttributes({ 'shop.sku': sku, 'shop.quantity': quantity });

        // fetch() is instrumented (undici): the W3C traceparent header is added
        // automatically, so the inventory service continues this trace.
        const reservation = await fetch(`${inventoryUrl}/reserve`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ sku, quantity }),
          signal: AbortSignal.timeout(2000),
        });
        if (reservation.status === 409) throw new HttpError(409, 'out of stock');
        if (!reservation.ok) throw new HttpError(502, `inventory responded ${reservation.status}`);
        const { reservationId } = await reservation.json();

        const total = product.price * quantity;
        const order = { id: `ord_${Date.now().toString(36)}`, sku, quantity, total, reservationId };
        span.setAttribute('shop.order.id', order.id);
        ordersCounter.add(1, { 'shop.outcome': 'created' });
        orderValue.record(total, { 'shop.sku': sku });
        logger.info({ orderId: order.id, sku, quantity, total }, 'order placed');
        res.status(201).json(order);
      } catch (error) {
        const status = error instanceof HttpError ? error.status : 500;
        ordersCounter.add(1, { 'shop.outcome': status < 500 ? 'rejected' : 'failed' });
        if (status >= 500) {
          // Only server-side problems mark the span as an error.
          span.recordException(error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        }
        next(error);
      } finally {
        span.end();
      }
    });
  });

  // eslint-disable-next-line no-unused-vars
  app.use((error, _req, res, _next) => {
    const status = error instanceof HttpError ? error.status : error.name === 'TimeoutError' ? 504 : 500;
    if (status >= 500) logger.error({ err: error }, 'request failed');
    res.status(status).json({ error: status >= 500 ? 'internal error' : error.message });
  });

  return app;
}

if (require.main === module) {
  const port = Number(process.env.PORT || 3001);
  serve(createApp(), { port, name: 'checkout-api' });
}

module.exports = { createApp, PRODUCTS };
