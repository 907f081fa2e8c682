/** The baseline of the benchmark: a trivial workflow with one no-op activity, on the same server. */
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

export async function rawWorkflow(): Promise<void> {
  await noop();
}
