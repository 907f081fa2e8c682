/** Where an endpoint's lifecycle is told, recorded, and where its redelivery is handed work. */
import type { Client } from '@temporalio/client';
import type { Collections } from '../src/db/mongo';
import { lifecycleEvents, publishLiveEvents } from '../src/live';
import type { Store } from '../src/store';
import { recordLifecycleEvent } from '../src/observability/metrics';
import { startRedelivery } from '../src/starts';
import type { EndpointStatus } from '../workflows/delivery-types';
import { endpointWorkflowId, lifecycleSignal } from '../workflows/definitions';
import type { LifecycleInput, RaisedEvent } from '../workflows/endpoint-lifecycle';

export interface LifecycleActivityDeps {
  db: Collections;
  store: Store;
  temporal: Client;
  taskQueue: string;
}

export function createLifecycleActivities({ db, store, temporal, taskQueue }: LifecycleActivityDeps) {
  return {
    /** Tells the endpoint's lifecycle workflow, starting it if it is not running (signal-with-start). */
    async signalEndpointLifecycle(args: { tenantId: string; endpointId: string; input: LifecycleInput }): Promise<void> {
      await temporal.workflow.signalWithStart('endpointLifecycle', {
        workflowId: endpointWorkflowId(args.endpointId),
        taskQueue,
        args: [{ endpointId: args.endpointId, tenantId: args.tenantId }],
        signal: lifecycleSignal,
        signalArgs: [args.input],
      });
    },

    /** Records the endpoint's status and the events it raised; both writes are idempotent. */
    async saveLifecycle(args: {
      endpointId: string;
      tenantId: string;
      status: EndpointStatus;
      failingSince: number | null;
      disabledAt: number | null;
      events: RaisedEvent[];
    }): Promise<void> {
      for (const event of args.events) {
        await store.endpointEvents.recordRaised(args.endpointId, args.tenantId, event);
        recordLifecycleEvent(event.kind);
      }
      await store.endpoints.setLifecycleStatus(args.endpointId, args);
      await publishLiveEvents(db, lifecycleEvents(args));
    },

    /** Wakes the endpoint's one redelivery workflow (starting it if needed) to deliver what is parked. */
    async wakeRedelivery(args: { tenantId: string; endpointId: string }): Promise<void> {
      await startRedelivery(temporal, taskQueue, args.tenantId, args.endpointId, []);
    },
  };
}
