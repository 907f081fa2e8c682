/** Every workflow the worker runs. Each lives in its own file; this is the bundle's entry point. */
export { deliverMessage } from './deliver-message';
export { endpointLifecycle } from './endpoint';
export { notifyEndpointEvent } from './notify';
export { redeliverEndpoint } from './redeliver';
export { maintenance } from './maintenance';
export { orderMessages } from './sequence';
