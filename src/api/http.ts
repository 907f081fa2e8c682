import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import pinoHttp from 'pino-http';
import type { Logger } from 'pino';
import { handleOpsRequest, type OpsOptions } from '../observability/ops-http';
import { traceHttpRequest } from '../observability/tracing';

/**
 * The HTTP server in front of the GraphQL handler: a request id on every request and log line
 * (`x-request-id`, taken from the caller if it sends one), credentials redacted from the logs, and
 * bodies over the limit refused before they are read.
 */
export function createHttpServer(
  handler: (req: IncomingMessage & { log?: Logger }, res: ServerResponse) => void,
  log: Logger,
  maxRequestBytes: number,
  /** /metrics, /healthz and /readyz, answered before logging and GraphQL: scrapes and probes are frequent. */
  ops?: OpsOptions,
): Server {
  const httpLog = pinoHttp({
    logger: log,
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : 'info'),
  });
  const refuse = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
  };

  const server = createServer((req, res) => {
    if (ops && handleOpsRequest(req, res, ops)) return;
    httpLog(req, res);
    if (req.method === 'POST') {
      const length = Number(req.headers['content-length']);
      if (req.headers['content-length'] === undefined) {
        return refuse(res, 411, 'LENGTH_REQUIRED', 'send a Content-Length header with the request body');
      }
      if (!Number.isFinite(length) || length > maxRequestBytes) {
        return refuse(res, 413, 'REQUEST_TOO_LARGE', `the request body is ${req.headers['content-length']} bytes; the limit is ${maxRequestBytes}`);
      }
    }
    traceHttpRequest(req, res, () => handler(req, res));
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return server;
}
