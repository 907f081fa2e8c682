import type { Server } from 'node:http';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { createApi } from './server';

/**
 * graphql-ws over WebSocket on the GraphQL path, executed by the same Yoga (its plugins, context and
 * error masking), as Yoga documents. The key goes in `connectionParams.authorization`, as
 * "Bearer <key>" or the key alone; the connection is refused at once without a valid one.
 */
export function serveGraphqlWs(server: Server, yoga: ReturnType<typeof createApi>, path: string): { close(): Promise<void> } {
  const wsServer = new WebSocketServer({ server, path });
  const requestOf = (authorization: unknown) => ({
    headers: new Headers(
      typeof authorization === 'string' ? { authorization: /^Bearer\s/i.test(authorization) ? authorization : `Bearer ${authorization}` } : {},
    ),
  });
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as { execute: (a: unknown) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: unknown) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        const { contextFactory } = yoga.getEnveloped({ request: requestOf(ctx.connectionParams?.authorization), req: ctx.extra.request });
        // A bad key closes the socket with 4403 Forbidden before any operation.
        try {
          await contextFactory();
          return true;
        } catch {
          return false;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          request: requestOf(ctx.connectionParams?.authorization),
          req: ctx.extra.request,
          params,
        });
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wsServer,
  );
  return {
    async close() {
      await disposable.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}
