import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createSchema, createYoga, type Plugin } from 'graphql-yoga';
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

/** Turns the domain's UserError into a GraphQL error whose `extensions.code` clients can switch on. */
const userErrors: Plugin = {
  onExecutionResult({ result, setResult }) {
    if (!result || !('errors' in result) || !result.errors) return;
    setResult({
      ...result,
      errors: result.errors.map((error) => {
        const original = error.originalError;
        if (!(original instanceof UserError)) return error;
        return new GraphQLError(original.message, {
          nodes: error.nodes,
          path: error.path,
          extensions: { code: original.code, ...(original.field ? { field: original.field } : {}) },
        });
      }),
    });
  },
};

export function createApi({ services, log, graphiqlApiKey }: ApiOptions) {
  return createYoga<{}, ApiContext>({
    schema: createSchema<ApiContext>({ typeDefs, resolvers }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: graphiqlApiKey
      ? { title: 'Hookflow', headers: JSON.stringify({ Authorization: `Bearer ${graphiqlApiKey}` }) }
      : { title: 'Hookflow' },
    plugins: [userErrors],
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
