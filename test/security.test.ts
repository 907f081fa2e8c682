import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { createHttpServer } from '../src/api/http';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../src/config';
import { temporalCliPath } from '../src/dev/tools';
import { deliverMessageWorkflowId, endpointWorkflowId } from '../workflows/definitions';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';

/** `open` allows the loopback test receivers; `guarded` runs the SSRF guard as in production. */
let open: TestStack;
let guarded: TestStack;
const receivers: Receiver[] = [];
beforeAll(async () => {
  [open, guarded] = await Promise.all([
    startStack({ env: { HOOKFLOW_MAX_IN_FLIGHT_PER_ENDPOINT: '2', HOOKFLOW_MAX_REQUEST_BYTES: String(64 * 1024) } }),
    startStack({ env: { HOOKFLOW_ALLOW_HTTP: 'false', HOOKFLOW_ALLOW_PRIVATE_URLS: 'false' } }),
  ]);
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await Promise.all([open?.stop(), guarded?.stop()]);
});
async function receiver(...args: Parameters<typeof startReceiver>) {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}
const codeOf = (result: { errors?: { extensions?: { code?: string } }[] }) => result.errors?.[0]?.extensions?.code;
const CREATE = 'mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } secret } }';
const SEND = 'mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }';

describe('tenants and API keys', () => {
  test('the admin token creates tenants and keys; a revoked key is refused at once; keys are stored hashed', async () => {
    const created = await open.gql('mutation { createTenant(name: "acme") { tenant { id name } apiKey { id key tenantId } } }', {}, open.adminToken);
    expect(created.errors).toBeUndefined();
    const { tenant, apiKey } = created.data.createTenant;
    expect(apiKey.key).toMatch(/^hf_/);
    expect(apiKey.tenantId).toBe(tenant.id);
    expect((await open.gql('{ endpoints { id } }', {}, apiKey.key)).data).toEqual({ endpoints: [] });

    const second = (await open.gql('mutation ($t: ID!) { createApiKey(tenantId: $t) { id key } }', { t: tenant.id }, open.adminToken)).data.createApiKey;
    const revoked = await open.gql('mutation ($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }', { id: apiKey.id }, open.adminToken);
    expect(revoked.data.revokeApiKey.revokedAt).not.toBeNull();
    expect(codeOf(await open.gql('{ endpoints { id } }', {}, apiKey.key))).toBe('UNAUTHENTICATED');
    expect((await open.gql('{ endpoints { id } }', {}, second.key)).data).toEqual({ endpoints: [] });

    const stored = JSON.stringify(await open.mongo.collections.apiKeys.find({ tenantId: tenant.id }).toArray());
    expect(stored).not.toContain(apiKey.key);
    expect(stored).not.toContain(second.key);
  });

  test('the operator CLI creates a tenant whose key the API accepts, and revokes it', async () => {
    const run = async (...args: string[]) =>
      (
        await promisify(execFile)(process.execPath, [path.join(__dirname, '..', 'bin', 'hookflow'), ...args], {
          env: { ...process.env, MONGODB_URI: process.env.TEST_MONGODB_URI, MONGODB_DB: open.mongo.db.databaseName },
        })
      ).stdout;
    const created = JSON.parse(await run('tenants', 'create', 'cli-company'));
    expect(created.apiKey.key).toMatch(/^hf_/);
    expect((await open.gql('{ endpoints { id } }', {}, created.apiKey.key)).data).toEqual({ endpoints: [] });
    expect(JSON.parse(await run('keys', 'list', created.tenant.id))).toEqual([expect.objectContaining({ id: created.apiKey.id, revokedAt: null })]);
    await run('keys', 'revoke', created.apiKey.id);
    expect(codeOf(await open.gql('{ endpoints { id } }', {}, created.apiKey.key))).toBe('UNAUTHENTICATED');
  });

  test('a tenant key cannot manage tenants, and the admin token is no tenant', async () => {
    await open.useNewTenant();
    expect(codeOf(await open.gql('mutation { createTenant(name: "x") { tenant { id } } }'))).toBe('FORBIDDEN');
    expect(codeOf(await open.gql('{ tenants { id } }'))).toBe('FORBIDDEN');
    expect(codeOf(await open.gql('{ maintenanceRuns { id } }'))).toBe('FORBIDDEN');
    expect(codeOf(await open.gql('{ endpoints { id } }', {}, open.adminToken))).toBe('FORBIDDEN');
    const before = await open.mongo.collections.tenants.countDocuments();
    expect(codeOf(await open.gql('mutation { createApiKey(tenantId: "ten_nope") { key } }', {}, open.adminToken))).toBe('NOT_FOUND');
    expect(await open.mongo.collections.tenants.countDocuments()).toBe(before);
  });

  test('tenant B can neither read nor change nor send to tenant A’s endpoints, messages or attempts, and learns nothing of their existence', async () => {
    const a = await open.useNewTenant();
    const r = await receiver();
    const endpointId = (await open.gql(CREATE, { input: { url: r.url, eventTypes: ['shared.type'] } })).data.createEndpoint.endpoint.id;
    const messageId = (await open.gql(SEND, { input: { eventType: 'shared.type', payload: { secret: 'A' } } })).data.sendMessage.id;
    await r.waitFor(1);
    await open.useNewTenant();

    const attempts: [string, Record<string, unknown>][] = [
      ['query ($id: ID!) { endpoint(id: $id) { id } }', { id: endpointId }],
      ['query ($id: ID!) { message(id: $id) { id } }', { id: messageId }],
      ['query ($id: ID!) { attempts(endpointId: $id) { totalCount } }', { id: endpointId }],
      ['query ($id: ID!) { messages(filter: { endpointId: $id }) { totalCount } }', { id: endpointId }],
      ['mutation ($id: ID!) { updateEndpoint(id: $id, input: { description: "mine" }) { id } }', { id: endpointId }],
      ['mutation ($id: ID!) { disableEndpoint(id: $id) { id } }', { id: endpointId }],
      ['mutation ($id: ID!) { reactivateEndpoint(id: $id) { id } }', { id: endpointId }],
      ['mutation ($id: ID!) { deleteEndpoint(id: $id) { id } }', { id: endpointId }],
      ['mutation ($id: ID!) { rotateEndpointSecret(id: $id) { secret } }', { id: endpointId }],
      ['mutation ($m: ID!, $e: ID!) { resendMessage(messageId: $m, endpointId: $e) { status } }', { m: messageId, e: endpointId }],
      ['mutation ($id: ID!) { recoverEndpoint(id: $id, since: "2020-01-01T00:00:00Z") { enqueued } }', { id: endpointId }],
    ];
    for (const [query, variables] of attempts) {
      const theirs = await open.gql(query, variables);
      const missing = await open.gql(query, Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, String(v).replace(/.$/, '0')])));
      expect(codeOf(theirs)).toBe('NOT_FOUND');
      // The same answer as for an id that does not exist, but for the id itself.
      expect(theirs.errors![0]!.message.replace(/"[^"]+"/g, '"…"')).toBe(missing.errors![0]!.message.replace(/"[^"]+"/g, '"…"'));
    }
    expect((await open.gql('{ endpoints { id } }')).data.endpoints).toEqual([]);
    expect((await open.gql('{ messages { totalCount } }')).data.messages.totalCount).toBe(0);

    await open.gql(SEND, { input: { eventType: 'shared.type', payload: { from: 'B' } } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(r.requests).toHaveLength(1);
    const endpoint = await open.mongo.collections.endpoints.findOne({ _id: endpointId });
    expect(endpoint).toMatchObject({ tenantId: a.tenantId, status: 'ACTIVE', deletedAt: null, description: null });
  });
});

