/** `npm run worker`: only the Temporal worker, against TEMPORAL_ADDRESS and MONGODB_URI. */
import { runEntryPoint, startWorkerPart } from './runtime';

runEntryPoint('worker', async (config, log, addresses, mongo, parts) => {
  parts.push(await startWorkerPart(config, log, addresses, mongo));
});
