/** `npm run api`: only the GraphQL API, against TEMPORAL_ADDRESS and MONGODB_URI. */
import { createTenantService } from './tenants';
import { addressesOf, bootstrapApiKey, connectMongoPart, createRootLogger, loadConfigOrExit, startApiPart, stopOnSignals, type Part } from './runtime';

let shutdown: (reason: string, exitCode: number) => Promise<void> = async (_, code) => process.exit(code);

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createRootLogger(config);
  const parts: Part[] = [];
  shutdown = stopOnSignals(log, parts);
  const addresses = addressesOf(config);
  const mongo = await connectMongoPart(config, addresses.mongoUri);
  parts.push(mongo);
  const { apiKey, source } = await bootstrapApiKey(config, createTenantService(mongo.collections), false);
  const api = await startApiPart(config, log, addresses, mongo);
  parts.push(api);
  log.info({ url: api.api.url }, 'GraphQL API listening');
  if (apiKey && source.startsWith('generated')) process.stdout.write(`First tenant's API key (${source}): ${apiKey}\n`);
}

main().catch((error) => {
  process.stderr.write(`hookflow api failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  void shutdown('start-up failed', 1);
});
