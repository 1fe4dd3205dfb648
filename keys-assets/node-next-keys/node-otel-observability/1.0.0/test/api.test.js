'use strict';
// Runs both services in-process without the OpenTelemetry SDK: the API calls
// are no-ops then, which is exactly what production code sees if telemetry is off.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { createApp } = require('../src/api');
const { createInventoryApp } = require('../src/inventory');

process.env.LOG_LEVEL = 'silent';

let inventory;
let api;
let baseUrl;

function listen(app) {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

before(async () => {
  inventory = await listen(createInventoryApp({ failureRate: 0, maxLatencyMs: 0 }));
  const inventoryUrl = `http://127.0.0.1:${inventory.address().port}`;
  api = await listen(createApp({ inventoryUrl }));
  baseUrl = `http://127.0.0.1:${api.address().port}`;
});

after(() => {
  api.close();
  inventory.close();
});

const post = (path, body) =>
  fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('lists products', async () => {
  const res = await fetch(`${baseUrl}/api/products`);
  assert.equal(res.status, 200);
  const { products } = await res.json();
  assert.ok(products.length > 0);
});

test('places an order through the inventory service', async () => {
  const res = await post('/api/orders', { sku: 'MUG-12OZ', quantity: 2 });
  assert.equal(res.status, 201);
  const order = await res.json();
  assert.equal(order.total, 32);
  assert.match(order.reservationId, /^[0-9a-f-]{36}$/);
});

test('rejects invalid orders with 400', async () => {
  assert.equal((await post('/api/orders', { sku: 'NOPE', quantity: 1 })).status, 400);
  assert.equal((await post('/api/orders', { sku: 'MUG-12OZ', quantity: 0 })).status, 400);
});

test('maps insufficient stock to 409', async () => {
  const res = await post('/api/orders', { sku: 'HOODIE-GRY-L', quantity: 10 });
  assert.equal(res.status, 201);
  const again = await post('/api/orders', { sku: 'HOODIE-GRY-L', quantity: 10 });
  assert.equal(again.status, 201);
  const third = await post('/api/orders', { sku: 'HOODIE-GRY-L', quantity: 10 });
  assert.equal(third.status, 409);
});

test('maps inventory outages to 502', async () => {
  const flaky = await listen(createInventoryApp({ failureRate: 1 }));
  const flakyApi = await listen(createApp({ inventoryUrl: `http://127.0.0.1:${flaky.address().port}` }));
  try {
    const res = await fetch(`http://127.0.0.1:${flakyApi.address().port}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'MUG-12OZ', quantity: 1 }),
    });
    assert.equal(res.status, 502);
  } finally {
    flakyApi.close();
    flaky.close();
  }
});
