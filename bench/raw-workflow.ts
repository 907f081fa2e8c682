/**
 * The baselines of the benchmark, on the same server: the least Temporal work for one durable
 * workflow per message, naive and at its best.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });
const local = proxyLocalActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

/** Naive: one ordinary activity, so two workflow tasks and an activity task through matching. */
export async function rawWorkflow(): Promise<void> {
  await noop();
}

/** Best: one local activity, run inside the first workflow task; started eagerly, it skips matching too. */
export async function rawLocalWorkflow(): Promise<void> {
  await local.noop();
}
