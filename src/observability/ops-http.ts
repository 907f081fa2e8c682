/**
 * The operations endpoints, without an API key: `GET /metrics` (Prometheus text format), `GET /healthz`
 * (the process is alive) and `GET /readyz` (Temporal and MongoDB answer). The API serves them on its own
 * port, in front of GraphQL; the worker on a small server of its own (HOOKFLOW_METRICS_PORT).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Readiness } from './readiness';
import { registry } from './metrics';

export interface OpsOptions {
  readiness: Readiness;
}

const OPS_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

/** Answers an operations request and returns true, or returns false for any other request. */
export function handleOpsRequest(req: IncomingMessage, res: ServerResponse, options: OpsOptions): boolean {
  const path = (req.url ?? '/').split('?')[0]!;
  if (!OPS_PATHS.has(path) || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  void answer(path, res, options).catch((error: Error) => {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`error: ${error.message}\n`);
  });
  return true;
}

async function answer(path: string, res: ServerResponse, options: OpsOptions): Promise<void> {
  if (path === '/metrics') {
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(text);
    return;
  }
  if (path === '/healthz') {
    json(res, 200, { status: 'ok' });
    return;
  }
  const report = await options.readiness.check();
  json(res, report.ready ? 200 : 503, report);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

/** The worker's operations server: /metrics, /healthz and /readyz, and 404 for anything else. */
export async function startOpsServer(args: { host: string; port: number } & OpsOptions): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (handleOpsRequest(req, res, args)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: this port serves /metrics, /healthz and /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(args.port, args.host, resolve);
  });
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }).then(() => args.readiness.close()),
  };
}
