import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { Resolvers } from './generated/resolvers';
import type { Page } from '../paging';

const connection = <T, C extends number | null>(page: Page<T> & { totalCount: C }) => ({
  nodes: page.nodes,
  pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage },
  totalCount: page.totalCount,
});

export const resolvers: Resolvers = {
  DateTime: DateTimeResolver,
  JSON: JSONResolver,

  Query: {
    endpoint: (_, { id }, { tenantId, services }) => services.endpoints.get(tenantId, id),
    endpoints: (_, __, { tenantId, services }) => services.endpoints.list(tenantId),
    message: (_, { id }, { tenantId, services }) => services.messages.get(tenantId, id),
    messages: async (_, { filter, first, after }, { tenantId, services }) => connection(await services.messages.list(tenantId, filter ?? {}, first, after)),
    attempts: async (_, { endpointId, filter, first, after }, { tenantId, services }) =>
      connection(await services.history.attempts(tenantId, endpointId, filter, first, after)),
    maintenanceRuns: (_, { first }, { services }) => services.history.maintenanceRuns(first),
  },

  Mutation: {
    createEndpoint: (_, { input }, { tenantId, services }) => services.endpoints.create(tenantId, input),
    sendMessage: (_, { input }, { tenantId, services }) => services.messages.send(tenantId, input),
    updateEndpoint: (_, { id, input }, { tenantId, services }) => services.endpoints.update(tenantId, id, input),
    disableEndpoint: (_, { id }, { tenantId, services }) => services.endpoints.disable(tenantId, id),
    reactivateEndpoint: (_, { id }, { tenantId, services }) => services.endpoints.reactivate(tenantId, id),
    deleteEndpoint: (_, { id }, { tenantId, services }) => services.endpoints.delete(tenantId, id),
    resendMessage: (_, { messageId, endpointId }, { tenantId, services }) => services.messages.resend(tenantId, messageId, endpointId),
    recoverEndpoint: (_, { id, since, until }, { tenantId, services }) => services.messages.recover(tenantId, id, since, until),
  },

  MaintenanceRun: {
    id: (run) => run._id,
  },

  Endpoint: {
    id: (endpoint) => endpoint._id,
    events: (endpoint, _, { services }) => services.endpoints.events(endpoint._id),
    stats: (endpoint, _, { services }) => services.history.stats(endpoint._id),
  },

  Message: {
    id: (message) => message._id,
    deliveries: (message, _, { services }) => services.messages.deliveries(message),
  },

  Delivery: {
    endpoint: (delivery, _, { tenantId, services }) => services.endpoints.getForHistory(tenantId, delivery.endpointId),
    attempts: (delivery, _, { services }) => services.messages.attempts(delivery),
  },
};
