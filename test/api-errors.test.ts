import { startStack, type TestStack } from './helpers/stack';

const CREATE_ENDPOINT = `mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }`;

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
beforeEach(async () => {
  await stack.useNewTenant();
});
afterAll(async () => {
  await stack?.stop();
});

const codeOf = (result: { errors?: { extensions?: { code?: string } }[] }) => result.errors?.[0]?.extensions?.code;

describe('authentication', () => {
  test.each([
    ['no Authorization header', null],
    ['an unknown key', 'hf_not-a-real-key-0000000000'],
  ])('a request with %s is refused with UNAUTHENTICATED and changes nothing', async (_, key) => {
    const before = await stack.mongo.collections.endpoints.countDocuments();
    const response = await fetch(stack.api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query: CREATE_ENDPOINT, variables: { input: { url: 'http://127.0.0.1:1/x' } } }),
    });
    expect(response.status).toBe(401);
    const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[]; data?: unknown };
    expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    expect(body.errors[0]!.message).toMatch(/API key/);
    expect(body.data ?? null).toBeNull();
    expect(await stack.mongo.collections.endpoints.countDocuments()).toBe(before);
  });

  test('one tenant cannot read another tenant’s endpoint or message: it is NOT_FOUND, as if it did not exist', async () => {
    const created = await stack.gql(CREATE_ENDPOINT, { input: { url: 'http://127.0.0.1:9/a' } });
    const sent = await stack.gql(SEND, { input: { eventType: 'a.b', payload: {} } });
    const endpointId = created.data.createEndpoint.endpoint.id;
    const messageId = sent.data.sendMessage.id;
    await stack.useNewTenant();
    for (const [query, id] of [
      ['query ($id: ID!) { endpoint(id: $id) { id } }', endpointId],
      ['query ($id: ID!) { message(id: $id) { id } }', messageId],
    ]) {
      const result = await stack.gql(query!, { id });
      expect(codeOf(result)).toBe('NOT_FOUND');
      expect(result.errors![0]!.message).toBe(`${query!.includes('endpoint') ? 'endpoint' : 'message'} "${id}" not found`);
    }
    expect((await stack.gql('{ endpoints { id } }')).data.endpoints).toEqual([]);
  });
});

describe('bad input gets a stable code, a message a person can act on, and stores nothing', () => {
  test.each([
    ['a URL that is not absolute', { url: 'example.com/hook' }, 'INVALID_URL', /absolute URL/],
    ['a URL with another scheme', { url: 'ftp://example.com/hook' }, 'INVALID_URL', /http or https/],
    ['a URL with credentials', { url: 'https://user:pw@example.com/hook' }, 'INVALID_URL', /user name or password/],
    ['an event type with spaces', { url: 'https://example.com/h', eventTypes: ['order created'] }, 'INVALID_EVENT_TYPE', /dot-separated/],
    [
      'retriesUntilFailure above maxRetries',
      { url: 'https://example.com/h', retryPolicy: { retriesUntilFailure: 5, maxRetries: 2 } },
      'INVALID_RETRY_POLICY',
      /must not exceed maxRetries/,
    ],
    ['a zero initial interval', { url: 'https://example.com/h', retryPolicy: { initialIntervalMs: 0 } }, 'INVALID_RETRY_POLICY', /initialIntervalMs/],
    ['an email that is not one', { url: 'https://example.com/h', notifyEmails: ['ops-at-example'] }, 'INVALID_CONTACT', /email/],
    ['a phone not in E.164', { url: 'https://example.com/h', notifyPhones: ['0612345678'] }, 'INVALID_CONTACT', /E\.164/],
  ])('createEndpoint with %s', async (_, input, code, message) => {
    const result = await stack.gql(CREATE_ENDPOINT, { input });
    expect(codeOf(result)).toBe(code);
    expect(result.errors![0]!.message).toMatch(message);
    expect(result.data).toBeNull();
    expect((await stack.gql('{ endpoints { id } }')).data.endpoints).toEqual([]);
  });

  test.each([
    ['an unknown event-type format', { eventType: 'order created!', payload: {} }, 'INVALID_EVENT_TYPE', /dot-separated/],
    ['a payload that is JSON text, not JSON', { eventType: 'a.b', payload: '{"orderId":1}' }, 'INVALID_PAYLOAD', /not its JSON text/],
    ['a payload that is a number', { eventType: 'a.b', payload: 42 }, 'INVALID_PAYLOAD', /JSON object, got a number/],
    ['a payload over 256 KiB', { eventType: 'a.b', payload: { blob: 'x'.repeat(256 * 1024) } }, 'PAYLOAD_TOO_LARGE', /limit is 262144 bytes/],
    ['an empty idempotency key', { eventType: 'a.b', payload: {}, idempotencyKey: '' }, 'INVALID_INPUT', /idempotencyKey/],
  ])('sendMessage with %s', async (_, input, code, message) => {
    const before = await stack.mongo.collections.messages.countDocuments();
    const result = await stack.gql(SEND, { input });
    expect(codeOf(result)).toBe(code);
    expect(result.errors![0]!.message).toMatch(message);
    expect(await stack.mongo.collections.messages.countDocuments()).toBe(before);
  });

  test('an unknown id is NOT_FOUND', async () => {
    for (const query of ['query { endpoint(id: "ep_nope") { id } }', 'query { message(id: "msg_nope") { id } }']) {
      const result = await stack.gql(query);
      expect(codeOf(result)).toBe('NOT_FOUND');
    }
  });

  test('a malformed occurredAt is refused by the DateTime scalar before anything runs', async () => {
    const result = await stack.gql(SEND, { input: { eventType: 'a.b', payload: {}, occurredAt: 'yesterday' } });
    expect(result.errors![0]!.message).toMatch(/DateTime/);
    expect(result.data).toBeUndefined();
  });
});
