/**
 * Connecting to a Temporal that requires TLS, or mTLS, loaded as Temporal's own tools load it
 * (@temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_TLS_*). The test puts a TLS-terminating proxy
 * with certificates it generates in front of the run's dev server; a message is delivered end to end
 * through it by the API's client and the worker's native connection.
 */
import { Writable } from 'node:stream';
import { rmSync } from 'node:fs';
import pino from 'pino';
import { connectClient, connectWorker, ensureSearchAttributes, loadTemporalTarget, type TemporalTarget } from '../src/temporal';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { generatePki, startTlsProxy, type TestPki } from './helpers/tls';

let pki: TestPki;
const devServerPort = () => Number(process.env.TEST_TEMPORAL_ADDRESS!.split(':').pop());
/** Only the variables under test: neither this machine's ~/.config/temporalio nor its TEMPORAL_* leak in. */
const env = (vars: Record<string, string>) => ({ HOME: pki.dir, ...vars });

const cleanup: (() => Promise<void>)[] = [];
beforeAll(() => {
  pki = generatePki();
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
  rmSync(pki.dir, { recursive: true, force: true });
});

async function deliverOneThrough(stack: TestStack): Promise<void> {
  const receiver: Receiver = await startReceiver(answer(200, 'ok'));
  cleanup.push(() => receiver.close());
  const created = await stack.gql(`mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }`, {
    input: { url: receiver.url, eventTypes: ['tls.test'] },
  });
  expect(created.errors).toBeUndefined();
  const sent = await stack.gql(`mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }`, {
    input: { eventType: 'tls.test', payload: { ok: true } },
  });
  expect(sent.errors).toBeUndefined();
  await receiver.waitFor(1);
  expect(JSON.parse(receiver.requests[0]!.body).id).toBe(sent.data.sendMessage.id);
}

test('envconfig loads address, namespace, API key and TLS from the environment; an API key turns TLS on', () => {
  expect(loadTemporalTarget('127.0.0.1:7233', env({}))).toEqual({ address: '127.0.0.1:7233', namespace: 'default' });
  const cloud = loadTemporalTarget('unused:1', env({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'key-1' }));
  expect(cloud).toEqual({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', apiKey: 'key-1', tls: true });
  const mtls = loadTemporalTarget(
    'unused:1',
    env({
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: pki.paths.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: pki.paths.clientKey,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.paths.caCert,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    }),
  );
  expect(mtls.tls).toMatchObject({ serverNameOverride: 'localhost', clientCertPair: { crt: Buffer.from(pki.client.cert), key: Buffer.from(pki.client.key) } });
});

test('TLS: the API and the worker deliver through a TLS-only proxy, trusting the CA named by TEMPORAL_TLS_SERVER_CA_CERT_PATH', async () => {
  const proxy = await startTlsProxy({ pki, target: devServerPort(), requireClientCert: false });
  cleanup.push(() => proxy.close());
  const target = loadTemporalTarget(
    'unused:1',
    env({
      TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.paths.caCert,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    }),
  );
  const stack = await startStack({ temporal: target });
  cleanup.push(() => stack.stop());
  await deliverOneThrough(stack);
  // Both the client (grpc-js) and the worker (the Rust core) came through the proxy.
  expect(proxy.peers.length).toBeGreaterThanOrEqual(2);

  // A worker that does not trust the CA is refused, and says why.
  await expect(connectWorker({ address: target.address, namespace: 'default', tls: true }, 1_000)).rejects.toThrow(
    new RegExp(`cannot reach Temporal at 127\\.0\\.0\\.1:${proxy.port} \\(TLS, no client certificate\\): .*certificate`, 'i'),
  );
});

test('mTLS: a worker with a client certificate gets through; one without is refused, and the error names the cause', async () => {
  const proxy = await startTlsProxy({ pki, target: devServerPort(), requireClientCert: true });
  cleanup.push(() => proxy.close());
  const base = { TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`, TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.paths.caCert, TEMPORAL_TLS_SERVER_NAME: 'localhost' };
  const withCert: TemporalTarget = loadTemporalTarget(
    'unused:1',
    env({ ...base, TEMPORAL_TLS_CLIENT_CERT_PATH: pki.paths.clientCert, TEMPORAL_TLS_CLIENT_KEY_PATH: pki.paths.clientKey }),
  );
  const stack = await startStack({ temporal: withCert });
  cleanup.push(() => stack.stop());
  await deliverOneThrough(stack);
  expect(proxy.peers).toContain('hookflow-worker');
  expect(proxy.peers).not.toContain('(no client certificate)');

  const withoutCert = loadTemporalTarget('unused:1', env(base));
  const refusedBefore = proxy.refused.length;
  const error: Error = await connectWorker(withoutCert, 2_000).then(
    () => new Error('connected without a client certificate'),
    (e: Error) => e,
  );
  expect(error.message).toMatch(new RegExp(`^cannot reach Temporal at 127\\.0\\.0\\.1:${proxy.port} \\(TLS, no client certificate\\): `));
  expect(error.message).toMatch(/certificate/i);
  expect(proxy.refused.length).toBeGreaterThan(refusedBefore);
  expect(proxy.refused.join('\n')).toMatch(/certificate/i);

  // And readiness names Temporal when the proxy goes away.
  await proxy.close();
  const down = await eventually(
    async () => {
      const response = await fetch(`${stack.opsUrl}/readyz`);
      return response.status === 503 ? ((await response.json()) as any) : undefined;
    },
    15_000,
    '/readyz to turn 503',
  );
  expect(down.checks.temporal.ok).toBe(false);
  expect(down.checks.mongodb.ok).toBe(true);
});

test('a namespace that refuses search attribute registration is logged with what to create, and start-up goes on', async () => {
  const lines: any[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (chunk, _, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
  const client = await connectClient({ address: process.env.TEST_TEMPORAL_ADDRESS!, namespace: 'default' });
  cleanup.push(() => client.connection.close());
  // A namespace the server does not have refuses, as Temporal Cloud's does (there the control plane registers them).
  await expect(ensureSearchAttributes(client, 'no-such-namespace', log)).resolves.toBeUndefined();
  const warning = lines.find((l) => l.level === 40);
  expect(warning?.msg).toMatch(/could not check or register the search attributes of namespace "no-such-namespace"/);
  expect(warning?.msg).toMatch(/tcld namespace search-attributes add/);
  expect(warning?.msg).toMatch(/HookflowTenantId \(KEYWORD\)/);
});
