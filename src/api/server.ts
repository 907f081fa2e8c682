import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationRule } from 'graphql';
import { createSchema, createYoga, maskError as maskErrorDefault } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { Logger } from 'pino';
import { projectRoot } from '../config';
import { UserError } from '../errors';
import type { ApiContext, Services } from './context';
import { resolvers } from './resolvers';
import { unauthenticated } from './graphql-errors';
import { queryCostRule } from './query-cost';

export const typeDefs = readFileSync(path.join(projectRoot, 'schema.graphql'), 'utf8');

export interface ApiOptions {
  services: Services;
  log: Logger;
  /** HOOKFLOW_ADMIN_TOKEN: unlocks tenant and key management; unset, those operations are refused. */
  adminToken?: string;
  /** Pre-filled in GraphiQL's headers; only for the embedded development stack. */
  graphiqlApiKey?: string;
}

/** The domain's UserError becomes a GraphQL error whose `extensions.code` clients can switch on; the rest is masked. */
function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (original instanceof UserError) {
    return new GraphQLError(original.message, {
      nodes: error instanceof GraphQLError ? error.nodes : undefined,
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: { code: original.code, ...(original.field ? { field: original.field } : {}) },
    });
  }
  return maskErrorDefault(error, message, isDev);
}

/** Compares digests, which always have the same length: any token, of any length or alphabet, is just unequal. */
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
export const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

export function createApi({ services, log, adminToken, graphiqlApiKey }: ApiOptions) {
  return createYoga<{ req?: IncomingMessage & { log?: Logger } }, ApiContext>({
    schema: createSchema<ApiContext>({ typeDefs, resolvers }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL's scripts from the installed package, not from a CDN: it works offline.
    renderGraphiQL,
    graphiql: graphiqlApiKey ? { title: 'Hookflow', headers: JSON.stringify({ Authorization: `Bearer ${graphiqlApiKey}` }) } : { title: 'Hookflow' },
    maskedErrors: { maskError },
    // At most 5 operations in one batched request.
    batching: { limit: 5 },
    plugins: [
      // What a request loads, with `first` and list sizes counted; see query-cost.ts.
      {
        onValidate: ({ addValidationRule, context }: { addValidationRule: (rule: ValidationRule) => void; context: unknown }) => {
          const variables = (context as { params?: { variables?: Record<string, unknown> } }).params?.variables ?? {};
          addValidationRule(queryCostRule(variables));
        },
      },
      // Depth, cost, aliases, directives and tokens are bounded, so one request cannot cost the server much.
      EnvelopArmorPlugin({
        maxDepth: { n: 8 },
        // Cost is counted by queryCostRule, which weighs `first` and list sizes.
        costLimit: { enabled: false },
        maxAliases: { n: 10 },
        maxDirectives: { n: 10 },
        maxTokens: { n: 2000 },
        blockFieldSuggestion: { enabled: true },
      }),
    ],
    logging: {
      debug: (...args) => log.debug(args),
      info: (...args) => log.info(args),
      warn: (...args) => log.warn(args),
      error: (...args) => log.error(args),
    },
    context: async ({ request, req }): Promise<ApiContext> => {
      const header = request.headers.get('authorization') ?? '';
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw unauthenticated('missing API key: send the header "Authorization: Bearer <api key>"');
      const token = match[1]!;
      // pino-http's logger for this request carries its request id.
      const contextLog = req?.log ?? log;
      if (adminToken && sameSecret(token, adminToken)) return { tenantId: null, isAdmin: true, apiKey: null, services, log: contextLog.child({ admin: true }) };
      const tenantId = await services.tenants.authenticate(token);
      if (!tenantId) throw unauthenticated('invalid or revoked API key');
      return { tenantId, isAdmin: false, apiKey: token, services, log: contextLog.child({ tenantId }) };
    },
  });
}
