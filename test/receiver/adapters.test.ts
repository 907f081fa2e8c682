import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { buildWebhookRequest, generateSecret } from '../../src/webhooks/signing';
import { createMemoryStore, createWebhookHandler, expressWebhook, fastifyWebhook, type ReceivedMessage, type WebhookHandler } from '../../src/receiver';

const secret = generateSecret();
const signed = (id: string) =>
  buildWebhookRequest({ secrets: [secret], messageId: id, eventType: 'order.created', occurredAt: new Date(), payload: { orderId: id }, now: new Date() });

async function until(check: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The same checks through each framework: accepted once, a tampered body refused, other routes untouched. */
async function exercise(base: string, processed: ReceivedMessage[]) {
  const good = signed('msg_a');
  const post = (request: { headers: Record<string, string>; body: string }) =>
    fetch(`${base}/webhooks`, { method: 'POST', headers: request.headers, body: request.body });
  const first = await post(good);
  expect([first.status, await first.json()]).toEqual([202, { id: 'msg_a', status: 'accepted' }]);
  expect((await (await post(good)).json()).status).toBe('duplicate');
  const tampered = await post({ ...good, body: good.body.replace('msg_a"}', 'msg_b"}') });
  expect([tampered.status, (await tampered.json()).error]).toEqual([401, 'bad_signature']);
  const other = await fetch(`${base}/other`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' });
  expect(await other.json()).toEqual({ parsed: { x: 1 } }); // the app's own JSON parsing still works elsewhere
  await until(() => processed.length === 1);
  expect(processed[0]).toMatchObject({ id: 'msg_a', data: { orderId: 'msg_a' } });
}

describe('framework adapters', () => {
  let handler: WebhookHandler;
  let processed: ReceivedMessage[];
  beforeEach(() => {
    processed = [];
    handler = createWebhookHandler({ secrets: [secret], store: createMemoryStore(), process: (m) => void processed.push(m), pollIntervalMs: 50 });
  });
  afterEach(() => handler.close());

  test('Express 5: the route before express.json(), and with express.raw()', async () => {
    const app = express();
    app.post('/webhooks', expressWebhook(handler));
    app.use(express.json());
    app.post('/other', (req, res) => void res.json({ parsed: req.body }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      await exercise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, processed);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    const rawApp = express();
    rawApp.post('/webhooks', express.raw({ type: 'application/json' }), expressWebhook(handler));
    const rawServer = rawApp.listen(0, '127.0.0.1');
    await new Promise((resolve) => rawServer.once('listening', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(rawServer.address() as AddressInfo).port}/webhooks`, { method: 'POST', ...signed('msg_raw') });
      expect(await response.json()).toEqual({ id: 'msg_raw', status: 'accepted' });
    } finally {
      await new Promise((resolve) => rawServer.close(resolve));
    }
  });

  test('Fastify 5: a plugin that keeps the raw body in its own scope', async () => {
    const app = Fastify();
    await app.register(fastifyWebhook(handler, '/webhooks'));
    app.post('/other', async (request) => ({ parsed: request.body }));
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      await exercise(base, processed);
    } finally {
      await app.close();
    }
  });
});
