/**
 * A runnable receiver: an order sync that keeps each order's latest state in MongoDB. It uses the
 * whole of hookflow/receiver: verification, acknowledgement at once, processing once per message id
 * with retries, event ordering, and reconciliation of what was missed while it was down.
 *
 *   npm start                  # Hookflow, in another terminal
 *   npm run example:receiver   # registers its endpoint with Hookflow's API key, then listens
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { createMongoStore, createWebhookHandler, reconcile } from 'hookflow/receiver';
import { ensureEndpoint } from './endpoint';
import { orderSync } from './orders';

const env = process.env;
const dataDir = env.HOOKFLOW_DATA_DIR ?? path.resolve(__dirname, '../../.data');
const host = env.RECEIVER_HOST ?? '127.0.0.1';
const port = Number(env.RECEIVER_PORT ?? 9000);
const apiUrl = env.HOOKFLOW_API_URL ?? 'http://127.0.0.1:4000/graphql';
const keyFile = path.join(dataDir, 'api-key');
const apiKey = env.HOOKFLOW_API_KEY ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : undefined);
const reconcileEveryMs = Number(env.RECEIVER_RECONCILE_INTERVAL_MS ?? 5 * 60_000);
const log = (line: string) => process.stdout.write(`[receiver] ${line}\n`);

async function main() {
  const url = `http://${host}:${port}/webhooks`;
  let secret = env.HOOKFLOW_WEBHOOK_SECRET;
  let endpointId = env.HOOKFLOW_ENDPOINT_ID;
  if (!secret) {
    if (!apiKey) throw new Error(`set HOOKFLOW_WEBHOOK_SECRET, or HOOKFLOW_API_KEY (or run npm start, which writes ${keyFile}) to register an endpoint`);
    const registration = await ensureEndpoint({ apiUrl, apiKey, url, file: path.join(dataDir, 'example-receiver.json') });
    ({ secret, endpointId } = registration);
    log(`endpoint ${endpointId} → ${url}`);
  }

  const mongo = await MongoClient.connect(env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/', { serverSelectionTimeoutMS: 10_000 });
  const db = mongo.db(env.RECEIVER_DB ?? 'hookflow_example_receiver');
  const store = createMongoStore({ db });
  const handler = createWebhookHandler({
    secrets: secret.split(/\s+/),
    store,
    process: orderSync(db, store, { failRate: Number(env.EXAMPLE_FAIL_RATE ?? 0) }),
    concurrency: Number(env.RECEIVER_CONCURRENCY ?? 4),
    maxAttempts: Number(env.RECEIVER_MAX_ATTEMPTS ?? 5),
    retryDelayMs: (attempt) => Math.min(Number(env.RECEIVER_RETRY_BASE_MS ?? 1000) * 2 ** (attempt - 1), 60_000),
    onError: (error, message) => log(`error${message ? ` on ${message.id}` : ''}: ${(error as Error).message}`),
  });
  await handler.ready;
  const server = createServer((req, res) => {
    if (req.url?.split('?')[0] === '/webhooks') return handler(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  log(`listening on ${url}`);

  // What was sent while this receiver was down: every message since the last reconciled instant.
  const reconcileMissed = async () => {
    if (!apiKey) return;
    const until = new Date();
    const since = new Date((await store.getCheckpoint('example:reconciled-until')) ?? until.getTime() - 24 * 3600_000);
    const result = await reconcile({ apiUrl, apiKey, since, until, store, endpointId, onMissing: (message) => handler.accept(message) });
    await store.setCheckpoint('example:reconciled-until', until.toISOString());
    log(`reconciled ${since.toISOString()} .. ${until.toISOString()}: ${result.checked} checked, ${result.missing} missing`);
  };
  const reconcileLoop = async () => {
    await reconcileMissed().catch((error) => log(`reconcile failed: ${(error as Error).message}`));
  };
  await reconcileLoop();
  const timer = setInterval(reconcileLoop, reconcileEveryMs);

  const stop = async () => {
    clearInterval(timer);
    server.close();
    await handler.close();
    await mongo.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error) => {
  log(`failed to start: ${(error as Error).message}`);
  process.exit(1);
});
