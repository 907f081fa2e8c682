/** Where a delivery is retried: one endpoint's attempts under its retry policy, step by step. */
import { ActivityFailure, ApplicationFailure, condition, patched, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { RetryPolicy as RetryOptions } from '@temporalio/common';
import type { Activities } from '../activities';
import { decideNextStep } from './delivery-decision';
import type { AttemptDeliveryInput, AttemptOutcome, DeliveryResult } from './delivery-types';
import type { LifecycleInput } from './endpoint-lifecycle';
import { NON_RETRYABLE_FAILURE_TYPES } from './failure-types';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-schedule';

/**
 * One attempt posts with a 15 s budget and writes three small documents. A failed POST is a result,
 * not an exception; an exception means our own infrastructure (MongoDB, the worker) failed, and
 * those are retried without end so that no delivery is dropped while a server restarts, except the
 * faults listed in failure-types.ts, which no retry fixes. The attempt heartbeats every second, so
 * that the attempts of a worker that died are retried after 5 s, not 60.
 */
const ATTEMPT_RETRY: RetryOptions = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
};
const { attemptDelivery } = proxyActivities<Activities>({ startToCloseTimeout: '60 seconds', heartbeatTimeout: '5 seconds', retry: ATTEMPT_RETRY });

/**
 * The first try runs as a local activity, in the worker that runs the workflow task: no activity task
 * goes through the server's matching, and the attempt adds one marker event to the history instead of
 * three activity events and a second workflow task. A worker that dies during it leaves the workflow
 * task to time out (10 s), and the next worker tries again. Retries, which wait anyway, stay ordinary
 * activities with heartbeats.
 */
const { attemptDelivery: attemptDeliveryLocally } = proxyLocalActivities<Activities>({ startToCloseTimeout: '60 seconds', retry: ATTEMPT_RETRY });
/** Histories written before the first try ran locally replay with it as an ordinary activity. */
const FIRST_TRY_LOCAL = 'first-try-local-activity';
/** Keyed runs recorded before their first try became an ordinary activity replay without this marker. */
const KEYED_FIRST_TRY_ORDINARY = 'keyed-first-try-ordinary-activity';
/** Takeovers recorded before they reported a recovery replay without this marker. */
const TAKEOVER_REPORTS_RECOVERY = 'takeover-reports-recovery';

/** Telling the endpoint's workflow, or a key's sequence, is one signal: short, and retried until it lands. */
const { signalEndpointLifecycle, reportSequenceFinished } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * A delivery over the worker's in-flight cap for its endpoint waits in the workflow, holding no activity
 * slot. Each such pass adds events to the history, so after this many passes in one run the attempt
 * waits for its slot inside the activity instead, and the history stays bounded however long the backlog.
 */
export const MAX_THROTTLED_PASSES = 20;

export interface DeliverToEndpointArgs {
  tenantId: string;
  messageId: string;
  endpointId: string;
  /** An endpoint's redelivery takes the PARKED row over with its first attempt. */
  claimParked: boolean;
  isCancelled: () => boolean;
  onRetry: () => void;
  /** Throttled passes already spent by this run, shared by its deliveries. */
  throttle: { passes: number };
  /** A keyed message's sequence is told when its delivery ends, so that the key's next message may go. */
  orderingKey?: string | null;
}

async function attemptOnce(input: AttemptDeliveryInput, local: boolean): Promise<AttemptOutcome> {
  try {
    return local ? await attemptDeliveryLocally(input) : await attemptDelivery(input);
  } catch (error) {
    // A fault no retry fixes (a secret the worker cannot decrypt): an attempt that failed on our side,
    // under the endpoint's retry policy, so an operator can fix it before the delivery is parked.
    // A local activity's failure can arrive unwrapped, an ordinary one inside an ActivityFailure.
    const cause = error instanceof ActivityFailure ? error.cause : error;
    if (cause instanceof ApplicationFailure && cause.type && NON_RETRYABLE_FAILURE_TYPES.includes(cause.type)) {
      const retryPolicy = (cause.details?.[0] as RetryPolicy | undefined) ?? DEFAULT_RETRY_POLICY;
      return { kind: 'failed', reason: 'internal', statusCode: null, error: `${cause.type}: ${cause.message}`, retryPolicy };
    }
    throw error;
  }
}

