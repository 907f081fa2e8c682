import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { Resolvers } from './generated/resolvers';
import { toConnection } from '../paging';
import { encodeLiveCursor, type LiveItem } from '../live/hub';
import type { LiveDeliveryEvent, LiveEndpointEvent, LiveEvent } from '../live/types';
import type { Subscriber } from '../live/service';
import { UserError } from '../errors';
import type { ApiContext } from './context';
import { forbidden } from './graphql-errors';

/** The caller's tenant: every tenant operation is scoped to it. The admin token has none. */
function tenant(context: ApiContext): { tenantId: string; services: ApiContext['services'] } {
  if (context.tenantId === null) {
    throw forbidden('the admin token manages tenants and API keys; use a tenant API key for this operation');
  }
  return { tenantId: context.tenantId, services: context.services };
}

/** A subscriber: a tenant key (the admin token has no tenant) on an API that serves live events. */
function subscriber(context: ApiContext): { subscriber: Subscriber; live: NonNullable<ApiContext['services']['live']> } {
  const { tenantId, services } = tenant(context);
  if (!services.live || !context.apiKey) throw new UserError('UNAVAILABLE', 'this API process does not serve subscriptions');
  return { subscriber: { tenantId, apiKey: context.apiKey }, live: services.live };
}

/** The event of a live item; the coded error that closes a subscription becomes its last result. */
function eventOf<E extends LiveEvent>(item: LiveItem<E>): E {
  if ('error' in item) throw item.error;
  return item.event;
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
      const page = await services.messages.list(tenantId, filter ?? {}, first, after);
      return toConnection(page, (message) => ({ at: message.createdAt, id: message._id }), after);
    },
    attempts: async (_, { endpointId, filter, first, after }, context) => {
      const { tenantId, services } = tenant(context);
      const page = await services.history.attempts(tenantId, endpointId, filter, first, after);
      return toConnection(page, (attempt) => ({ at: attempt.startedAt, id: attempt._id }), after);
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
    sendMessages: (_, { inputs }, context) => {
      const { tenantId, services } = tenant(context);
      return services.messages.sendMany(tenantId, inputs);
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

  Subscription: {
    deliveryEvents: {
      subscribe: (_, args, context) => {
        const { subscriber: who, live } = subscriber(context);
        return live.deliveryEvents(who, args);
      },
      resolve: (item: LiveItem<LiveDeliveryEvent>) => eventOf(item),
    },
    endpointEvents: {
      subscribe: (_, args, context) => {
        const { subscriber: who, live } = subscriber(context);
        return live.endpointEvents(who, args);
      },
      resolve: (item: LiveItem<LiveEndpointEvent>) => eventOf(item),
    },
  },

  DeliveryEvent: {
    cursor: (event) => encodeLiveCursor(event),
    message: (event, _, { services }) => services.live!.message(event),
    endpoint: (event, _, { services }) => services.live!.endpoint(event),
  },

  EndpointEvent: {
    id: (event) => event._id,
    // A stored event was streamed under its own id, published at or after `at`: resuming from `at`
    // re-reads a little more than needed, never less.
    cursor: (event) => encodeLiveCursor('publishedAt' in event ? event : { _id: event._id, publishedAt: event.at }),
  },

  Tenant: {
    id: (t) => t._id,
    apiKeys: (t, _, { services }) => services.tenants.listApiKeys(t._id),
  },

  ApiKey: {
    id: (key) => key.keyId,
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
