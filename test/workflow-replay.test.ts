import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';

/**
 * Histories recorded from real runs (RECORD_HISTORIES=1 npm test) are replayed against today's
 * workflow code: a change that would break running workflows fails here with a determinism error.
 */
const dir = path.join(__dirname, 'histories');
const histories = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('recorded histories exist', () => {
  expect(histories.length).toBeGreaterThanOrEqual(3);
});

test.each(histories)('%s replays without a determinism error', async (file) => {
  const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  await expect(
    Worker.runReplayHistory({ workflowBundle: { codePath: process.env.TEST_WORKFLOW_BUNDLE! } }, history, path.basename(file, '.json')),
  ).resolves.toBeUndefined();
});
