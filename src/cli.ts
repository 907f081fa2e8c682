/**
 * The operator CLI: `npx hookflow tenants create <name>`, `tenants list`, `keys create <tenantId>`,
 * `keys list <tenantId>`, `keys revoke <keyId>`. They work on MongoDB directly (MONGODB_URI, or the
 * embedded FerretDB of a running `npm start`), like the admin mutations of the GraphQL API.
 * `hookflow tail` is a client of the API's subscriptions instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfigOrExit } from './runtime';
import { tailDeliveries } from './live/tail-cli';
import { connectMongo } from './db/mongo';
import { UserError } from './errors';
import { createTenantService } from './tenants';

const usage = `usage:
  hookflow tenants create <name>     a tenant and its first API key (shown once)
  hookflow tenants list
  hookflow keys create <tenantId>    another API key (shown once)
  hookflow keys list <tenantId>
  hookflow keys revoke <keyId>       refused from the next request on
  hookflow tail [--endpoint ID] [--event-type T]...
                                     deliveries as they happen, one line each, from the API at
                                     HOOKFLOW_API_URL (default http://HOST:PORT/graphql) with the key
                                     HOOKFLOW_API_KEY (default: the one npm start keeps in the data directory)`;

/** `hookflow tail`: until Ctrl-C. */
async function tail(args: string[]): Promise<number> {
  const endpointId: string[] = [];
  const eventTypes: string[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (!value || (flag !== '--endpoint' && flag !== '--event-type')) {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    (flag === '--endpoint' ? endpointId : eventTypes).push(value);
  }
  if (endpointId.length > 1) {
    process.stderr.write('hookflow tail: one --endpoint at most\n');
    return 2;
  }
  const config = loadConfigOrExit();
  const keyFile = path.join(config.HOOKFLOW_DATA_DIR, 'api-key');
  const apiKey = config.HOOKFLOW_API_KEY ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : undefined);
  if (!apiKey) {
    process.stderr.write(`hookflow tail: set HOOKFLOW_API_KEY (no key in ${keyFile})\n`);
    return 2;
  }
  const url = process.env.HOOKFLOW_API_URL ?? `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}/graphql`;
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  process.stderr.write(`tailing deliveries from ${url} (Ctrl-C stops)\n`);
  await tailDeliveries({
    url,
    apiKey,
    endpointId: endpointId[0],
    eventTypes: eventTypes.length > 0 ? eventTypes : undefined,
    write: (line) => process.stdout.write(`${line}\n`),
    warn: (line) => process.stderr.write(`${line}\n`),
    signal: stop.signal,
  });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'tail') return tail(argv.slice(1));
  const [noun, verb, arg] = argv;
  const known = ['tenants create', 'tenants list', 'keys create', 'keys list', 'keys revoke'];
  const needsArgument = !(noun === 'tenants' && verb === 'list');
  if (!known.includes(`${noun} ${verb}`) || (needsArgument && !arg)) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const config = loadConfigOrExit();
  const uri = config.MONGODB_URI ?? `mongodb://127.0.0.1:${config.HOOKFLOW_DEV_MONGODB_PORT}/`;
  const mongo = await connectMongo(uri, config.MONGODB_DB);
  try {
    const tenants = createTenantService(mongo.collections);
    const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    switch (`${noun} ${verb}`) {
      case 'tenants create': {
        const { tenant, apiKey } = await tenants.createTenant(arg!);
        print({ tenant: { id: tenant._id, name: tenant.name }, apiKey: { id: apiKey.id, key: apiKey.key } });
        process.stderr.write('The key is shown once: only its hash is stored.\n');
        break;
      }
      case 'tenants list':
        print((await tenants.listTenants()).map((t) => ({ id: t._id, name: t.name, createdAt: t.createdAt })));
        break;
      case 'keys create': {
        const key = await tenants.createApiKey(arg!);
        print({ id: key.id, tenantId: key.tenantId, key: key.key });
        process.stderr.write('The key is shown once: only its hash is stored.\n');
        break;
      }
      case 'keys list':
        print((await tenants.listApiKeys(arg!)).map((k) => ({ id: k.keyId, createdAt: k.createdAt, revokedAt: k.revokedAt ?? null })));
        break;
      case 'keys revoke': {
        const key = await tenants.revokeApiKey(arg!);
        print({ id: key.keyId, tenantId: key.tenantId, revokedAt: key.revokedAt });
        break;
      }
    }
    return 0;
  } catch (error) {
    if (error instanceof UserError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await mongo.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`hookflow: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
