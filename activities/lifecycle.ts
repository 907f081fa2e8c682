/** Where an endpoint's lifecycle is told, recorded, and where its redelivery is handed work. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Collections } from '../src/db/mongo';
import { lifecycleEvents, publishLiveEvents } from '../src/live';
import type { Store } from '../src/store';
import { recordLifecycleEvent } from '../src/observability/metrics';
import { recordedLifecycleState, startRedelivery } from '../src/starts';
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
    /**
     * Tells the endpoint's lifecycle workflow. One that is not running (lost, or terminated by hand) is
     * started with the signal (signal-with-start) from the state MongoDB recorded, not from a fresh
     * ACTIVE one: a disabled endpoint stays disabled, a failing one keeps its failing deliveries, and
     * new events are numbered after the recorded ones.
     */
    async signalEndpointLifecycle(args: { tenantId: string; endpointId: string; input: LifecycleInput }): Promise<void> {
      const workflowId = endpointWorkflowId(args.endpointId);
      try {
        await temporal.workflow.getHandle(workflowId).signal(lifecycleSignal, args.input);
        return;
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
      const endpoint = await store.endpoints.get(args.endpointId);
      const recovering = args.input.type === 'deliveryRecovered' ? args.input.messageId : undefined;
      const state = endpoint && !endpoint.deletedAt ? await recordedLifecycleState(store, endpoint, recovering) : undefined;
      await temporal.workflow.signalWithStart('endpointLifecycle', {
        workflowId,
        taskQueue,
        args: [{ endpointId: args.endpointId, tenantId: args.tenantId, ...(state ? { state } : {}) }],
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