describe('the SSRF guard', () => {
  test.each([
    ['plain http', 'http://example.com/hook', 'INVALID_URL', /must use https/],
    ['user info', 'https://user:pw@example.com/hook', 'INVALID_URL', /user name or password/],
    ['IPv4 loopback', 'https://127.0.0.1/hook', 'URL_NOT_ALLOWED', /loopback/],
    ['localhost', 'https://localhost/hook', 'URL_NOT_ALLOWED', /names this machine/],
    ['a sub-domain of localhost', 'https://api.localhost./hook', 'URL_NOT_ALLOWED', /names this machine/],
    ['10/8', 'https://10.1.2.3/hook', 'URL_NOT_ALLOWED', /private/],
    ['172.16/12', 'https://172.16.0.9/hook', 'URL_NOT_ALLOWED', /private/],
    ['192.168/16', 'https://192.168.1.1/hook', 'URL_NOT_ALLOWED', /private/],
    ['cloud metadata', 'https://169.254.169.254/latest/meta-data/', 'URL_NOT_ALLOWED', /linkLocal/],
    ['carrier-grade NAT', 'https://100.64.0.1/hook', 'URL_NOT_ALLOWED', /carrierGradeNat/],
    ['unspecified', 'https://0.0.0.0/hook', 'URL_NOT_ALLOWED', /unspecified/],
    ['IPv6 loopback', 'https://[::1]/hook', 'URL_NOT_ALLOWED', /loopback/],
    ['IPv6 unique-local (AWS metadata)', 'https://[fd00:ec2::254]/hook', 'URL_NOT_ALLOWED', /uniqueLocal/],
    ['IPv6 link-local', 'https://[fe80::1]/hook', 'URL_NOT_ALLOWED', /linkLocal/],
    ['IPv4-mapped IPv6', 'https://[::ffff:127.0.0.1]/hook', 'URL_NOT_ALLOWED', /loopback/],
    ['IPv4-mapped IPv6, private', 'https://[::ffff:10.0.0.1]/hook', 'URL_NOT_ALLOWED', /private/],
    ['decimal IPv4', 'https://2130706433/hook', 'URL_NOT_ALLOWED', /loopback/],
    ['octal IPv4', 'https://0177.0.0.1/hook', 'URL_NOT_ALLOWED', /loopback/],
    ['hex IPv4', 'https://0x7f.0.0.1/hook', 'URL_NOT_ALLOWED', /loopback/],
  ])('refuses %s at registration, storing nothing', async (_, url, code, message) => {
    await guarded.useNewTenant();
    const result = await guarded.gql(CREATE, { input: { url } });
    expect(codeOf(result)).toBe(code);
    expect(result.errors![0]!.message).toMatch(message);
    expect((await guarded.gql('{ endpoints { id } }')).data.endpoints).toEqual([]);
  });

  test('accepts public https URLs', async () => {
    await guarded.useNewTenant();
    for (const url of ['https://8.8.8.8/hook', 'https://hooks.example.com/in', 'https://[2606:4700:4700::1111]/x']) {
      expect((await guarded.gql(CREATE, { input: { url } })).errors).toBeUndefined();
    }
  });

  test('at delivery the resolved address is checked again: a name or address that now points inside is refused, and nothing is sent', async () => {
    const { tenantId } = await guarded.useNewTenant();
    const r = await receiver();
    // As if DNS had changed after registration: write the endpoints directly, past the registration check.
    const id = (
      await guarded.services.endpoints.create(tenantId, {
        url: 'https://hooks.example.com/in',
        eventTypes: ['rebind.test'],
        retryPolicy: { maxRetries: 0, retriesUntilFailure: 0 },
      })
    ).endpoint._id;
    const id2 = (
      await guarded.services.endpoints.create(tenantId, {
        url: 'https://8.8.8.8/in',
        eventTypes: ['rebind.test'],
        retryPolicy: { maxRetries: 0, retriesUntilFailure: 0 },
      })
    ).endpoint._id;
    await guarded.mongo.collections.endpoints.updateOne({ _id: id }, { $set: { url: `http://localhost:${r.port}/webhook` } });
    await guarded.mongo.collections.endpoints.updateOne({ _id: id2 }, { $set: { url: `http://127.0.0.1:${r.port}/webhook` } });
    const messageId = (await guarded.gql(SEND, { input: { eventType: 'rebind.test', payload: {} } })).data.sendMessage.id;
    const attempts = await eventually(
      async () => {
        const rows = await guarded.mongo.collections.attempts.find({ messageId }).toArray();
        return rows.length === 2 ? rows : undefined;
      },
      15_000,
      'two attempts',
    );
    for (const attempt of attempts) {
      expect(attempt.succeeded).toBe(false);
      expect(attempt.error).toMatch(/^blocked by the SSRF guard: .*loopback/);
    }
    expect(r.requests).toHaveLength(0);
  });

  test('redirects are not followed: a 3xx is a failed attempt and its target gets nothing', async () => {
    await open.useNewTenant();
    const target = await receiver();
    const redirecting = await receiver(answer(302, '', { location: target.url }));
    expect((await open.gql(CREATE, { input: { url: redirecting.url, retryPolicy: { maxRetries: 0, retriesUntilFailure: 0 } } })).errors).toBeUndefined();
    const messageId = (await open.gql(SEND, { input: { eventType: 'a.b', payload: {} } })).data.sendMessage.id;
    await redirecting.waitFor(1);
    const attempt = await eventually(async () => (await open.mongo.collections.attempts.findOne({ messageId })) ?? undefined, 10_000, 'attempt');
    expect(attempt).toMatchObject({ statusCode: 302, succeeded: false, error: 'HTTP 302' });
    expect(target.requests).toHaveLength(0);
  });
});

