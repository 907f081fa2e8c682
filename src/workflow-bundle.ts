import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { projectRoot } from './config';

/**
 * The workflow code a worker runs, bundled by webpack. Bundling takes seconds of CPU and about a
 * hundred MB of memory at every start, so a bundle is kept in the cache directory under a hash of
 * what goes into it: the workflow sources and the Temporal SDK's version. A later start with the same
 * hash loads the file; any change to either builds a new one, so a stale bundle is never run.
 */
const workflowsDir = path.join(projectRoot, 'workflows');

/** The OpenTelemetry interceptors run inside the workflow code, so a traced worker needs a bundle of its own. */
const TRACING_INTERCEPTORS = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export interface BundleVariant {
  tracing: boolean;
}

export function workflowBundleFile(cacheDir: string, variant: BundleVariant = { tracing: false }): string {
  const hash = createHash('sha256');
  if (variant.tracing)
    hash.update(`tracing@${JSON.parse(readFileSync(require.resolve('@temporalio/interceptors-opentelemetry/package.json'), 'utf8')).version}`);
  for (const name of readdirSync(workflowsDir)
    .filter((n) => n.endsWith('.ts'))
    .sort()) {
    hash.update(name).update(readFileSync(path.join(workflowsDir, name)));
  }
  for (const sdk of ['@temporalio/workflow', '@temporalio/worker', '@temporalio/common']) {
    hash.update(`${sdk}@${JSON.parse(readFileSync(require.resolve(`${sdk}/package.json`), 'utf8')).version}`);
  }
  return path.join(cacheDir, 'workflow-bundles', `${hash.digest('hex').slice(0, 16)}${variant.tracing ? '-traced' : ''}.js`);
}

/** The cached bundle, or a new one, saved for the next start when the cache directory is writable. */
export interface BundleLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export async function loadWorkflowBundle(cacheDir: string, log: BundleLog, variant: BundleVariant = { tracing: false }): Promise<{ code: string }> {
  const file = workflowBundleFile(cacheDir, variant);
  if (existsSync(file)) {
    log.info({ file }, 'workflow bundle loaded from the cache');
    return { code: readFileSync(file, 'utf8') };
  }
  const started = Date.now();
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: quietBundlerLogger,
    ...(variant.tracing ? { workflowInterceptorModules: [TRACING_INTERCEPTORS] } : {}),
  });
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, code);
    renameSync(tmp, file);
    log.info({ file, ms: Date.now() - started }, 'workflow bundle built and cached');
  } catch (error) {
    log.warn({ err: error, file }, 'workflow bundle built, but the cache directory is not writable: the next start bundles again');
  }
  return { code };
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string, meta?: Record<string, unknown>) => process.stderr.write(`workflow bundler: ${message} ${meta ? JSON.stringify(meta) : ''}\n`),
};
