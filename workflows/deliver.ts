import { condition, patched, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DeliveryResult } from './delivery-types';
import type { LifecycleInput } from './endpoint-lifecycle';
import { retryDelayMs } from './retry-schedule';

/**
 * One attempt posts with a 15 s budget and writes two small documents. A failed POST is a result,
 * not an exception; an exception means our own infrastructure (MongoDB, the worker) failed, and
 * those are retried without end so that no delivery is dropped while a server restarts. The attempt
 * heartbeats every second, so that the attempts of a worker that died are retried after 5 s, not 60.
 */
const { attemptDelivery } = proxyActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * The first try runs as a local activity, in the worker that runs the workflow task: no activity task
 * goes through the server's matching, and the attempt adds one marker event to the history instead of
 * three activity events and a second workflow task. A worker that dies during it leaves the workflow
 * task to time out (10 s), and the next worker tries again. Retries, which wait anyway, stay ordinary
 * activities with heartbeats.
 */
const { attemptDelivery: attemptDeliveryLocally } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});
/** Histories written before the first try ran locally replay with it as an ordinary activity. */
const FIRST_TRY_LOCAL = 'first-try-local-activity';

/** Telling the endpoint's workflow is a signal-with-start: short, and retried until it lands. */
const { signalEndpointLifecycle } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

export interface DeliverToEndpointArgs {
  tenantId: string;
  messageId: string;
  endpointId: string;
  /** Attempts this delivery already had in earlier runs (0 for a new message). */
  previousAttempts: number;
  isCancelled: () => boolean;
  onRetry: () => void;
}

/**
 * Delivers one message to one endpoint under the endpoint's retry policy, and tells the endpoint's
 * lifecycle workflow when the delivery starts failing, recovers, or exhausts its retries.
 */
export async function deliverToEndpoint(args: DeliverToEndpointArgs): Promise<DeliveryResult> {
  const { tenantId, messageId, endpointId } = args;
  const { workflowId } = workflowInfo();
  const tell = (input: LifecycleInput) => signalEndpointLifecycle({ tenantId, endpointId, input });
  let raisedFailure = false;

  for (let number = 0; ; number++) {
    const input = { messageId, endpointId, number, seq: args.previousAttempts + number, workflowId };
    const outcome = number === 0 && patched(FIRST_TRY_LOCAL) ? await attemptDeliveryLocally(input) : await attemptDelivery(input);
    const attempts = number + 1;
    switch (outcome.kind) {
      case 'throttled':
        // Not an attempt: this worker already waits on the endpoint enough. Try the same number again soon.
        if (await condition(args.isCancelled, 500 + Math.floor(Math.random() * 1000))) return { endpointId, status: 'CANCELLED', attempts: number };
        number -= 1;
        break;
      case 'acknowledged':
        if (raisedFailure) await tell({ type: 'deliveryRecovered', messageId, attempts });
        return { endpointId, status: 'SUCCEEDED', attempts };
      case 'parked':
        return { endpointId, status: 'PARKED', attempts: number };
      case 'gone':
        return { endpointId, status: 'CANCELLED', attempts: number };
      case 'failed': {
        const policy = outcome.retryPolicy;
        if (outcome.statusCode === 410 || number >= policy.maxRetries) {
          await tell({ type: 'deliveryExhausted', messageId, attempts, error: outcome.error, gone: outcome.statusCode === 410 });
          return { endpointId, status: 'PARKED', attempts };
        }
        if (!raisedFailure && number >= policy.retriesUntilFailure) {
          raisedFailure = true;
          await tell({ type: 'deliveryFailing', messageId, attempts, error: outcome.error });
        }
        args.onRetry();
        // Math.random is deterministic inside a workflow: replay draws the same jitter.
        const delay = retryDelayMs(policy, number + 1, Math.random(), outcome.retryAfterMs);
        if (await condition(args.isCancelled, delay)) return { endpointId, status: 'CANCELLED', attempts };
      }
    }
  }
}
