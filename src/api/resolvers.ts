import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { Resolvers } from './generated/resolvers';
import { toConnection } from '../paging';
import type { ApiContext } from './context';
import { forbidden } from './graphql-errors';


/** The caller's tenant: every tenant operation is scoped to it. The admin token has none. */
function tenant(context: ApiContext): { tenantId: string; services: ApiContext['services'] } {
  if (context.tenantId === null) {
    throw forbidden('the admin token manages tenants and API keys; use a tenant API key for this operation');
  }
  return { tenantId: context.tenantId, services: context.services };
}

/** Tenant and key management, and operations-wide data, take the admin token. */
function admin(context: ApiContext): ApiContext['services'] {
  if (!context.isAdmin) throw forbidden('this operation needs the admin token (HOOKFLOW_ADMIN_TOKEN)');
  return context.services;
}

export const resolvers: Resolvers = {
  DateTime: DateTimeResolver,
  JSON: JSONResolver,

  Query: {
    endpoint: (_, { id }, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.get(tenantId, id);
    },
    endpoints: (_, __, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.list(tenantId);
    },
    message: (_, { id }, context) => {
      const { tenantId, services } = tenant(context);
      return services.messages.get(tenantId, id);
    },
    messages: async (_, { filter, first, after }, context) => {
      const { tenantId, services } = tenant(context);
      return toConnection(await services.messages.list(tenantId, filter ?? {}, first, after));
    },
    attempts: async (_, { endpointId, filter, first, after }, context) => {
      const { tenantId, services } = tenant(context);
      return toConnection(await services.history.attempts(tenantId, endpointId, filter, first, after));
    },
    maintenanceRuns: (_, { first }, context) => admin(context).history.maintenanceRuns(first),
    tenants: (_, __, context) => admin(context).tenants.listTenants(),
  },

  Mutation: {
    createEndpoint: (_, { input }, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.create(tenantId, input);
    },
    sendMessage: (_, { input }, context) => {
      const { tenantId, services } = tenant(context);
      return services.messages.send(tenantId, input);
    },
    updateEndpoint: (_, { id, input }, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.update(tenantId, id, input);
    },
    disableEndpoint: (_, { id }, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.disable(tenantId, id);
    },
    reactivateEndpoint: (_, { id }, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.reactivate(tenantId, id);
    },
    deleteEndpoint: (_, { id }, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.delete(tenantId, id);
    },
    resendMessage: (_, { messageId, endpointId }, context) => {
      const { tenantId, services } = tenant(context);
      return services.messages.resend(tenantId, messageId, endpointId);
    },
    recoverEndpoint: (_, { id, since, until }, context) => {
      const { tenantId, services } = tenant(context);
      return services.messages.recover(tenantId, id, since, until);
    },
    rotateEndpointSecret: (_, { id }, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.rotateSecret(tenantId, id);
    },
    createTenant: (_, { name }, context) => admin(context).tenants.createTenant(name),
    createApiKey: (_, { tenantId }, context) => admin(context).tenants.createApiKey(tenantId),
    revokeApiKey: (_, { id }, context) => admin(context).tenants.revokeApiKey(id),
  },

  Tenant: {
    id: (t) => t._id,
    apiKeys: (t, _, { services }) => services.tenants.listApiKeys(t._id),
  },

  ApiKey: {
    id: (key) => key.keyId,
  },

  EndpointEvent: {
    id: (event) => event._id,
  },

  MaintenanceRun: {
    id: (run) => run._id,
  },

  Endpoint: {
    id: (endpoint) => endpoint._id,
    events: (endpoint, { first, after }, { services }) => services.endpoints.events(endpoint._id, first, after),
    stats: (endpoint, _, { services }) => services.history.stats(endpoint._id),
  },

  MessageConnection: {
    totalCount: (connection) => connection.count(),
  },
  AttemptConnection: {
    totalCount: async (connection) => (await connection.count())!,
  },

  Message: {
    id: (message) => message._id,
    orderingKey: (message) => message.orderingKey ?? null,
    deliveries: (message, _, { services }) => services.messages.deliveries(message),
  },

  Delivery: {
    outsideSequence: (delivery) => delivery.outsideSequence ?? false,
    endpoint: (delivery, _, context) => {
      const { tenantId, services } = tenant(context);
      return services.endpoints.getForHistory(tenantId, delivery.endpointId);
    },
    attempts: (delivery, _, { services }) => services.messages.attempts(delivery),
  },
};
