import type { Logger } from 'pino';
import type { EndpointService } from '../endpoints';
import type { HistoryService } from '../history';
import type { MessageService } from '../messages';
import type { TenantService } from '../tenants';

export interface Services {
  endpoints: EndpointService;
  messages: MessageService;
  tenants: TenantService;
  history: HistoryService;
}

export interface ApiContext {
  /** The caller's tenant; null for the admin token. */
  tenantId: string | null;
  isAdmin: boolean;
  services: Services;
  log: Logger;
}
