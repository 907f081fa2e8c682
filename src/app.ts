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
import { serveGraphqlWs } from './api/websocket';
import { startLiveService, type LiveConfig, type LiveService } from './live/service';

export function createServices(args: {
  db: Collections;
  temporal: Client;
  taskQueue: string;
  maxPayloadBytes: number;
  orderingKeyIdleMs?: number;
  eagerStart?: boolean;
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
  live: LiveService;
  close(): Promise<void>;
}

/**
 * Serves the GraphQL API over HTTP (subscriptions over SSE) and graphql-ws on the same path; port 0
 * picks a free port (tests). With `live`, it tails the live events of `db` for its subscriptions.
 */
export async function startApiServer(args: {
  services: Services;
  db: Collections;
  live: LiveConfig;
  log: Logger;
  host: string;
  port: number;
  adminToken?: string;
  maxRequestBytes: number;
  graphiqlApiKey?: string;
  /** Serves /metrics, /healthz and /readyz on the API's port too. */
  readiness?: Readiness;
}): Promise<RunningApi> {
  const live = await startLiveService({ ...args.services, db: args.db, log: args.log, config: args.live });
  const services: Services = { ...args.services, live };
  const yoga = createApi({ ...args, services });
  const server = createHttpServer(yoga, args.log, args.maxRequestBytes, args.readiness ? { readiness: args.readiness } : undefined);
  const ws = serveGraphqlWs(server, yoga, '/graphql');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(args.port, args.host, resolve);
    });
  } catch (error) {
    await ws.close();
    await live.stop();
    throw error;
  }
  const address = server.address() as { port: number };
  const host = args.host.includes(':') ? `[${args.host}]` : args.host;
  return {
    url: `http://${host}:${address.port}/graphql`,
    server,
    live,
    async close() {
      await live.stop();
      await ws.close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
