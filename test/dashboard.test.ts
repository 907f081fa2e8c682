/**
 * Every metric the Grafana dashboard queries exists on a real /metrics: Hookflow's own (the worker's
 * ops port) and the Temporal SDK's exporter. Names are taken from the PromQL by Prometheus's own parser
 * (lezer-promql), and the scrapes are parsed as Prometheus text.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { freePort } from '../src/dev/servers';
import { sdkPrometheusMetrics } from '../src/observability/sdk-metrics';
import { answer, startReceiver, type Receiver } from './helpers/receiver';
import { eventually, startStack, type TestStack } from './helpers/stack';
import { Scrape } from './helpers/prometheus';

const dashboard = JSON.parse(readFileSync(path.join(__dirname, '..', 'deploy', 'grafana', 'dashboards', 'hookflow.json'), 'utf8'));
let stack: TestStack;
let receiver: Receiver;
let sdkMetricsUrl: string;

beforeAll(async () => {
  const port = await freePort();
  sdkMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  stack = await startStack({ runtime: { telemetryOptions: { metrics: sdkPrometheusMetrics(`127.0.0.1:${port}`) } } });
  receiver = await startReceiver((request, index, res) => (index === 0 ? answer(500, 'once') : answer(200, 'ok'))(request, index, res));
});
afterAll(async () => {
  await receiver?.close();
  await stack?.stop();
});

/** The metric names of the vector selectors in one PromQL expression. */
function metricNames(expr: string): string[] {
  // Grafana's interval variables are not PromQL; any duration parses the same.
  const promql = expr.replace(/\$__(rate_)?interval|\$__range/g, '5m');
  const tree = parser.parse(promql);
  const names: string[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) throw new Error(`PromQL does not parse at ${cursor.from}: ${promql}`);
    if (cursor.name === 'VectorSelector') {
      const identifier = cursor.node.getChild('Identifier');
      if (identifier) names.push(promql.slice(identifier.from, identifier.to));
    }
  } while (cursor.next());
  return names;
}

/** Series names a scrape offers: each family, and a histogram's _bucket, _sum and _count. */
function seriesNames(scrape: Scrape): Set<string> {
  const names = new Set<string>();
  for (const family of scrape.families) {
    names.add(family.name);
    if (family.type === 'HISTOGRAM' || family.type === 'SUMMARY') for (const suffix of ['_bucket', '_sum', '_count']) names.add(family.name + suffix);
  }
  return names;
}

test('the dashboard has the panels the issue asks for', () => {
  const titles: string[] = dashboard.panels.map((p: any) => p.title);
  for (const wanted of [/by result/, /latency/i, /Endpoints by status/, /Lifecycle events/, /task slots/])
    expect(titles.some((t) => wanted.test(t))).toBe(true);
  expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="b"}[5m]))) / y')).toEqual(['x_bucket', 'y']);
});

test('every metric the dashboard queries is on /metrics (Hookflow) or on the Temporal SDK exporter', async () => {
  // One delivery that fails once: its first try runs as a local activity and its retry as an ordinary
  // one, so that the SDK reports the metrics of both, and of workflow tasks.
  await stack.useNewTenant();
  const retryPolicy = { maxRetries: 3, retriesUntilFailure: 3, initialIntervalMs: 20, backoffCoefficient: 1, maxIntervalMs: 50, jitter: 0 };
  await stack.gql(`mutation ($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }`, {
    input: { url: receiver.url, eventTypes: ['dash.test'], retryPolicy },
  });
  await stack.gql(`mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }`, { input: { eventType: 'dash.test', payload: {} } });
  await receiver.waitFor(2);

  const queried = new Set<string>(dashboard.panels.flatMap((p: any) => p.targets.flatMap((t: any) => metricNames(t.expr))));
  expect(queried.size).toBeGreaterThanOrEqual(10);
  const missing = await eventually(
    async () => {
      const available = new Set([...seriesNames(await Scrape.of(`${stack.opsUrl}/metrics`)), ...seriesNames(await Scrape.of(sdkMetricsUrl))]);
      const absent = [...queried].filter((name) => !available.has(name));
      return absent.length === 0 ? absent : undefined;
    },
    20_000,
    `every queried metric (${[...queried].join(', ')}) to be served`,
  ).catch(async (error) => {
    const sdk = (await Scrape.of(sdkMetricsUrl)).families.map((f) => f.name);
    throw new Error(`${(error as Error).message}\nSDK exporter serves: ${sdk.join(', ')}`);
  });
  expect(missing).toEqual([]);
});
