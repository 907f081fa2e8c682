/** What the delivery core needs to publish live events: one import, one call per recorded change. */
export { publishLiveEvents } from './publish';
export { attemptEvent, deliveryStatusEvent, endpointDeletedEvents, lifecycleEvents, messageDeliveryStatusEvent } from './events';
