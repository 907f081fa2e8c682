/** `npm run bundle`: builds the worker's workflow bundle into the cache ahead of time (the Dockerfile does this). */
import { loadConfigOrExit } from '../runtime';
import { loadWorkflowBundle, workflowBundleFile } from '../workflow-bundle';

async function main(): Promise<void> {
  const { HOOKFLOW_CACHE_DIR } = loadConfigOrExit();
  const say = (_: object, message: string) => process.stdout.write(`${message}\n`);
  // Both variants: the traced one is loaded when OTEL_EXPORTER_OTLP_ENDPOINT is set (src/observability/tracing.ts).
  for (const variant of [{ tracing: false }, { tracing: true }]) {
    await loadWorkflowBundle(HOOKFLOW_CACHE_DIR, { info: say, warn: say }, variant);
    process.stdout.write(`${workflowBundleFile(HOOKFLOW_CACHE_DIR, variant)}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
