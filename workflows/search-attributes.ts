import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes that make a delivery findable in the Temporal Web UI, e.g.
 * `HookflowEndpointIds = "ep_…" AND HookflowStatus = "RETRYING"`. The dev server registers them at
 * start and the worker adds any that a production namespace lacks.
 */
export const TENANT_ID = defineSearchAttributeKey('HookflowTenantId', SearchAttributeType.KEYWORD);
export const EVENT_TYPE = defineSearchAttributeKey('HookflowEventType', SearchAttributeType.KEYWORD);
export const ENDPOINT_IDS = defineSearchAttributeKey('HookflowEndpointIds', SearchAttributeType.KEYWORD_LIST);
/** DELIVERING, RETRYING, then SUCCEEDED, PARKED (an endpoint was disabled) or CANCELLED. */
export const DELIVERY_STATUS = defineSearchAttributeKey('HookflowStatus', SearchAttributeType.KEYWORD);

/** A message's ordering key, on its delivery and on its key's sequence workflow: `HookflowOrderingKey = "order-42"`. */
export const ORDERING_KEY = defineSearchAttributeKey('HookflowOrderingKey', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [TENANT_ID, EVENT_TYPE, ENDPOINT_IDS, DELIVERY_STATUS, ORDERING_KEY];
