/**
 * The worker's activities, by feature: delivery.ts attempts and records a delivery; lifecycle.ts
 * tells and records an endpoint's lifecycle and wakes its redelivery; notification.ts notifies
 * contacts; ordering.ts gives keyed messages their turn; maintenance.ts deletes what expired and repairs drift. Built once per worker over the
 * clients it owns; workflows type them from this factory.
 */
import type { Client } from '@temporalio/client';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Collections } from '../src/db/mongo';
import type { Notifier } from '../src/notify/channels';
import type { SecretBox } from '../src/secret-box';
import { createStore } from '../src/store';
import type { UrlPolicy } from '../src/webhooks/url-guard';
import { createDeliveryActivities } from './delivery';
import { createLifecycleActivities } from './lifecycle';
import { createMaintenanceActivities } from './maintenance';
import { createNotificationActivities } from './notification';
import { createOrderingActivities } from './ordering';

export interface ActivityDeps {
  db: Collections;
  secretBox: SecretBox;
  urlPolicy: UrlPolicy;
  /** Requests this worker keeps in flight to one endpoint at most, so a slow receiver holds few slots. */
  maxInFlightPerEndpoint: number;
  http: { agent: Agent; timeoutMs: number; bodyLimit: number };
  notifier: Notifier;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  now?: () => Date;
}

export function createActivities(deps: ActivityDeps) {
  const { db, temporal, taskQueue, log, notifier, now = () => new Date() } = deps;
  const store = createStore(db, now);
  return {
    ...createDeliveryActivities({ ...deps, store, now }),
    ...createLifecycleActivities({ db, store, temporal, taskQueue }),
    ...createNotificationActivities({ store, notifier }),
    ...createOrderingActivities({ store, temporal, taskQueue }),
    ...createMaintenanceActivities({ store, temporal, taskQueue, log }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