describe('limits', () => {
  test('a request body over HOOKFLOW_MAX_REQUEST_BYTES is refused with 413 before it is read, and one without a length with 411', async () => {
    await open.useNewTenant();
    const body = JSON.stringify({ query: SEND, variables: { input: { eventType: 'a.b', payload: { blob: 'x'.repeat(100 * 1024) } } } });
    const response = await fetch(open.api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${open.apiKey}` },
      body,
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as any).errors[0].extensions.code).toBe('REQUEST_TOO_LARGE');
    const chunked = await fetch(open.api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${open.apiKey}` },
      body: new Blob([body.slice(0, 100)]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(411);
    expect((await open.gql('{ messages { totalCount } }')).data.messages.totalCount).toBe(0);
  });

  // The depth limit (8) is above the schema's deepest path today (it has no cycles), so it is not tried here.
  test('query size, aliases and batches are bounded', async () => {
    const long = `{ ${Array.from({ length: 700 }, () => 'endpoints { id url }').join(' ')} }`;
    expect((await open.gql(long)).errors![0]!.message).toMatch(/token/i);
    const aliases = `{ ${Array.from({ length: 12 }, (_, i) => `a${i}: endpoints { id }`).join(' ')} }`;
    expect((await open.gql(aliases)).errors![0]!.message).toMatch(/alias/i);
    const batch = Array.from({ length: 6 }, () => ({ query: '{ endpoints { id } }' }));
    const response = await fetch(open.api.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${open.apiKey}` },
      body: JSON.stringify(batch),
    });
    const result = (await response.json()) as any;
    expect(JSON.stringify(result)).toMatch(/[Bb]atch/);
    expect(Array.isArray(result) && result.every((r: any) => r.data)).toBe(false);
  });

  test('a huge response body is cut at HOOKFLOW_RESPONSE_BODY_LIMIT and not read further', async () => {
    await open.useNewTenant();
    const r = await receiver(answer(202, 'y'.repeat(5 * 1024 * 1024)));
    await open.gql(CREATE, { input: { url: r.url } });
    const messageId = (await open.gql(SEND, { input: { eventType: 'a.b', payload: {} } })).data.sendMessage.id;
    const attempt = await eventually(async () => (await open.mongo.collections.attempts.findOne({ messageId })) ?? undefined, 10_000, 'attempt');
    expect(attempt.succeeded).toBe(true);
    expect(attempt.responseBody).toHaveLength(4096);
  });

  test('one worker keeps at most HOOKFLOW_MAX_IN_FLIGHT_PER_ENDPOINT requests in flight to an endpoint', async () => {
    await open.useNewTenant();
    let current = 0;
    let peak = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const r = await receiver(async (_req, _i, res) => {
      current += 1;
      peak = Math.max(peak, current);
      await held;
      current -= 1;
      res.writeHead(202).end();
    });
    await open.gql(CREATE, { input: { url: r.url } });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await open.gql(SEND, { input: { eventType: 'a.b', payload: { i } } })).data.sendMessage.id);
    await r.waitFor(2);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(current).toBe(2);
    release();
    await r.waitFor(6, 20_000);
    expect(peak).toBe(2);
    await eventually(
      async () => (await open.mongo.collections.deliveries.countDocuments({ messageId: { $in: ids }, status: 'SUCCEEDED' })) === 6 || undefined,
      20_000,
      'all delivered',
    );
    // Throttling is not an attempt: each message was posted exactly once.
    expect(await open.mongo.collections.attempts.countDocuments({ messageId: { $in: ids } })).toBe(6);
  });
});

describe('secrets', () => {
  test('rotation signs with both secrets during the overlap; secrets are encrypted at rest and absent from every workflow history', async () => {
    await open.useNewTenant();
    const r = await receiver();
    const created = (await open.gql(CREATE, { input: { url: r.url } })).data.createEndpoint;
    const endpointId = created.endpoint.id;
    const oldSecret: string = created.secret;
    const rotated = (await open.gql('mutation ($id: ID!) { rotateEndpointSecret(id: $id) { secret previousSecretExpiresAt } }', { id: endpointId })).data
      .rotateEndpointSecret;
    const newSecret: string = rotated.secret;
    expect(newSecret).not.toBe(oldSecret);
    expect(Date.parse(rotated.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);

    const messageId = (await open.gql(SEND, { input: { eventType: 'a.b', payload: { n: 1 } } })).data.sendMessage.id;
    await r.waitFor(1);
    const request = r.requests[0]!;
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(request.headers[h])]));
    for (const secret of [oldSecret, newSecret]) expect(() => new Webhook(secret).verify(request.body, headers)).not.toThrow();

    const stored = JSON.stringify(await open.mongo.collections.endpoints.findOne({ _id: endpointId }));
    for (const secret of [oldSecret, newSecret]) {
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice(6));
    }
    await open.temporal.workflow.getHandle(deliverMessageWorkflowId(messageId)).result();
    const cli = temporalCliPath(loadConfig().HOOKFLOW_CACHE_DIR);
    for (const workflowId of [deliverMessageWorkflowId(messageId), endpointWorkflowId(endpointId)]) {
      const history = execFileSync(cli, [
        'workflow',
        'show',
        '--workflow-id',
        workflowId,
        '--output',
        'json',
        '--address',
        process.env.TEST_TEMPORAL_ADDRESS!,
      ]).toString();
      // Payloads are base64 JSON: decode every one before looking.
      const decoded = [...history.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8')).join('\n');
      expect(decoded.length).toBeGreaterThan(0);
      for (const secret of [oldSecret, newSecret]) {
        expect(history).not.toContain(secret.slice(6));
        expect(decoded).not.toContain(secret.slice(6));
      }
    }
  });
});

describe('logs', () => {
  test('every request is logged with its request id, and credentials are redacted', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const server = createHttpServer((_req, res) => res.end('ok'), log, 1024);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const given = await fetch(`http://127.0.0.1:${port}/graphql`, { headers: { authorization: 'Bearer hf_very_secret_key', 'x-request-id': 'req-given-1' } });
      expect(given.headers.get('x-request-id')).toBe('req-given-1');
      const made = await fetch(`http://127.0.0.1:${port}/graphql`, { headers: { cookie: 'session=abc123' } });
      expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      await eventually(async () => (lines.length >= 2 ? true : undefined), 5_000, 'two log lines');
      const all = lines.join('\n');
      expect(all).toContain('req-given-1');
      expect(all).toContain(made.headers.get('x-request-id')!);
      expect(all).not.toContain('hf_very_secret_key');
      expect(all).not.toContain('abc123');
      expect(JSON.parse(lines[0]!).req.headers.authorization).toBe('[redacted]');
    } finally {
      server.close();
    }
  });
});
