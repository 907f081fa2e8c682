/**
 * One storage module per collection: every document shape is written in one place, and callers
 * (activities, services, maintenance) never write raw update documents.
 */
import type { Collections } from '../db/mongo';
import { createAttemptStore } from './attempts';
import { createDeliveryStore } from './deliveries';
import { createEndpointEventStore } from './endpoint-events';
import { createEndpointStore } from './endpoints';
import { createMaintenanceRunStore } from './maintenance-runs';
import { createMessageStore } from './messages';

export function createStore(db: Collections, now: () => Date = () => new Date()) {
  return {
    deliveries: createDeliveryStore(db.deliveries, now),
    attempts: createAttemptStore(db.attempts),
    endpoints: createEndpointStore(db.endpoints, now),
    endpointEvents: createEndpointEventStore(db.endpointEvents, db.notifications, now),
    messages: createMessageStore(db.messages),
    maintenanceRuns: createMaintenanceRunStore(db.maintenanceRuns),
  };
}

export type Store = ReturnType<typeof createStore>;
