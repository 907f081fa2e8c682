/** `npm run tools`: builds the embedded stack's Go servers into the cache ahead of time (CI does this). */
import { loadConfigOrExit } from '../runtime';
import { ensureFerretDb, ensureTemporalServer } from './tools';

async function main(): Promise<void> {
  const { HOOKFLOW_CACHE_DIR } = loadConfigOrExit();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`tool cache: ${HOOKFLOW_CACHE_DIR}`);
  say(`temporal: ${(await ensureTemporalServer(HOOKFLOW_CACHE_DIR, say)).binary}`);
  say(`ferretdb: ${await ensureFerretDb(HOOKFLOW_CACHE_DIR, say)}`);
  // npm test compares the patched FerretDB's answers with upstream's (test/ferretdb-pushdown.test.ts).
  say(`ferretdb, upstream (for the pushdown test): ${await ensureFerretDb(HOOKFLOW_CACHE_DIR, say, { upstream: true })}`);
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
