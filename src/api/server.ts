import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createSchema, createYoga, maskError as maskErrorDefault } from 'graphql-yoga';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { projectRoot } from '../config';
import { UserError } from '../errors';
import type { ApiContext, Services } from './context';
import { resolvers } from './resolvers';

export const typeDefs = readFileSync(path.join(projectRoot, 'schema.graphql'), 'utf8');

export interface ApiOptions {
  services: Services;
  log: Logger;
  /** Pre-filled in GraphiQL's headers; only for the embedded development stack. */
  graphiqlApiKey?: string;
}

const unauthenticated = (message: string) =>
  new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });

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

export function createApi({ services, log, graphiqlApiKey }: ApiOptions) {
  return createYoga<{}, ApiContext>({
    schema: createSchema<ApiContext>({ typeDefs, resolvers }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: graphiqlApiKey
      ? { title: 'Hookflow', headers: JSON.stringify({ Authorization: `Bearer ${graphiqlApiKey}` }) }
      : { title: 'Hookflow' },
    maskedErrors: { maskError },
    logging: {
      debug: (...args) => log.debug(args),
      info: (...args) => log.info(args),
      warn: (...args) => log.warn(args),
      error: (...args) => log.error(args),
    },
    context: async ({ request }): Promise<ApiContext> => {
      const header = request.headers.get('authorization') ?? '';
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw unauthenticated('missing API key: send the header "Authorization: Bearer <api key>"');
      const tenantId = await services.tenants.authenticate(match[1]!);
      if (!tenantId) throw unauthenticated('invalid or revoked API key');
      return { tenantId, services, log };
    },
  });
}
