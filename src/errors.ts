/** Error codes a client can act on; they are the `extensions.code` of GraphQL errors. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'NOT_FOUND'
  | 'INVALID_URL'
  | 'INVALID_EVENT_TYPE'
  | 'INVALID_PAYLOAD'
  | 'PAYLOAD_TOO_LARGE'
  | 'INVALID_RETRY_POLICY'
  | 'INVALID_CONTACT'
  | 'INVALID_INPUT'
  | 'ENDPOINT_NOT_DISABLED'
  | 'ENDPOINT_ALREADY_DISABLED'
  | 'INVALID_CURSOR'
  | 'URL_NOT_ALLOWED'
  | 'FORBIDDEN'
  | 'INVALID_ORDERING_KEY'
  | 'DELIVERY_WAITING'
  | 'CURSOR_EXPIRED'
  | 'SLOW_CONSUMER'
  | 'TOO_MANY_SUBSCRIPTIONS'
  | 'UNAVAILABLE'
  | 'BATCH_TOO_LARGE';

/** An error caused by the caller's input, with a message that tells a person what to change. */
export class UserError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export const notFound = (kind: string, id: string) => new UserError('NOT_FOUND', `${kind} ${JSON.stringify(id)} not found`);
