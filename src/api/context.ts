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
  tenantId: string;
  services: Services;
  log: Logger;
}