/**
 * Delivers one message to one endpoint under the endpoint's retry policy, and tells the endpoint's
 * lifecycle workflow when the delivery starts failing, recovers, or exhausts its retries.
 */
export async function deliverToEndpoint(args: DeliverToEndpointArgs): Promise<DeliveryResult> {
  const result = await attemptUntilEnded(args);
  // Parked or taken over, it is not over: whoever delivers it later tells the sequence.
  if (args.orderingKey && (result.status === 'SUCCEEDED' || result.status === 'CANCELLED')) {
    await reportSequenceFinished({ tenantId: args.tenantId, orderingKey: args.orderingKey, messageId: args.messageId, endpointId: args.endpointId });
  }
  return result;
}

/** The attempt's number on the delivery row, which orders the reports of two runs of one delivery. */
const seqOf = (outcome: { seq?: number }) => (outcome.seq === undefined ? {} : { seq: outcome.seq });

async function attemptUntilEnded(args: DeliverToEndpointArgs): Promise<DeliveryResult> {
  const { tenantId, messageId, endpointId } = args;
  const { workflowId } = workflowInfo();
  const tell = (input: LifecycleInput) => signalEndpointLifecycle({ tenantId, endpointId, input });
  const ended = (status: DeliveryResult['status'], attempts: number): DeliveryResult => ({ endpointId, status, attempts });
  let raisedFailure = false;

  for (let number = 0; ; number++) {
    const input: AttemptDeliveryInput = {
      messageId,
      endpointId,
      number,
      workflowId,
      ...(args.claimParked && number === 0 ? { claimParked: true } : {}),
      ...(args.throttle.passes >= MAX_THROTTLED_PASSES ? { waitForSlot: true } : {}),
    };
    // A keyed message's first try comes in the workflow task of its turn's signal, while other endpoints'
    // deliveries of the run are under way; replayed as a local activity, its result can resolve in another
    // activation than it did, and the commands come in another order. It runs as an ordinary activity.
    const keyedOrdinary = args.orderingKey ? patched(KEYED_FIRST_TRY_ORDINARY) : false;
    const local = number === 0 && !input.waitForSlot && !keyedOrdinary && patched(FIRST_TRY_LOCAL);
    const outcome = await attemptOnce(input, local);
    const attempts = number + 1;
    switch (outcome.kind) {
      case 'throttled':
        // Not an attempt: this worker already waits on the endpoint enough. Try the same number again soon.
        args.throttle.passes += 1;
        if (await condition(args.isCancelled, 500 + Math.floor(Math.random() * 1000))) return ended('CANCELLED', number);
        number -= 1;
        break;
      case 'acknowledged':
        // A run that took the delivery over (a resend, a recovery, a redelivery) does not know whether
        // the run before it raised on_failure: it reports the recovery, which the endpoint's workflow
        // ignores for a message it does not hold as failing (found by the model test, seed 998862314).
        if (raisedFailure || (args.claimParked && patched(TAKEOVER_REPORTS_RECOVERY)))
          await tell({ type: 'deliveryRecovered', messageId, attempts, ...seqOf(outcome) });
        return ended('SUCCEEDED', attempts);
      case 'parked':
        return ended('PARKED', number);
      case 'gone':
        return ended('CANCELLED', number);
      case 'superseded':
        return ended('SUPERSEDED', number);
      case 'finished':
        return ended(outcome.status, number);
      case 'failed': {
        // Math.random is deterministic inside a workflow: replay draws the same jitter.
        const verdict = {
          acknowledged: false,
          statusCode: outcome.statusCode,
          ...(outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }),
        };
        const step = decideNextStep(outcome.retryPolicy, number, verdict, Math.random());
        if (step.kind === 'done') return ended('SUCCEEDED', attempts);
        if (step.raiseFailing && !raisedFailure) {
          raisedFailure = true;
          await tell({ type: 'deliveryFailing', messageId, attempts, error: outcome.error, ...seqOf(outcome) });
        }
        if (step.kind === 'exhausted') {
          await tell({ type: 'deliveryExhausted', messageId, attempts, error: outcome.error, gone: step.gone, ...seqOf(outcome) });
          return ended('PARKED', attempts);
        }
        args.onRetry();
        if (await condition(args.isCancelled, step.delayMs)) return ended('CANCELLED', attempts);
      }
    }
  }
}
