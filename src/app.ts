import type { Server } from 'node:http';
import { createHttpServer } from './api/http';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { createApi } from './api/server';
import type { Services } from './api/context';
import type { Collections } from './db/mongo';
import { createEndpointService } from './endpoints';
import { createHistoryService } from './history';
import { createMessageService } from './messages';
import { createTenantService } from './tenants';
import type { SecretBox } from './secret-box';
import type { UrlPolicy } from './webhooks/url-guard';
import type { Readiness } from './observability/readiness';

export function createServices(args: {
  db: Collections;
  temporal: Client;
  taskQueue: string;
  maxPayloadBytes: number;
  orderingKeyIdleMs?: number;
  secretBox: SecretBox;
  urlPolicy: UrlPolicy;
  rotationOverlapMs: number;
}): Services {
  const endpoints = createEndpointService(args);
  return {
    endpoints,
    history: createHistoryService(args.db, endpoints),
    tenants: createTenantService(args.db),
    messages: createMessageService({ ...args, endpoints }),
  };
}

export interface RunningApi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serves the GraphQL API over HTTP; port 0 picks a free port (tests). */
export async function startApiServer(args: {
  services: Services;
  log: Logger;
  host: string;
  port: number;
  adminToken?: string;
  maxRequestBytes: number;
  graphiqlApiKey?: string;
  /** Serves /metrics, /healthz and /readyz on the API's port too. */
  readiness?: Readiness;
}): Promise<RunningApi> {
  const yoga = createApi(args);
  const server = createHttpServer(yoga, args.log, args.maxRequestBytes, args.readiness ? { readiness: args.readiness } : undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(args.port, args.host, resolve);
  });
  const address = server.address() as { port: number };
  const host = args.host.includes(':') ? `[${args.host}]` : args.host;
  return {
    url: `http://${host}:${address.port}/graphql`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
