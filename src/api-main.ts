/** `npm run api`: only the GraphQL API, against TEMPORAL_ADDRESS and MONGODB_URI. */
import { createTenantService } from './tenants';
import { bootstrapApiKey, runEntryPoint, startApiPart } from './runtime';

runEntryPoint('api', async (config, log, addresses, mongo, parts) => {
  const { apiKey, source } = await bootstrapApiKey(config, createTenantService(mongo.collections), false);
  const api = await startApiPart(config, log, addresses, mongo);
  parts.push(api);
  log.info({ url: api.api.url }, 'GraphQL API listening');
  if (apiKey && source.startsWith('generated')) process.stdout.write(`First tenant's API key (${source}): ${apiKey}\n`);
});
