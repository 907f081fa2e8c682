/** `npm run worker`: only the Temporal worker, against TEMPORAL_ADDRESS and MONGODB_URI. */
import { addressesOf, connectMongoPart, createRootLogger, loadConfigOrExit, startWorkerPart, stopOnSignals, type Part } from './runtime';

let shutdown: (reason: string, exitCode: number) => Promise<void> = async (_, code) => process.exit(code);

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = createRootLogger(config);
  const parts: Part[] = [];
  shutdown = stopOnSignals(log, parts);
  const addresses = addressesOf(config);
  const mongo = await connectMongoPart(config, addresses.mongoUri);
  parts.push(mongo);
  parts.push(await startWorkerPart(config, log, addresses, mongo));
}

main().catch((error) => {
  process.stderr.write(`hookflow worker failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  void shutdown('start-up failed', 1);
});
