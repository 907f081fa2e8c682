/**
 * The operator CLI: `npx hookflow tenants create <name>`, `tenants list`, `keys create <tenantId>`,
 * `keys list <tenantId>`, `keys revoke <keyId>`. It works on MongoDB directly (MONGODB_URI, or the
 * embedded FerretDB of a running `npm start`), like the admin mutations of the GraphQL API.
 */
import { loadConfigOrExit } from './runtime';
import { connectMongo } from './db/mongo';
import { UserError } from './errors';
import { createTenantService } from './tenants';

const usage = `usage:
  hookflow tenants create <name>     a tenant and its first API key (shown once)
  hookflow tenants list
  hookflow keys create <tenantId>    another API key (shown once)
  hookflow keys list <tenantId>
  hookflow keys revoke <keyId>       refused from the next request on`;

async function main(argv: string[]): Promise<number> {
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
