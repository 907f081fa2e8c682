/**
 * sendMessages: up to 100 messages in one call, each validated and idempotent on its own, answered in
 * place with its message or its coded error, on the real stack.
 */
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { startStack, type TestStack } from './helpers/stack';

const CREATE_ENDPOINT = 'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }';
const SEND = 'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }';
const SEND_MANY = `
  mutation ($inputs: [SendMessageInput!]!) {
    sendMessages(inputs: $inputs) { index message { id eventType payload orderingKey } error { code message field } }
  }`;
const COUNT = 'query ($type: String!) { messages(filter: { eventTypes: [$type] }, first: 100) { totalCount } }';

let stack: TestStack;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startStack();
  receiver = await startReceiver(answer(202));
});
beforeEach(async () => {
  await stack.useNewTenant();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

const ids = () => receiver.requests.map((r) => String(r.headers['message-id']));

test('each item is answered in place: accepted, refused with its code, or the message first stored under its idempotency key', async () => {
  expect((await stack.gql(CREATE_ENDPOINT, { input: { url: receiver.url, eventTypes: ['batch.one'] } })).errors).toBeUndefined();
  const earlier = await stack.gql(SEND, { input: { eventType: 'batch.one', payload: { n: 'earlier' }, idempotencyKey: 'k-earlier' } });
  const earlierId = earlier.data.sendMessage.id as string;
  await receiver.waitFor(1);

  const inputs = [
    { eventType: 'batch.one', payload: { n: 0 } },
    { eventType: 'not a type!', payload: { n: 1 } },
    { eventType: 'batch.one', payload: { n: 2 }, idempotencyKey: 'k-twice' },
    { eventType: 'batch.one', payload: { n: 3 }, idempotencyKey: 'k-twice' },
    { eventType: 'batch.one', payload: { n: 4 }, idempotencyKey: 'k-earlier' },
    { eventType: 'batch.one', payload: { 'bad\u0000key': 5 } },
    { eventType: 'batch.one', payload: { n: 6 }, orderingKey: '' },
    { eventType: 'batch.one', payload: { n: 7 }, orderingKey: 'order-1' },
  ];
  const result = await stack.gql(SEND_MANY, { inputs });
  expect(result.errors).toBeUndefined();
  const items = result.data.sendMessages as { index: number; message: { id: string; payload: { n: number } } | null; error: { code: string } | null }[];
  expect(items.map((i) => i.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  expect(items.map((i) => i.error?.code ?? null)).toEqual([null, 'INVALID_EVENT_TYPE', null, null, null, 'INVALID_PAYLOAD', 'INVALID_ORDERING_KEY', null]);
  // A key repeated in the batch answers the first item's message; a key used before, the stored one.
  expect(items[3]!.message!.id).toBe(items[2]!.message!.id);
  expect(items[3]!.message!.payload).toEqual({ n: 2 });
  expect(items[4]!.message!.id).toBe(earlierId);
  expect(items[4]!.message!.payload).toEqual({ n: 'earlier' });

  // Delivered: the earlier message once, and each new accepted message once.
  const accepted = new Set([items[0], items[2], items[7]].map((i) => i!.message!.id));
  await receiver.waitFor(1 + accepted.size);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(ids().sort()).toEqual([earlierId, ...accepted].sort());
  // Stored: the earlier message and the three new ones, nothing for the refused items.
  expect((await stack.gql(COUNT, { type: 'batch.one' })).data.messages.totalCount).toBe(4);
});

test('more than 100 items is BATCH_TOO_LARGE, and nothing is stored', async () => {
  const inputs = Array.from({ length: 101 }, (_, n) => ({ eventType: 'batch.big', payload: { n } }));
  const result = await stack.gql(SEND_MANY, { inputs });
  expect(result.errors?.[0]?.extensions?.code).toBe('BATCH_TOO_LARGE');
  expect((await stack.gql(COUNT, { type: 'batch.big' })).data.messages.totalCount).toBe(0);
  // 100 is accepted, in one call.
  const full = await stack.gql(SEND_MANY, { inputs: inputs.slice(0, 100) });
  expect(full.errors).toBeUndefined();
  expect(full.data.sendMessages.filter((i: { message: unknown }) => i.message !== null)).toHaveLength(100);
  expect((await stack.gql(COUNT, { type: 'batch.big' })).data.messages.totalCount).toBe(100);
});
