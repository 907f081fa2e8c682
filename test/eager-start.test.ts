/**
 * Eager workflow start, as `npm start` runs the API in the worker's process: the API's client is built
 * on the worker's own connection, so the server hands the first workflow task back in the start's
 * answer. The embedded dev server allows it; the counter says how each start went.
 */
import { registry } from '../src/observability/metrics';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { startStack, type TestStack } from './helpers/stack';

const CREATE_ENDPOINT = 'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }';
const SEND = 'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }';

let stack: TestStack;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startStack({ eagerStart: true });
  receiver = await startReceiver(answer(202));
});
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

async function starts(): Promise<{ eager: number; ordinary: number }> {
  const metric = await registry.getSingleMetric('hookflow_workflow_starts_total')!.get();
  const value = (eager: string) => metric.values.find((v) => v.labels.eager === eager)?.value ?? 0;
  return { eager: value('true'), ordinary: value('false') };
}

test('messages sent through the API in the worker process start eagerly and are delivered', async () => {
  expect((await stack.gql(CREATE_ENDPOINT, { input: { url: receiver.url, eventTypes: ['eager.test'] } })).errors).toBeUndefined();
  const before = await starts();
  const ids: string[] = [];
  // One at a time: each start finds a free workflow slot in the worker, which eager start needs.
  for (let n = 0; n < 5; n++) {
    const result = await stack.gql(SEND, { input: { eventType: 'eager.test', payload: { n } } });
    expect(result.errors).toBeUndefined();
    ids.push(result.data.sendMessage.id);
  }
  await receiver.waitFor(5);
  expect(receiver.requests.map((r) => r.headers['message-id']).sort()).toEqual([...ids].sort());
  const after = await starts();
  expect(after.eager - before.eager + (after.ordinary - before.ordinary)).toBe(5);
  expect(after.eager - before.eager).toBeGreaterThanOrEqual(4);
});
