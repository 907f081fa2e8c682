/**
 * A trace runs from the sendMessage request through the workflow to the attempt, whose POST carries a
 * W3C traceparent: the receiver's trace id and parent span are spans the (in-memory) exporter got.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { loadConfig } from '../src/config';
import { startTracing, type Tracing } from '../src/observability/tracing';
import { loadWorkflowBundle } from '../src/workflow-bundle';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let stack: TestStack;
let receiver: Receiver;
let dir: string;

beforeAll(async () => {
  const { HOOKFLOW_CACHE_DIR } = loadConfig({ ...process.env, MONGODB_URI: undefined, TEMPORAL_ADDRESS: undefined });
  const quiet = { info: () => undefined, warn: () => undefined };
  // The traced workflow bundle carries Temporal's OpenTelemetry workflow interceptors (built once, then cached).
  const bundle = await loadWorkflowBundle(HOOKFLOW_CACHE_DIR, quiet, { tracing: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'hookflow-tracing-'));
  const workflowBundlePath = path.join(dir, 'traced-bundle.js');
  writeFileSync(workflowBundlePath, bundle.code);
  tracing = startTracing('hookflow-test', quiet, { spanProcessor: new SimpleSpanProcessor(exporter) });
  stack = await startStack({ tracing: { tracing, workflowBundlePath } });
  receiver = await startReceiver(answer(200, 'ok'));
}, 120_000);
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
  await tracing?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

test('the receiver gets a traceparent whose trace holds the API request, the workflow and the attempt', async () => {
  const created = await stack.gql(`mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }`, {
    input: { url: receiver.url, eventTypes: ['trace.test'] },
  });
  expect(created.errors).toBeUndefined();
  exporter.reset();
  const sent = await stack.gql(`mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }`, {
    input: { eventType: 'trace.test', payload: { n: 1 } },
  });
  expect(sent.errors).toBeUndefined();
  await receiver.waitFor(1);

  const traceparent = receiver.requests[0]!.headers.traceparent as string;
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(traceparent);
  expect(match).not.toBeNull();
  const [, traceId, parentSpanId] = match!;

  const spans = await eventually(
    async () => {
      const finished = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      const names = finished.map((s) => s.name);
      return names.some((n) => n.startsWith('RunWorkflow:deliverMessage')) && names.some((n) => n.startsWith('RunActivity:attemptDelivery'))
        ? finished
        : undefined;
    },
    20_000,
    'the workflow and activity spans to be exported',
  );

  // The POST's parent is the attempt's activity span.
  const parent = spans.find((s) => s.spanContext().spanId === parentSpanId);
  expect(parent?.name).toBe('RunActivity:attemptDelivery');
  // The same trace began with the API request that sent the message, and went through the workflow start.
  const names = spans.map((s) => s.name);
  expect(names).toEqual(expect.arrayContaining(['POST /graphql', 'StartWorkflow:deliverMessage', 'RunWorkflow:deliverMessage', 'RunActivity:attemptDelivery']));
  const root = spans.find((s) => s.name === 'POST /graphql')!;
  expect(root.parentSpanId).toBeUndefined();
});

test("a caller's traceparent is joined: the request's span is its child", async () => {
  const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  exporter.reset();
  const response = await fetch(stack.api.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}`, traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` },
    body: JSON.stringify({ query: '{ endpoints { id } }' }),
  });
  expect(response.status).toBe(200);
  expect(((await response.json()) as { errors?: unknown }).errors).toBeUndefined();
  const span = await eventually(async () => exporter.getFinishedSpans().find((s) => s.name === 'POST /graphql'));
  expect(span.spanContext().traceId).toBe(callerTrace);
  expect(span.parentSpanId).toBe('00f067aa0ba902b7');
});
