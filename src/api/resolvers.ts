import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { Resolvers } from './generated/resolvers';

export const resolvers: Resolvers = {
  DateTime: DateTimeResolver,
  JSON: JSONResolver,

  Query: {
    endpoint: (_, { id }, { tenantId, services }) => services.endpoints.get(tenantId, id),
    endpoints: (_, __, { tenantId, services }) => services.endpoints.list(tenantId),
    message: (_, { id }, { tenantId, services }) => services.messages.get(tenantId, id),
  },

  Mutation: {
    createEndpoint: (_, { input }, { tenantId, services }) => services.endpoints.create(tenantId, input),
    sendMessage: (_, { input }, { tenantId, services }) => services.messages.send(tenantId, input),
    updateEndpoint: (_, { id, input }, { tenantId, services }) => services.endpoints.update(tenantId, id, input),
    disableEndpoint: (_, { id }, { tenantId, services }) => services.endpoints.disable(tenantId, id),
    reactivateEndpoint: (_, { id }, { tenantId, services }) => services.endpoints.reactivate(tenantId, id),
    deleteEndpoint: (_, { id }, { tenantId, services }) => services.endpoints.delete(tenantId, id),
  },

  Endpoint: {
    id: (endpoint) => endpoint._id,
    events: (endpoint, _, { services }) => services.endpoints.events(endpoint._id),
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
