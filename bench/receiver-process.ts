/**
 * The receiver `npm run bench:receiver` measures: one process, createWebhookHandler on the store
 * named by STORE (memory, mongo, postgres), and a `process` that does nothing, so that the figures are
 * the toolkit's own: verify, record, acknowledge, then claim and complete. GET /stats says how many
 * messages it has processed.
 */
import { createServer } from 'node:http';
import { MongoClient } from 'mongodb';
import { Pool } from 'pg';
import { createMemoryStore, createMongoStore, createPostgresStore, createWebhookHandler, type ReceiverStore } from 'hookflow/receiver';

const env = process.env;

async function openStore(): Promise<ReceiverStore> {
  switch (env.STORE) {
    case 'memory':
      return createMemoryStore();
    case 'mongo':
      return createMongoStore({ db: (await MongoClient.connect(env.MONGODB_URI!)).db(env.DB_NAME!) });
    case 'postgres':
      return createPostgresStore({ pool: new Pool({ connectionString: env.PG_URL, max: 12 }), schema: env.DB_NAME! });
    default:
      throw new Error(`unknown STORE ${env.STORE}`);
  }
}

async function main() {
  let processed = 0;
  const handler = createWebhookHandler({
    secrets: [env.SECRET!],
    store: await openStore(),
    concurrency: 4,
    process: () => void (processed += 1),
  });
  await handler.ready;
  const server = createServer((req, res) => {
    if (req.method === 'GET') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ processed }));
    handler(req, res);
  });
  server.listen(Number(env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
