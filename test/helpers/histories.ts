import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { temporalCliPath } from '../../src/dev/tools';
import { endpointDeletedSignal } from '../../workflows/definitions';
import type { TestStack } from './stack';

/**
 * With RECORD_HISTORIES=1, keeps a finished workflow's history as a fixture for the replay test.
 * `endWith` signals a long-lived workflow to finish first.
 */
export async function recordHistory(stack: TestStack, workflowId: string, name: string, options: { endWith?: 'endpointDeleted' } = {}): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const handle = stack.temporal.workflow.getHandle(workflowId);
  if (options.endWith === 'endpointDeleted') await handle.signal(endpointDeletedSignal);
  await handle.result();
  // The CLI writes the proto3 JSON that Worker.runReplayHistory reads.
  const cli = temporalCliPath(loadConfig().HOOKFLOW_CACHE_DIR);
  const json = execFileSync(cli, ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', process.env.TEST_TEMPORAL_ADDRESS!]);
  writeFileSync(path.join(__dirname, '..', 'histories', `${name}.json`), json);
}
