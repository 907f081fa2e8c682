import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection, type WorkerOptions as WorkerCreateOptions, type WorkflowBundleOption } from '@temporalio/worker';
import type { CompiledWorkerOptions } from '@temporalio/worker/lib/worker-options';
import type { Logger } from 'pino';
import { createActivities } from '../activities';
import type { Collections } from './db/mongo';
import type { Notifier } from './notify/channels';
import { createHttpAgent } from './webhooks/http-post';
import { Agent } from 'undici';
import type { SecretBox } from './secret-box';
import type { UrlPolicy } from './webhooks/url-guard';

export interface WorkerOptions {
  connection: NativeConnection;
  /** For activities that signal workflows (the endpoint lifecycle). */
  temporal: Client;
  notifier: Notifier | ((agent: Agent) => Notifier);
  secretBox: SecretBox;
  urlPolicy: UrlPolicy;
  maxInFlightPerEndpoint: number;
  maxConcurrentActivities?: number;
  namespace: string;
  taskQueue: string;
  db: Collections;
  log: Logger;
  deliveryTimeoutMs: number;
  responseBodyLimit: number;
  /** A pre-built bundle (src/workflow-bundle.ts); otherwise the workflows are bundled here. */
  workflowBundle?: WorkflowBundleOption;
  /** Tracing's interceptors and workflow span sink (src/observability/tracing.ts); the bundle must be the traced one. */
  tracing?: Pick<WorkerCreateOptions, 'interceptors' | 'sinks'>;
  /**
   * Temporal's deadlock detection: every call into the workflow sandbox runs under a 5 s watchdog
   * (`isolateExecutionTimeout`). Off, the calls run without one (HOOKFLOW_WORKFLOW_WATCHDOG).
   */
  workflowWatchdog?: boolean;
}

/**
 * A worker whose calls into the workflow sandbox run without Node's vm timeout. With a timeout, Node
 * starts a watchdog thread for each call and joins it after (about 250 µs of CPU a call here, measured
 * alone, against under 1 µs without), and the SDK makes several calls per activation. Without it, a
 * workflow that never yields would hold its worker thread instead of failing its task after 5 s: the
 * workflows are Hookflow's own code, each activation does little, and the model test runs them all.
 */
class UnwatchedWorker extends Worker {
  protected static override createWorkflowCreator(...[bundle, options, logger]: Parameters<typeof Worker.createWorkflowCreator>) {
    // `timeout: undefined` is what makes Node's vm run a script without a watchdog.
    const unwatched: CompiledWorkerOptions = { ...options, isolateExecutionTimeoutMs: undefined as unknown as number };
    return super.createWorkflowCreator(bundle, unwatched, logger);
  }
}

export async function createWorker(options: WorkerOptions): Promise<Worker> {
  const agent = createHttpAgent(options.deliveryTimeoutMs, options.urlPolicy);
  const activities = createActivities({
    db: options.db,
    secretBox: options.secretBox,
    urlPolicy: options.urlPolicy,
    maxInFlightPerEndpoint: options.maxInFlightPerEndpoint,
    http: { agent, timeoutMs: options.deliveryTimeoutMs, bodyLimit: options.responseBodyLimit },
    // Notifications go to addresses the operator configured, not to tenants' URLs: the SSRF guard,
    // which refuses private addresses, is for the latter only.
    notifier:
      typeof options.notifier === 'function' ? options.notifier(new Agent({ connect: { timeout: 10_000 }, keepAliveTimeout: 30_000 })) : options.notifier,
    temporal: options.temporal,
    taskQueue: options.taskQueue,
    log: options.log.child({ component: 'activities' }),
  });
  return (options.workflowWatchdog === false ? UnwatchedWorker : Worker).create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 20,
    // First tries run as local activities; they load the same stores, so they share the same bound.
    maxConcurrentLocalActivityExecutions: options.maxConcurrentActivities ?? 20,
    ...options.tracing,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
  });
}
