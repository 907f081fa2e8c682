import type { Logger } from 'pino';
import type { EndpointService } from '../endpoints';
import type { HistoryService } from '../history';
import type { LiveService } from '../live/service';
import type { MessageService } from '../messages';
import type { TenantService } from '../tenants';

export interface Services {
  endpoints: EndpointService;
  messages: MessageService;
  tenants: TenantService;
  history: HistoryService;
  /** Live events; absent where no API serves subscriptions. */
  live?: LiveService;
}

export interface ApiContext {
  /** The caller's tenant; null for the admin token. */
  tenantId: string | null;
  isAdmin: boolean;
  /** The caller's API key, checked again while its subscriptions stay open; null for the admin token. */
  apiKey: string | null;
  services: Services;
  log: Logger;
}
