/**
 * Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; set, spans go to that collector over
 * OTLP/HTTP. The collector here is a real HTTP server on 127.0.0.1 that records what it is sent.
 */
import { context, trace } from '@opentelemetry/api';
import { startTracing, withTraceContext } from '../src/observability/tracing';
import { answer, startReceiver, type Receiver } from './helpers/receiver';

const quiet = { info: () => undefined };
let collector: Receiver;

beforeAll(async () => {
  collector = await startReceiver(answer(200, '{}', { 'content-type': 'application/json' }));
});
afterAll(async () => {
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  await collector?.close();
});

test('without OTEL_EXPORTER_OTLP_ENDPOINT nothing is installed and no trace header is added', () => {
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracing = startTracing('hookflow-test', quiet);
  expect(tracing).toMatchObject({ enabled: false, workerOptions: {} });
  expect(tracing.clientInterceptors).toBeUndefined();
  expect(withTraceContext({ 'message-id': 'm' })).toEqual({ 'message-id': 'm' });
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT, spans are exported to the collector over OTLP/HTTP', async () => {
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${collector.port}`;
  const tracing = startTracing('hookflow-otlp-test', quiet);
  expect(tracing.enabled).toBe(true);
  const span = trace.getTracer('test').startSpan('otlp-export-check');
  const headers = context.with(trace.setSpan(context.active(), span), () => withTraceContext({}));
  expect(headers.traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
  span.end();
  await tracing.shutdown(); // flushes the batch
  const exported = collector.requests.filter((r) => r.path === '/v1/traces');
  expect(exported.length).toBeGreaterThanOrEqual(1);
  const body = exported.map((r) => r.body).join('\n');
  expect(body).toContain('otlp-export-check');
  expect(body).toContain('hookflow-otlp-test');
});
